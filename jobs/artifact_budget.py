"""A per-run budget for artifacts: storage costs money, and a run should not log without bound.

Before a run logs a file that can be large (``predict``'s scored output), ``admit`` checks that
the run's artifacts plus the file stay within ``TABULAR_ARTIFACT_BUDGET_MB`` (default
``DEFAULT_MB``); a file that does not fit is refused with one line naming the budget and the
run's biggest artifacts. The model is counted and reported (``model_size_mb``), never refused:
a run exists to produce it.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlflow.tracking import MlflowClient

from common.errors import UserInputError

ENV = "TABULAR_ARTIFACT_BUDGET_MB"
DEFAULT_MB = 100.0
SHOWN = 3  # biggest artifacts named in a refusal
MB = 1024 * 1024


def limit_mb() -> float:
    """The budget in MB from the environment, or the default."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return DEFAULT_MB
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UserInputError(f"{ENV}={text!r}: expected a positive number of MB")
    return value


def run_artifacts(run_id: str, path: str | None = None) -> dict[str, int]:
    """Every artifact file of the run (its model lives apart, as a logged model) and its size."""
    client = MlflowClient()
    sizes: dict[str, int] = {}
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            sizes |= run_artifacts(run_id, item.path)
        else:
            sizes[item.path] = item.file_size or 0
    return sizes


def _bytes_of(local: Path) -> int:
    if local.is_dir():
        return sum(f.stat().st_size for f in local.rglob("*") if f.is_file())
    return local.stat().st_size


def admit(run_id: str, local: Path, artifact_path: str) -> None:
    """Refuse to log ``local`` (a file or folder) when it would take the run past the budget."""
    limit = limit_mb()
    present = run_artifacts(run_id)
    adding = _bytes_of(local)
    total = sum(present.values()) + adding
    if total <= limit * MB:
        return
    biggest = sorted({**present, f"{artifact_path} (new)": adding}.items(), key=lambda kv: -kv[1])
    named = ", ".join(f"{name} {size / MB:.1f} MB" for name, size in biggest[:SHOWN])
    raise UserInputError(
        f"artifact budget: logging {artifact_path} would bring this run's artifacts to "
        f"{total / MB:.1f} MB, over the {limit:g} MB budget (biggest: {named}); the file itself "
        f"is at {local}; raise the budget with {ENV}=<MB>"
    )


def model_size_mb(model_info) -> float:
    """The logged model's size in MB, as its MLmodel file records it (counted and reported,
    never refused)."""
    from mlflow.models import Model

    return (Model.load(model_info.model_uri).model_size_bytes or 0) / MB

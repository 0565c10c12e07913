"""Run one entry point on Databricks job compute, as the bundle's tasks do (databricks.yml).

    python databricks/run_entry_point.py main --trainer xgboost --max-evals 20
    python databricks/run_entry_point.py predict --input /Volumes/c/s/v/rows.parquet --engine spark

A ``spark_python_task`` runs a file, not a module: this puts the project folder on ``sys.path``
and calls the entry point's ``main(argv)``, the same code ``mlflow run`` runs. Tracking goes to
the workspace and experiments follow ``/Users/<you>/projects/tabular-training/<stage>``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def entry_points() -> list[str]:
    """The entry points MLproject declares."""
    import yaml

    spec = yaml.safe_load((PROJECT / "MLproject").read_text())
    return sorted(spec["entry_points"])


def main(argv: list[str]) -> int:
    known = entry_points()
    if not argv or argv[0] not in known:
        print(f"error: first argument must be an entry point: {', '.join(known)}", file=sys.stderr)
        return 2
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    return importlib.import_module(f"entrypoints.{argv[0]}").main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

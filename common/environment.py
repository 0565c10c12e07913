"""The project's pinned environment: where it lies and the exact versions in its lock."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = PROJECT_ROOT / "requirements.lock"
# What every logged model needs to load and predict, whatever its framework.
MODEL_BASE_PACKAGES = ("mlflow", "numpy", "pandas", "scikit-learn", "skops")
# The one list of the code a logged model ships (its code_paths): what loading and predicting
# import. Nothing in it may import argparse or signal handling (tests/test_layout.py).
MODEL_PACKAGES = ("common", "trainers")
# What Spark's Python workers import for a job besides: a tuning trial is jobs.tuning.Objective.
JOB_PACKAGES = (*MODEL_PACKAGES, "jobs")


def normalize_name(name: str) -> str:
    """PEP 503 normalized distribution name (``Scikit_Learn`` -> ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock_file: Path = LOCK_FILE) -> dict[str, str]:
    """Map normalized package name -> exact version for every ``name==version`` line."""
    pins = {}
    for line in lock_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match is None:
            raise ValueError(f"{lock_file}: not an exact pin: {line!r}")
        pins[normalize_name(match.group(1))] = match.group(2)
    return pins


def model_requirements(*extra_packages: str, lock_file: Path = LOCK_FILE) -> list[str]:
    """Exact pins for a logged model, plus the lock as a pip constraints file.

    Passing these to ``log_model`` skips MLflow's requirement inference, which is slow and lists
    packages the model does not use; the constraints keep transitive versions as trained.
    """
    pins = locked_versions(lock_file)
    names = [*MODEL_BASE_PACKAGES, *extra_packages]
    missing = [n for n in names if normalize_name(n) not in pins]
    if missing:
        raise ValueError(f"{lock_file} has no pin for {', '.join(missing)}")
    return [f"{n}=={pins[normalize_name(n)]}" for n in names] + [f"-c {lock_file}"]


def write_code_archive(path: Path, packages: Sequence[str] = MODEL_PACKAGES) -> Path:
    """Zip ``packages`` (every Python file, sub-packages included, no caches) at ``path``, the
    form Spark's ``addPyFile`` puts on its Python workers' path."""
    with zipfile.ZipFile(path, "w") as archive:
        for package in packages:
            for file in sorted((PROJECT_ROOT / package).rglob("*.py")):
                archive.write(file, file.relative_to(PROJECT_ROOT).as_posix())
    return path

"""The project's pinned environment: where it lies and the exact versions in its lock."""

from __future__ import annotations

import importlib.metadata
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = PROJECT_ROOT / "requirements.lock"
# What a Databricks job installs over its ML runtime (databricks.yml's libraries): the lock
# without RUNTIME_FRAMEWORKS, which the runtime brings built for its own hardware (torch is a
# multi-GB CUDA build from PyPI). Pyspark is never in the lock: the runtime's Spark is the job's.
JOB_LOCK_FILE = PROJECT_ROOT / "databricks" / "requirements-job.lock"
RUNTIME_FRAMEWORKS = ("torch",)
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
    A framework of ``RUNTIME_FRAMEWORKS`` is pinned at the version this process runs (on a
    Databricks runtime, the runtime's torch), and where that is not the lock's, the constraints
    are the lock without the frameworks, so that the model's environment can be built.
    """
    pins = locked_versions(lock_file)
    names = [*MODEL_BASE_PACKAGES, *extra_packages]
    missing = [n for n in names if normalize_name(n) not in pins]
    if missing:
        raise ValueError(f"{lock_file} has no pin for {', '.join(missing)}")
    constraints = lock_file
    for name in names:
        if normalize_name(name) in RUNTIME_FRAMEWORKS:
            running = installed_version(name)
            if running is not None and running != pins[normalize_name(name)]:
                pins[normalize_name(name)], constraints = running, JOB_LOCK_FILE
    return [f"{n}=={pins[normalize_name(n)]}" for n in names] + [f"-c {constraints}"]


def installed_version(name: str) -> str | None:
    """The public version of an installed distribution (``2.13.0`` for ``2.13.0+cpu``)."""
    try:
        return importlib.metadata.version(name).split("+", 1)[0]
    except importlib.metadata.PackageNotFoundError:
        return None


def job_lock_lines(lock_file: Path = LOCK_FILE) -> list[str]:
    """The pins of ``JOB_LOCK_FILE``: the lock's, less ``RUNTIME_FRAMEWORKS``."""
    return [
        line
        for line in lock_file.read_text().splitlines()
        if line
        and not line.startswith("#")
        and normalize_name(line.split("==", 1)[0]) not in RUNTIME_FRAMEWORKS
    ]


def write_code_archive(path: Path, packages: Sequence[str] = MODEL_PACKAGES) -> Path:
    """Zip ``packages`` (every Python file, sub-packages included, no caches) at ``path``, the
    form Spark's ``addPyFile`` puts on its Python workers' path."""
    with zipfile.ZipFile(path, "w") as archive:
        for package in packages:
            for file in sorted((PROJECT_ROOT / package).rglob("*.py")):
                archive.write(file, file.relative_to(PROJECT_ROOT).as_posix())
    return path

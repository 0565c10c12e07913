"""Fixtures shared by all tests: a private sqlite tracking store per test, data files, paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.projects import run as mlflow_run
from mlflow.tracking import MlflowClient

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHURN_CSV = PROJECT_ROOT / "data" / "churn_sample.csv"


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test gets its own absolute ``sqlite:///`` store; nothing leaks between tests.

    Tests also run in their temporary folder: experiments that MLflow creates itself (Default,
    or by the launcher) put artifacts in ``./mlruns`` of the working directory, never the repo.
    """
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # log noise only
    # `mlflow run --env-manager local` runs `python` from PATH: make it this interpreter.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture
def churn_csv() -> Path:
    """A committed 400-row table with string columns, missing values and a yes/no target."""
    return CHURN_CSV


@pytest.fixture
def raw_rows() -> pd.DataFrame:
    """Raw rows as a client would send them: a NaN, a None and unseen categories included."""
    return pd.DataFrame(
        {
            "customer_plan": ["basic", "platinum", None],
            "region": ["north", float("nan"), "mars"],
            "tenure_months": [3.0, float("nan"), 40.0],
            "monthly_charges": [80.0, float("nan"), 20.0],
            "support_tickets": [5, 0, 1],
        }
    )


GIT_IDENTITY = ["-c", "user.name=tests", "-c", "user.email=tests@127.0.0.1"]


def git(*args: str, cwd: Path) -> str:
    """Run git in ``cwd`` with a fixed identity; returns stdout."""
    done = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def snapshot_project(dest: Path, *, repo_root: Path | None = None) -> str:
    """Copy the working tree (tracked and untracked, minus ignored files) to ``dest`` and commit
    it in a fresh git repo at ``repo_root`` (default ``dest``); returns the commit's full sha.

    Tests that need a clean tree at a known commit (step reuse, reproduce, git-URL runs) use it,
    so they test the code as it is now, not the last commit of the checkout.
    """
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=PROJECT_ROOT)
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    root = repo_root or dest
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "snapshot for tests", cwd=root)
    return git("rev-parse", "HEAD", cwd=root)


@pytest.fixture(scope="session")
def project_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(path, full sha) of a clean one-commit git copy of this project."""
    path = tmp_path_factory.mktemp("project") / "tabular-training"
    path.mkdir()
    return path, snapshot_project(path)


def all_runs(filter_string: str = ""):
    """Every run of the test's store matching ``filter_string``, oldest first."""
    experiments = [e.experiment_id for e in MlflowClient().search_experiments()]
    return MlflowClient().search_runs(
        experiments, filter_string=filter_string, order_by=["attributes.start_time ASC"]
    )


def launch(project: Path, entry_point: str, **params: str) -> str:
    """`mlflow run` an entry point of ``project`` (env manager local) into the train stage's
    experiment; returns the run id."""
    submitted = mlflow_run(
        str(project), entry_point=entry_point, parameters=params, env_manager="local",
        experiment_name="tabular-training/train",
    )  # fmt: skip
    return submitted.run_id

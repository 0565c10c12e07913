"""Fixtures shared by all tests: a private sqlite tracking store per test, data files, paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import trainers
from tests.helpers.project import CHURN_CSV, snapshot_project
from tests.helpers.runs import all_runs, train_main


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
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_registry_uri(None)  # the registry follows this test's store
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    # register's --registry-uri sets it for the process, environment included: later tests
    # would register into this test's store.
    mlflow.set_registry_uri(None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


@pytest.fixture
def launch_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Launch from a scratch directory so MLflow's default ./mlruns never lands in the repo."""
    path = tmp_path / "launch"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def churn_csv() -> Path:
    """A committed 400-row table with string columns, missing values and a yes/no target."""
    return CHURN_CSV


@pytest.fixture
def churn_champion(churn_csv) -> str:
    """A small forest on the churn table, registered as ``churn@champion``; its run id."""
    argv = ["--data", str(churn_csv), "--target", "churn", "--autolog", "false"]
    assert train_main(trainers.get("sklearn"), *argv) == 0
    (run,) = all_runs()
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "churn")
    MlflowClient().set_registered_model_alias("churn", "champion", version.version)
    return run.info.run_id


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


@pytest.fixture(scope="session")
def project_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(path, full sha) of a clean one-commit git copy of this project."""
    path = tmp_path_factory.mktemp("project") / "tabular-training"
    path.mkdir()
    return path, snapshot_project(path)


@pytest.fixture(params=sorted(trainers.TRAINERS))
def trainer(request) -> trainers.Trainer:
    """Each registered trainer in turn."""
    return trainers.TRAINERS[request.param]

"""register through `mlflow run`: a trained run becomes the champion version."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

import trainers
from tests.helpers.processes import mlflow_cli
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import launch

pytestmark = pytest.mark.slow


def test_trained_run_is_registered_and_promoted_through_mlflow_run(launch_dir):
    trained = launch(PROJECT_ROOT, "train_sklearn", **trainers.get("sklearn").quick_params)
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "register", "--env-manager", "local",
        "--experiment-name", "tabular-training/register",
        "-P", f"run_id={trained}", "-P", "model_name=churn", "-P", "promote=true",
        cwd=launch_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    champion = MlflowClient().get_model_version_by_alias("churn", "champion")
    assert champion.tags["source_run_id"] == trained
    assert champion.tags["validation_status"] == "passed"

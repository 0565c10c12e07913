"""`mlflow run . -e reproduce` reruns a train_xgboost run at its commit with zero difference."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from common.metrics import is_measurement
from tests.helpers.processes import mlflow_cli
from tests.helpers.runs import launch, runs_in

pytestmark = pytest.mark.slow


def test_reproduce_reports_zero_difference_for_a_train_xgboost_run(project_repo, launch_dir):
    repo, sha = project_repo
    original = launch(repo, "train_xgboost", n_estimators="200")
    done = mlflow_cli(
        "run", str(repo), "-e", "reproduce", "--env-manager", "local",
        "--experiment-name", "tabular-training/reproduce", "-P", f"run_id={original}",
        cwd=launch_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient()
    (run,) = runs_in("tabular-training/reproduce", "tags.`mlflow.project.entryPoint` = 'reproduce'")
    assert run.info.status == "FINISHED"
    assert run.data.tags["reproduced"] == "true"
    assert run.data.metrics["max_abs_difference"] == 0.0
    rerun = client.get_run(run.data.tags["rerun_run_id"])
    assert rerun.data.tags["reproduces"] == original
    assert rerun.data.tags["mlflow.parentRunId"] == run.info.run_id
    assert rerun.data.tags["mlflow.source.git.commit"] == sha
    report = pd.read_csv(
        mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/reproduction.csv")
    )
    judged = report[report["judged"]]
    original_metrics = client.get_run(original).data.metrics
    # Every metric but timings (permutation_importance_seconds) and system figures is judged.
    assert set(judged["metric"]) == {m for m in original_metrics if not is_measurement(m)}
    assert "permutation_importance_seconds" in original_metrics
    assert {"test_rmse", "test_r2", "best_iteration"} <= set(judged["metric"])
    assert (judged["difference"] == 0.0).all()
    # The rerun's model exists and is the same model: same predictions on the same rows.
    rows = pd.DataFrame(mlflow.models.Model.load(f"runs:/{original}/model").load_input_example())
    before = mlflow.pyfunc.load_model(f"runs:/{original}/model").predict(rows)
    after = mlflow.pyfunc.load_model(f"runs:/{rerun.info.run_id}/model").predict(rows)
    pd.testing.assert_frame_equal(before, after)

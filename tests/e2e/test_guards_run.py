"""The seed's pitfalls as guards: no run in MLflow's Default experiment, each with a way out."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.processes import mlflow_cli, one_error_line
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import all_runs

pytestmark = pytest.mark.slow


def test_a_run_in_the_default_experiment_stops_before_any_work_naming_the_command(tmp_path):
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "train_sklearn", "--env-manager", "local",
        "-P", "n_estimators=5", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    error = one_error_line(done.stderr)
    assert "landed in MLflow's 'Default' experiment" in error
    assert "mlflow run . --experiment-name tabular-training/train" in error
    (run,) = all_runs()
    assert run.info.experiment_id == "0"
    assert run.info.status == "FAILED"
    assert "Default" in run.data.tags["failure_reason"]
    assert "test_accuracy" not in run.data.metrics  # nothing was trained
    assert MlflowClient().list_artifacts(run.info.run_id) == []


def test_the_way_out_lets_it_run_in_default(tmp_path):
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "train_sklearn", "--env-manager", "local",
        "-P", "n_estimators=5", cwd=tmp_path, env={"TABULAR_ALLOW_DEFAULT_EXPERIMENT": "true"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = all_runs()
    assert run.info.experiment_id == "0"
    assert run.info.status == "FINISHED"


def test_a_file_over_the_artifact_budget_is_not_logged_and_the_user_keeps_it(
    churn_champion, churn_csv, tmp_path
):
    output = tmp_path / "scored.csv"
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "predict", "--env-manager", "local",
        "--experiment-name", "tabular-training/predict", "-P", "model_uri=models:/churn@champion",
        "-P", f"input={churn_csv}", "-P", f"output={output}", cwd=tmp_path,
        env={"TABULAR_ARTIFACT_BUDGET_MB": "0.01"},  # 10 KB; the scored table is bigger
    )  # fmt: skip
    assert done.returncode != 0
    error = one_error_line(done.stderr)
    assert "over the 0.01 MB budget (biggest: predictions/scored.csv (new)" in error
    assert "TABULAR_ARTIFACT_BUDGET_MB=<MB>" in error
    assert len(output.read_text().splitlines()) == 401  # the scored rows are there
    run = next(r for r in all_runs() if r.data.tags.get("entry_point") == "predict")
    assert run.info.status == "FAILED"
    assert "artifact budget" in run.data.tags["failure_reason"]
    assert MlflowClient().list_artifacts(run.info.run_id) == []


def test_the_model_is_counted_and_reported_not_refused(churn_champion):
    run = MlflowClient().get_run(churn_champion)
    assert 0 < run.data.metrics["model_size_mb"] < 10

from __future__ import annotations

import json
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from common import data, metrics, tracking
from jobs import context


def test_tracked_run_finishes_with_standard_tags_and_params():
    with context.tracked_run(entry_point="demo", stage="train", params={"a": 1, "b": None}) as run:
        pass
    finished = MlflowClient().get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.params == {"a": "1", "b": "None"}
    assert finished.data.tags["entry_point"] == "demo"
    assert finished.data.tags["git_dirty"] in ("true", "false", "unknown")
    experiment = mlflow.get_experiment(finished.info.experiment_id)
    assert experiment.name == "tabular-training/train"


def test_tracked_run_ends_failed_with_the_reason_on_error():
    with (
        pytest.raises(ValueError, match="boom"),
        context.tracked_run(entry_point="demo", stage="train", params={}) as run,
    ):
        raise ValueError("boom")
    failed = MlflowClient().get_run(run.info.run_id)
    assert failed.info.status == "FAILED"
    assert failed.data.tags["failure_reason"] == "ValueError: boom"
    assert mlflow.active_run() is None


def test_params_already_logged_by_the_launcher_are_not_relogged(monkeypatch):
    # As `mlflow run` does: create the run, log params as typed text, hand over MLFLOW_RUN_ID.
    experiment_id = tracking.ensure_experiment("launcher")
    run = MlflowClient().create_run(experiment_id)
    MlflowClient().log_param(run.info.run_id, "alpha", ".5")
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    with context.tracked_run(entry_point="demo", stage="train", params={"alpha": 0.5, "n": 3}):
        pass
    params = MlflowClient().get_run(run.info.run_id).data.params
    assert params == {"alpha": ".5", "n": "3"}


def test_unreachable_launcher_run_with_relative_uri_names_the_problem(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123456789abcdef0123456789abcdef")
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    with (
        pytest.raises(context.UserInputError, match="is relative") as error,
        context.tracked_run(entry_point="demo", stage="train", params={}),
    ):
        pass
    assert "sqlite:///mlflow.db" in str(error.value)


def test_default_experiment_under_the_launcher_is_refused_naming_the_way_out(monkeypatch):
    run = MlflowClient().create_run("0")
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    with (
        pytest.raises(context.UserInputError, match="--experiment-name tabular-training/train"),
        context.tracked_run(entry_point="demo", stage="train", params={}),
    ):
        pass
    monkeypatch.setenv(context.ALLOW_DEFAULT, "true")
    with context.tracked_run(entry_point="demo", stage="train", params={}):
        pass
    assert MlflowClient().get_run(run.info.run_id).info.status == "FINISHED"


def test_runs_are_named_by_model_type_and_version_unless_named_by_the_user():
    names = []
    for run_name in ("", "", "my-own-name"):
        with context.tracked_run(
            entry_point="train_demo", stage="train", params={}, run_name=run_name
        ):
            names.append(context.name_run("forest"))
    assert names == ["forest_v1", "forest_v2", "my-own-name"]
    tags = mlflow.search_runs(search_all_experiments=True)["tags.model_type"].tolist()
    assert tags == ["forest"] * 3


@pytest.mark.parametrize(
    ("entry_point", "dataset", "expected"),
    [
        ("train_sklearn", "churn_sample", "forest_churn_sample_v"),
        ("train_sklearn", "Churn Data (2024)", "forest_churn_data_2024_v"),
        ("tune", "churn_sample", "tune_forest_churn_sample_v"),
    ],
)
def test_runs_are_counted_per_model_type_and_dataset(entry_point, dataset, expected):
    names = []
    for data_name in (dataset, "other", dataset):
        with context.tracked_run(entry_point=entry_point, stage="train", params={}):
            mlflow.set_tag("dataset", data_name)
            names.append(context.name_run("forest"))
    assert names[0] == f"{expected}1"
    assert names[2] == f"{expected}2"
    assert names[1].endswith("_other_v1")


def test_log_dataset_records_lineage_and_data_tags(churn_csv):
    table = data.load(str(churn_csv), target="churn")
    with context.tracked_run(entry_point="d", stage="train", params={}) as run:
        context.log_dataset(table)
    logged = MlflowClient().get_run(run.info.run_id)
    assert logged.data.tags["data_version"] == table.digest
    assert logged.data.tags["feature_set"] == table.feature_set
    assert logged.data.tags["dataset"] == "churn_sample"  # what runs and models are named after
    (dataset_input,) = logged.inputs.dataset_inputs
    assert dataset_input.dataset.name == "churn_sample"
    assert churn_csv.name in dataset_input.dataset.source
    assert dataset_input.dataset.digest == table.digest  # every row's content, as data_digest


def test_the_datasets_schema_from_a_sample_is_the_whole_tables(tmp_path):
    """Inferred from the first rows, plus a row for a column missing in all of them: the same
    schema as MLflow's inference over every row."""
    rows = 12_000
    frame = pd.DataFrame(
        {
            "late": [None] * 11_000 + ["x"] * 1_000,  # missing in the first 10,000 rows
            "amount": np.arange(rows) / 7,
            "count": np.arange(rows),
            "label": np.arange(rows) % 2,
        }
    )
    path = tmp_path / "late.csv"
    frame.to_csv(path, index=False)
    table = data.load(str(path), target="label")
    assert len(context.schema_rows(table.raw)) == 10_001
    with context.tracked_run(entry_point="d", stage="train", params={}) as run:
        context.log_dataset(table)
    (logged,) = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    whole = mlflow.data.from_pandas(table.raw, targets="label").schema
    assert json.loads(logged.dataset.schema) == {"mlflow_colspec": whole.to_dict()}
    assert "string" in logged.dataset.schema
    assert json.loads(logged.dataset.profile)["num_rows"] == rows


def test_sklearn_autologging_logs_the_fitted_estimators_params_and_no_root_artifacts():
    from sklearn.linear_model import LinearRegression

    run_context = context.tracked_run(entry_point="d", stage="train", params={})
    with run_context as run, context.autologging("sklearn", True) as log_fitted:
        log_fitted(LinearRegression(fit_intercept=False).fit([[0.0], [1.0]], [0.0, 1.0]))
    client = MlflowClient()
    params = client.get_run(run.info.run_id).data.params
    assert params["model__fit_intercept"] == "False"
    assert client.list_artifacts(run.info.run_id) == []


def test_sklearn_autologging_off_logs_no_params():
    from sklearn.linear_model import LinearRegression

    run_context = context.tracked_run(entry_point="d", stage="train", params={})
    with run_context as run, context.autologging("sklearn", False) as log_fitted:
        log_fitted(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]))
    assert MlflowClient().get_run(run.info.run_id).data.params == {}


def test_xgboost_autologging_is_switched_off_after_the_block():
    import xgboost as xgb

    X, y = [[0.0], [1.0], [2.0], [3.0]], [0.0, 1.0, 2.0, 3.0]
    with context.tracked_run(entry_point="d", stage="train", params={}) as run:
        with context.autologging("xgboost", True):
            xgb.XGBRegressor(n_estimators=2, max_depth=2).fit(X, y)
        xgb.XGBRegressor(n_estimators=2, max_depth=3).fit(X, y)
    client = MlflowClient()
    assert client.get_run(run.info.run_id).data.params["max_depth"] == "2"
    assert client.list_artifacts(run.info.run_id) == []  # no feature_importance_weight.*


def _run_for(stage: str, seconds: float) -> dict[str, float]:
    with context.tracked_run(entry_point="demo", stage=stage, params={}) as run:
        mlflow.log_metric("test_rmse", 1.5)
        time.sleep(seconds)  # longer than the sampling interval the test sets
    return MlflowClient().get_run(run.info.run_id).data.metrics


def test_training_and_tuning_runs_log_system_metrics_beside_their_own(monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    monkeypatch.delenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", raising=False)
    for stage in ("train", "tune"):
        logged = _run_for(stage, 1.0)
        system = {k for k in logged if k.startswith("system/")}
        assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= (
            system
        )
        assert 0 <= logged["system/cpu_utilization_percentage"] <= 100
        # The run's own figures are untouched and system figures are never judged.
        assert {k: v for k, v in logged.items() if not metrics.is_measurement(k)} == {
            "test_rmse": 1.5
        }
    assert not [k for k in _run_for("predict", 1.0) if k.startswith("system/")]


def test_mlflows_own_switch_turns_system_metrics_off_and_on(monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    assert not [k for k in _run_for("train", 1.0) if k.startswith("system/")]
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    assert [k for k in _run_for("register", 1.0) if k.startswith("system/")]

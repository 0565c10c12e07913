from __future__ import annotations

import subprocess
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from common import data, tracking


def test_experiment_names_follow_the_convention():
    assert tracking.experiment_name("train", tracking_uri="sqlite:////x/mlflow.db") == (
        "tabular-training/train"
    )
    assert tracking.experiment_name("tune", tracking_uri="databricks", user="ana@corp.com") == (
        "/Users/ana@corp.com/projects/tabular-training/tune"
    )


@pytest.mark.parametrize(
    ("uri", "relative"),
    [
        ("sqlite:///mlflow.db", True),
        ("sqlite:////abs/mlflow.db", False),
        ("mlruns", True),
        ("file:///abs/mlruns", False),
        ("http://127.0.0.1:5000", False),
        ("databricks", False),
    ],
)
def test_relative_local_uris_are_recognised(uri, relative):
    assert tracking.is_relative_local_uri(uri) is relative


def test_new_experiments_keep_artifacts_beside_the_database(tmp_path):
    experiment_id = tracking.ensure_experiment("tabular-training/train")
    location = mlflow.get_experiment(experiment_id).artifact_location
    assert location == (tmp_path / "mlartifacts" / "tabular-training" / "train").as_uri()
    assert tracking.ensure_experiment("tabular-training/train") == experiment_id


def test_tracked_run_finishes_with_standard_tags_and_params():
    with tracking.tracked_run(entry_point="demo", stage="train", params={"a": 1, "b": None}) as run:
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
        tracking.tracked_run(entry_point="demo", stage="train", params={}) as run,
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
    with tracking.tracked_run(entry_point="demo", stage="train", params={"alpha": 0.5, "n": 3}):
        pass
    params = MlflowClient().get_run(run.info.run_id).data.params
    assert params == {"alpha": ".5", "n": "3"}


def test_unreachable_launcher_run_with_relative_uri_names_the_problem(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123456789abcdef0123456789abcdef")
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    with (
        pytest.raises(tracking.UserInputError, match="is relative") as error,
        tracking.tracked_run(entry_point="demo", stage="train", params={}),
    ):
        pass
    assert "sqlite:///mlflow.db" in str(error.value)


def test_default_experiment_under_the_launcher_is_refused_naming_the_way_out(monkeypatch):
    run = MlflowClient().create_run("0")
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    with (
        pytest.raises(tracking.UserInputError, match="--experiment-name tabular-training/train"),
        tracking.tracked_run(entry_point="demo", stage="train", params={}),
    ):
        pass
    monkeypatch.setenv(tracking.ALLOW_DEFAULT, "true")
    with tracking.tracked_run(entry_point="demo", stage="train", params={}):
        pass
    assert MlflowClient().get_run(run.info.run_id).info.status == "FINISHED"


def test_runs_are_named_by_model_type_and_version_unless_named_by_the_user():
    names = []
    for run_name in ("", "", "my-own-name"):
        with tracking.tracked_run(
            entry_point="train_demo", stage="train", params={}, run_name=run_name
        ):
            names.append(tracking.name_run("forest"))
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
        with tracking.tracked_run(entry_point=entry_point, stage="train", params={}):
            mlflow.set_tag("dataset", data_name)
            names.append(tracking.name_run("forest"))
    assert names[0] == f"{expected}1"
    assert names[2] == f"{expected}2"
    assert names[1].endswith("_other_v1")


def test_log_dataset_records_lineage_and_data_tags(churn_csv):
    table = data.load(str(churn_csv), target="churn")
    with tracking.tracked_run(entry_point="d", stage="train", params={}) as run:
        tracking.log_dataset(table)
    logged = MlflowClient().get_run(run.info.run_id)
    assert logged.data.tags["data_version"] == table.digest
    assert logged.data.tags["feature_set"] == table.feature_set
    assert logged.data.tags["dataset"] == "churn_sample"  # what runs and models are named after
    (dataset_input,) = logged.inputs.dataset_inputs
    assert dataset_input.dataset.name == "churn_sample"
    assert churn_csv.name in dataset_input.dataset.source


def test_git_state_reports_commit_and_dirtiness(tmp_path: Path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    assert tracking.git_state(tmp_path) == (None, "unknown")
    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    commit, dirty = tracking.git_state(tmp_path)
    assert len(commit) == 40
    assert dirty == "false"
    (tmp_path / "a.txt").write_text("2")
    assert tracking.git_state(tmp_path) == (commit, "true")


def test_sklearn_autologging_logs_the_fitted_estimators_params_and_no_root_artifacts():
    from sklearn.linear_model import LinearRegression

    run_context = tracking.tracked_run(entry_point="d", stage="train", params={})
    with run_context as run, tracking.autologging("sklearn", True) as log_fitted:
        log_fitted(LinearRegression(fit_intercept=False).fit([[0.0], [1.0]], [0.0, 1.0]))
    client = MlflowClient()
    params = client.get_run(run.info.run_id).data.params
    assert params["model__fit_intercept"] == "False"
    assert client.list_artifacts(run.info.run_id) == []


def test_sklearn_autologging_off_logs_no_params():
    from sklearn.linear_model import LinearRegression

    run_context = tracking.tracked_run(entry_point="d", stage="train", params={})
    with run_context as run, tracking.autologging("sklearn", False) as log_fitted:
        log_fitted(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]))
    assert MlflowClient().get_run(run.info.run_id).data.params == {}


def test_xgboost_autologging_is_switched_off_after_the_block():
    import xgboost as xgb

    X, y = [[0.0], [1.0], [2.0], [3.0]], [0.0, 1.0, 2.0, 3.0]
    with tracking.tracked_run(entry_point="d", stage="train", params={}) as run:
        with tracking.autologging("xgboost", True):
            xgb.XGBRegressor(n_estimators=2, max_depth=2).fit(X, y)
        xgb.XGBRegressor(n_estimators=2, max_depth=3).fit(X, y)
    client = MlflowClient()
    assert client.get_run(run.info.run_id).data.params["max_depth"] == "2"
    assert client.list_artifacts(run.info.run_id) == []  # no feature_importance_weight.*

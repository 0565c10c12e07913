"""train_sklearn through main([...]) in process, against the test's own sqlite store."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from entrypoints import train_sklearn

FAST = ["--n-estimators", "20"]


def _only_run():
    runs = MlflowClient().search_runs(
        [e.experiment_id for e in MlflowClient().search_experiments()], max_results=10
    )
    assert len(runs) == 1
    return runs[0]


def test_default_run_logs_metrics_tags_dataset_artifacts_and_a_servable_model():
    assert train_sklearn.main(FAST) == 0
    run = _only_run()
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test_accuracy"] > 0.9
    assert run.data.metrics["test_roc_auc"] > 0.95
    assert 0 < run.data.metrics["test_log_loss"] < 0.5
    assert run.data.params["n_estimators"] == "20"
    assert run.data.params["model__n_estimators"] == "20"  # from autologging
    assert "training_accuracy_score" in run.data.metrics  # from autologging
    tags = run.data.tags
    assert tags["model_type"] == "random_forest_classifier"
    assert tags["mlflow.runName"] == "random_forest_classifier_v1"
    assert tags["entry_point"] == "train_sklearn"
    assert len(tags["data_version"]) == 12
    assert tags["feature_set"].startswith("30cols-")
    assert len(tags["mlflow.source.git.commit"]) == 40
    assert run.inputs.dataset_inputs[0].dataset.name == "breast_cancer"
    artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/confusion_matrix.png", "plots/feature_importance.png"}

    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    example = model.input_example
    out = model.predict(example)
    assert list(out.columns) == ["prediction", "probability_0", "probability_1"]
    assert set(out["prediction"]) <= {0, 1}
    assert model.metadata.signature.outputs is not None


def test_csv_with_categories_and_missing_values_serves_raw_rows(churn_csv, raw_rows):
    assert train_sklearn.main([*FAST, "--data", str(churn_csv), "--target", "churn"]) == 0
    run = _only_run()
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    out = model.predict(raw_rows)
    assert out["prediction"].isin(["yes", "no"]).all()
    assert out[["probability_no", "probability_yes"]].sum(axis=1).round(6).eq(1).all()
    training_rows = pd.read_csv(churn_csv).drop(columns="churn").head(20)
    assert len(model.predict(training_rows)) == 20


def test_regression_on_diabetes():
    assert train_sklearn.main([*FAST, "--data", "builtin:diabetes"]) == 0
    run = _only_run()
    assert run.data.tags["model_type"] == "random_forest_regressor"
    assert 0.2 < run.data.metrics["test_r2"] < 1
    assert run.data.metrics["test_rmse"] > run.data.metrics["test_mae"] > 0


def test_same_seed_same_metrics_other_seed_other_metrics():
    for seed in ("3", "3", "4"):
        assert train_sklearn.main([*FAST, "--seed", seed, "--autolog", "false"]) == 0
    runs = mlflow.search_runs(search_all_experiments=True, order_by=["start_time ASC"])
    metric_columns = [c for c in runs.columns if c.startswith("metrics.test_")]
    first, again, other = (runs.loc[i, metric_columns].tolist() for i in range(3))
    assert first == again
    assert first != other


def test_autolog_false_logs_only_the_entry_point_parameters():
    assert train_sklearn.main([*FAST, "--autolog", "false"]) == 0
    run = _only_run()
    assert "model__n_estimators" not in run.data.params
    assert run.data.params["autolog"] == "False"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max_dept", "5"], "unknown parameter(s): --max_dept 5"),
        (["--n-estimators", "0"], "argument --n-estimators: expected an integer >= 1, got '0'"),
        (["--max-features", "abc"], "argument --max-features: expected float, got 'abc'"),
        (["--autolog", "yes"], "expected true or false"),
        (["--test-size", "1.5"], "expected a number in (0.0, 1.0)"),
    ],
)
def test_bad_parameters_fail_before_any_run_with_a_clear_message(argv, message, capsys):
    assert train_sklearn.main(argv) == 2
    assert message in capsys.readouterr().err
    assert mlflow.search_runs(search_all_experiments=True).empty


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "missing.csv", "--target", "y"], "no such file"),
        (["--target", "nope"], "target column 'nope' not found"),
        (["--data", "builtin:iris", "--task", "regression", "--target", "target"], None),
    ],
)
def test_bad_data_fails_the_run_with_the_reason_and_no_model(argv, message, capsys, churn_csv):
    if message is None:  # regression on iris is valid: labels are numbers; proves the contrast
        assert train_sklearn.main([*FAST, *argv]) == 0
        return
    assert train_sklearn.main([*FAST, *argv]) == 2
    assert message in capsys.readouterr().err
    run = _only_run()
    assert run.info.status == "FAILED"
    assert message in run.data.tags["failure_reason"]
    assert not MlflowClient().list_artifacts(run.info.run_id)
    experiment_ids = [e.experiment_id for e in MlflowClient().search_experiments()]
    assert not mlflow.search_logged_models(experiment_ids=experiment_ids, output_format="list")


def test_single_class_csv_is_refused(tmp_path, capsys):
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "a", "a"]}).to_csv(path, index=False)
    assert train_sklearn.main(["--data", str(path), "--target", "y"]) == 2
    assert "single class 'a'" in capsys.readouterr().err
    assert _only_run().info.status == "FAILED"

"""train_xgboost specifics: per-round step metrics, early stopping, JSON model file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from entrypoints import train_xgboost
from tests.helpers.runs import all_runs, only_run


def test_rounds_are_logged_as_step_metrics_and_early_stopping_is_recorded(capsys):
    assert train_xgboost.main(["--n-estimators", "400", "--learning-rate", "0.05"]) == 0
    run = only_run()
    client = MlflowClient()
    train_curve = client.get_metric_history(run.info.run_id, "train_rmse")
    valid_curve = client.get_metric_history(run.info.run_id, "validation_rmse")
    rounds = len(valid_curve)
    assert rounds == len(train_curve)
    assert sorted(m.step for m in valid_curve) == list(range(rounds))
    best = int(run.data.metrics["best_iteration"])
    assert rounds == best + 1 + 30  # stopped early_stopping_rounds after the best round
    assert rounds == run.data.metrics["rounds_run"] < 400
    assert train_curve[-1].value < train_curve[0].value
    out = capsys.readouterr().out
    assert "round 40/400 train_rmse=" in out  # progress every 10% of the planned rounds
    assert f"stopped after {rounds} rounds; best round {best + 1}" in out


def test_autolog_logs_booster_params_and_model_is_xgboost_json():
    assert train_xgboost.main(["--n-estimators", "50", "--data", "builtin:iris"]) == 0
    run = only_run()
    assert run.data.params["max_depth"] == "6"
    assert run.data.params.get("objective") == "multi:softprob"  # from autologging
    root = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert not [
        name for name in root if name.startswith(("feature_importance_weight", "training_"))
    ]
    assert "feature_importance.csv" in root  # ours, with the encoded feature names
    plots = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert {"plots/learning_curve.png", "plots/roc_curve.png"} <= plots
    model_dir = mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model")
    saved = json.loads(Path(model_dir, "artifacts", "estimator.json").read_text())
    assert saved["learner"]["objective"]["name"] == "multi:softprob"


@pytest.mark.parametrize("flag", ["--min-child-weight", "--reg-lambda"])
def test_a_booster_value_beyond_float32_is_one_line_not_xgboosts_traceback(flag, capsys):
    assert train_xgboost.main([flag, "1e300"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"argument {flag}: expected a number in [0.0, 3.40282" in err
    assert err.startswith("error: ")
    assert "\n" not in err


@pytest.mark.parametrize("data", ["builtin:wine", "builtin:diabetes"])
def test_shap_values_per_input_column_come_from_xgboost_itself(data, churn_csv):
    """Multi-class (summed over classes) and regression; on the churn table a category's
    one-hot features add up to its column."""
    assert train_xgboost.main(["--data", data, "--n-estimators", "30"]) == 0
    assert train_xgboost.main(["--data", str(churn_csv), "--target", "churn",
                               "--n-estimators", "30"]) == 0  # fmt: skip
    for run in all_runs():
        text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/shap_importance.csv")
        found = pd.read_csv(io.StringIO(text))
        assert list(found.columns) == ["column", "mean_abs_shap"]
        assert found["mean_abs_shap"].is_monotonic_decreasing
        assert found["mean_abs_shap"].iloc[0] > 0
        plots = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
        assert "plots/shap_importance.png" in plots
    churn = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(
        f"runs:/{all_runs()[-1].info.run_id}/shap_importance.csv")))  # fmt: skip
    assert sorted(churn["column"]) == sorted(pd.read_csv(churn_csv).drop(columns="churn"))

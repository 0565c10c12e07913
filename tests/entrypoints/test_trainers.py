"""What every trainer promises, checked for each through main([...]) in process."""

from __future__ import annotations

import io

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from common.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from tests.helpers.runs import all_runs, logged_models, only_run, train_main


def test_classification_run_logs_the_standard_record_and_a_servable_model(trainer):
    assert train_main(trainer, "--data", "builtin:breast_cancer") == 0
    run = only_run()
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    assert set(CLASSIFICATION_METRICS) <= set(metrics)
    assert metrics["test_accuracy"] > 0.9
    assert metrics["test_roc_auc"] > 0.95
    tags = run.data.tags
    assert tags["entry_point"] == trainer.entry_point
    assert tags["model_type"] == trainer.module.model_type("classification")
    model_type = trainer.module.model_type("classification")
    assert tags["mlflow.runName"] == f"{model_type}_breast_cancer_v1"
    assert tags["task"] == "classification"
    assert tags["target"] == "target"
    assert len(tags["data_version"]) == 12
    assert tags["feature_set"].startswith("30cols-")
    assert len(tags["mlflow.source.git.commit"]) == 40
    assert run.data.params["seed"] == "42"
    assert run.inputs.dataset_inputs[0].dataset.name == "breast_cancer"
    plots = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert "plots/confusion_matrix.png" in plots

    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    signature = model.metadata.signature
    assert signature.inputs is not None
    assert signature.outputs.input_names() == ["prediction", "probability_0", "probability_1"]
    out = model.predict(model.input_example)
    assert out["prediction"].isin([0, 1]).all()


def test_regression_run_logs_regression_metrics(trainer):
    assert train_main(trainer, "--data", "builtin:diabetes") == 0
    run = only_run()
    assert set(REGRESSION_METRICS) <= set(run.data.metrics)
    assert run.data.tags["model_type"] == trainer.module.model_type("regression")
    assert 0.2 < run.data.metrics["test_r2"] < 1
    assert run.data.metrics["test_rmse"] > run.data.metrics["test_mae"] > 0
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.predict(model.input_example)["prediction"].between(0, 400).all()
    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/permutation_importance.csv")
    found = pd.read_csv(io.StringIO(text))
    assert len(found) == 10  # diabetes' columns
    assert found["importance"].iloc[0] > 0  # shuffling it raises the RMSE


def test_user_csv_model_serves_raw_rows_with_missing_values_and_unseen_categories(
    trainer, churn_csv, raw_rows
):
    assert train_main(trainer, "--data", str(churn_csv), "--target", "churn") == 0
    run = only_run()
    # Permutation importance over the raw columns, through the served model, for every family.
    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/permutation_importance.csv")
    found = pd.read_csv(io.StringIO(text))
    assert sorted(found["column"]) == sorted(pd.read_csv(churn_csv).drop(columns="churn"))
    assert list(found.columns) == ["column", "importance", "std"]
    assert found["importance"].is_monotonic_decreasing
    assert found["importance"].iloc[0] > 0  # shuffling the most useful column costs AUC
    plots = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert "plots/permutation_importance.png" in plots
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    out = model.predict(raw_rows)
    assert out["prediction"].isin(["yes", "no"]).all()
    assert (out["probability_no"] + out["probability_yes"]).round(9).eq(1).all()
    training_rows = pd.read_csv(churn_csv).drop(columns="churn").head(20)
    assert len(model.predict(training_rows)) == 20
    # Next month's file: a gap in a whole-number column (read as float64), whole numbers in a
    # float column (read as int64). The preprocessor imputes; the signature takes both.
    assert training_rows["support_tickets"].dtype == "int64"
    next_month = training_rows.astype({"support_tickets": "float64"})
    next_month.loc[0, "support_tickets"] = np.nan
    next_month["monthly_charges"] = next_month["monthly_charges"].round().astype("int64")
    assert model.predict(next_month)["prediction"].isin(["yes", "no"]).all()
    text = training_rows.astype({"tenure_months": object})
    text.loc[3, "tenure_months"] = "twelve"
    with pytest.raises(ValueError, match="column 'tenure_months' holds 'twelve' \\(row 3\\)"):
        model.predict(text)


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(trainer):
    for seed in ("3", "3", "4"):
        assert train_main(trainer, "--seed", seed) == 0
    first, again, other = (
        {k: v for k, v in r.data.metrics.items() if k.startswith("test_")} for r in all_runs()
    )
    assert first == again
    assert first != other


def test_missing_target_column_fails_the_run_with_the_reason_and_no_model(trainer, capsys):
    assert train_main(trainer, "--target", "nope") == 2
    assert "target column 'nope' not found" in capsys.readouterr().err
    run = only_run()
    assert run.info.status == "FAILED"
    assert "target column 'nope' not found" in run.data.tags["failure_reason"]
    assert not logged_models()


def test_misspelt_parameter_fails_before_a_run_naming_the_valid_ones(trainer, capsys):
    assert train_main(trainer, "--sed", "1") == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s): --sed 1" in err
    assert "seed" in err
    assert not all_runs()

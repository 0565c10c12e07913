"""The pipeline job's own parts: the training step's parameters read against MLproject."""

from __future__ import annotations

import pytest

from jobs import pipeline


def test_train_params_are_parsed_against_the_trainers_mlproject_parameters():
    parsed = pipeline.parse_train_params("n_estimators=5 max_depth='3'", "train_sklearn")
    assert parsed == {"n_estimators": "5", "max_depth": "3"}
    assert pipeline.parse_train_params("hidden_sizes=32,16", "train_pytorch") == {
        "hidden_sizes": "32,16"
    }
    with pytest.raises(ValueError, match="'n_trees=5' is not key=value with a parameter of"):
        pipeline.parse_train_params("n_trees=5", "train_sklearn")
    with pytest.raises(ValueError, match="'seed=1' is not key=value"):  # main's own parameter
        pipeline.parse_train_params("seed=1", "train_sklearn")
    with pytest.raises(ValueError, match="'max_depth' is not key=value"):
        pipeline.parse_train_params("max_depth", "train_sklearn")


def test_retrain_if_drift_follows_the_champions_latest_monitoring_verdict(churn_champion):
    from mlflow.tracking import MlflowClient

    from jobs import monitor_tags as monitoring

    assert pipeline.skip_reason("never-registered") is None  # nothing to watch yet: train
    reason = pipeline.skip_reason("churn")
    assert reason == (
        "churn version 1 (champion) has no monitoring run yet; run monitor on a recent batch "
        "first, or retrain=always"
    )
    client = MlflowClient()
    client.set_model_version_tag("churn", "1", monitoring.RUN_TAG, "abc123")
    client.set_model_version_tag("churn", "1", monitoring.VERDICT_TAG, monitoring.OK)
    assert "its latest monitor run abc123 found no drift" in pipeline.skip_reason("churn")
    client.set_model_version_tag("churn", "1", monitoring.VERDICT_TAG, monitoring.RETRAIN)
    assert pipeline.skip_reason("churn") is None
    client.set_model_version_tag("churn", "1", monitoring.VERDICT_TAG, "something else")
    assert pipeline.skip_reason("churn") is not None  # only the verdict retrain trains


def test_the_default_model_name_is_registers():
    assert pipeline.default_model_name("/data/March Rows.csv") == "tabular-march_rows"

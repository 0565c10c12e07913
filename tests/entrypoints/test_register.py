"""register through main([...]) in process: gates, aliases, idempotency, bad input."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

import trainers
from entrypoints import register
from tests.helpers.runs import all_runs, train_main

NAME = "churn-model"


def _train(*argv: str) -> str:
    assert train_main(trainers.get("sklearn"), "--autolog", "false", *argv) == 0
    return all_runs("tags.entry_point = 'train_sklearn'")[-1].info.run_id


def _versions():
    return MlflowClient().search_model_versions(f"name = '{NAME}'")


def test_first_registration_passes_and_promotion_moves_champion():
    run_id = _train()
    assert register.main(["--run-id", run_id, "--model-name", NAME, "--promote", "true"]) == 0
    (version,) = _versions()
    client = MlflowClient()
    assert client.get_model_version_by_alias(NAME, "champion").version == version.version
    assert client.get_model_version_by_alias(NAME, "challenger").version == version.version
    tags = version.tags
    assert tags["source_run_id"] == run_id
    assert tags["validation_status"] == "passed"
    assert float(tags["candidate_test_roc_auc"]) > 0.95
    assert "deployed_by" in tags
    assert "all checks passed" in client.get_model_version(NAME, version.version).description
    # Registering the same run again creates no second version.
    assert register.main(["--run-id", run_id, "--model-name", NAME]) == 0
    assert len(_versions()) == 1


def test_a_worse_model_is_refused_and_champion_stays(capsys):
    good = _train()
    assert register.main(["--run-id", good, "--model-name", NAME, "--promote", "true"]) == 0
    bad = _train("--max-depth", "1", "--n-estimators", "1", "--max-features", "0.05")
    assert register.main(["--run-id", bad, "--model-name", NAME, "--promote", "true"]) == 2
    err = capsys.readouterr().err
    assert "refused by the validation gate: champion: test_roc_auc=" in err
    assert "vs champion's" in err
    assert len(_versions()) == 1
    champion = MlflowClient().get_model_version_by_alias(NAME, "champion")
    assert champion.tags["source_run_id"] == good
    refused = all_runs("tags.entry_point = 'register'")[-1]
    assert refused.info.status == "FAILED"
    assert refused.data.tags["validation_status"] == "failed"


def test_threshold_gate_and_dry_run_records_the_verdict_without_blocking(capsys):
    run_id = _train()
    argv = ["--run-id", run_id, "--model-name", NAME, "--threshold", "0.999999"]
    assert register.main(argv) == 2
    assert "threshold: test_roc_auc=" in capsys.readouterr().err
    assert not _versions()
    assert register.main([*argv, "--mode", "dry_run"]) == 0
    (version,) = _versions()
    assert version.tags["validation_status"] == "failed (dry_run)"
    assert MlflowClient().get_model_version_by_alias(NAME, "challenger").version == version.version


def test_best_run_is_chosen_by_metric():
    weak = _train("--max-depth", "1", "--n-estimators", "1", "--max-features", "0.05")
    strong = _train()
    argv = ["--run-id", "best", "--metric", "test_roc_auc", "--model-name", NAME]
    assert register.main(argv) == 0
    (version,) = _versions()
    assert version.tags["source_run_id"] == strong != weak


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--run-id", "0" * 32], "no such run"),
        (["--run-id", "RUN", "--model-name", "a/b"], "model_name 'a/b'"),
        (
            ["--run-id", "RUN", "--registry-uri", "databricks-uc", "--model-name", "m"],
            "catalog.schema.model",
        ),
        (["--run-id", "RUN", "--metric", "test_rmse"], "metric 'test_rmse' is not on run"),
        (["--run-id", "RUN", "--threshold", "high"], "argument --threshold"),
        (["--run-id", "best"], "run_id=best needs a metric"),
        (["--run-id", "RUN", "--alias", "v2"], "alias 'v2'"),
        (["--run-id", "RUN", "--alias", "latest"], "alias 'latest'"),
        (["--run-id", "RUN", "--alias", "new champion"], "alias 'new champion'"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_registered(argv, message, capsys):
    run_id = _train()
    argv = [run_id if a == "RUN" else a for a in argv]
    assert register.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not MlflowClient().search_registered_models()


def test_a_run_without_a_model_is_refused(capsys):
    with mlflow.start_run() as run:
        mlflow.log_metric("test_roc_auc", 0.99)
    assert register.main(["--run-id", run.info.run_id, "--model-name", NAME]) == 2
    assert f"run {run.info.run_id} has no model named 'model'" in capsys.readouterr().err
    assert not MlflowClient().search_registered_models()


def test_unity_catalog_needs_a_signature_with_outputs(capsys):
    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    inputs_only = ModelSignature(inputs=Schema([ColSpec("double", "x")]))
    with mlflow.start_run() as run:
        mlflow.log_metric("test_roc_auc", 0.99)
        mlflow.pyfunc.log_model(
            name="model", python_model=Echo(), signature=inputs_only,
            input_example=pd.DataFrame({"x": [1.0]}),
        )  # fmt: skip
    argv = ["--run-id", run.info.run_id, "--registry-uri", "databricks-uc"]
    assert register.main([*argv, "--model-name", "main.default.churn"]) == 2
    assert "Unity Catalog needs a signature with inputs and outputs" in capsys.readouterr().err

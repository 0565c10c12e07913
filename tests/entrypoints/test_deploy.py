"""deploy through main([...]) in process against the workspace emulation's Model Serving API:
create, update, a failed rollout that leaves the previous version serving, bad input."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import trainers
from entrypoints import deploy
from tests.helpers.databricks_workspace import Workspace
from tests.helpers.runs import all_runs, train_main

MODEL = "main.ml_dev.tabular_training"
ENDPOINT = "tabular_training-ml_dev"  # the default: the model and its schema


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    with Workspace(tmp_path / "workspace", "token-1", "/usr/bin:/bin") as emulated:
        monkeypatch.setenv("DATABRICKS_HOST", emulated.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", "token-1")
        monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
        yield emulated


def _version(run_id: str) -> str:
    client = MlflowClient()
    if not client.search_registered_models(f"name = '{MODEL}'"):
        client.create_registered_model(MODEL)
    version = client.create_model_version(MODEL, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(MODEL, "champion", version.version)
    return str(version.version)


def _served(workspace: Workspace) -> list[str]:
    config = workspace.endpoints[ENDPOINT]["config"] or {}
    return [e["entity_version"] for e in config.get("served_entities", [])]


def _deploy_runs():
    return all_runs("tags.entry_point = 'deploy'")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    return line


def test_the_champion_is_served_updated_and_a_failed_rollout_keeps_the_previous(workspace, capsys):
    assert train_main(trainers.get("sklearn"), "--autolog", "false") == 0
    (trained,) = all_runs()
    first = _version(trained.info.run_id)

    # No endpoint and no create=true: one line, nothing created, the run FAILED.
    assert deploy.main(["--model-name", MODEL]) == 2
    line = _one_error_line(capsys)
    assert f"endpoint '{ENDPOINT}' does not exist; pass -P create=true" in line
    assert workspace.endpoints == {}
    assert _deploy_runs()[-1].info.status == "FAILED"

    assert deploy.main(["--model-name", MODEL, "--create", "true"]) == 0
    assert _served(workspace) == [first]
    assert workspace.endpoints[ENDPOINT]["state"] == {
        "config_update": "NOT_UPDATING",
        "ready": "READY",
    }
    run = _deploy_runs()[-1]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "deploy_main_ml_dev_tabular_training_v1"
    assert run.data.tags["serving_endpoint"] == ENDPOINT
    assert run.data.tags["served_version"] == first
    client = MlflowClient()
    assert client.get_model_version(MODEL, first).tags["serving_endpoint"] == ENDPOINT
    entity = workspace.endpoints[ENDPOINT]["config"]["served_entities"][0]
    assert (entity["entity_name"], entity["workload_size"], entity["scale_to_zero_enabled"]) == (
        MODEL, "Small", True,
    )  # fmt: skip

    # Already serving the champion: nothing to roll out.
    assert deploy.main(["--model-name", MODEL]) == 0
    assert f"already serves {MODEL} v{first}" in capsys.readouterr().out

    # A new champion rolls out; the endpoint serves it alone.
    second = _version(trained.info.run_id)
    assert deploy.main(["--model-name", MODEL]) == 0
    assert _served(workspace) == [second]
    assert _deploy_runs()[-1].data.tags["previous_served_version"] == first

    # A rollout that fails: the previous version serves on, the run fails in one line.
    third = _version(trained.info.run_id)
    workspace.failing_versions.add(third)
    assert deploy.main(["--model-name", MODEL]) == 1
    line = _one_error_line(capsys)
    assert line == (
        f"error: endpoint '{ENDPOINT}': the rollout of {MODEL} version {third} failed (Container "
        "image build failed: pip could not install the model's requirements); version "
        f"{second} still serves"
    )
    assert _served(workspace) == [second]
    failed = _deploy_runs()[-1]
    assert failed.info.status == "FAILED"
    assert "version 2 still serves" in failed.data.tags["failure_reason"]
    assert "serving_endpoint" not in client.get_model_version(MODEL, third).tags


def test_a_version_without_a_signature_is_not_sent_to_serving(workspace, capsys):
    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(name="model", python_model=Echo())
    _version(run.info.run_id)
    assert deploy.main(["--model-name", MODEL, "--create", "true"]) == 2
    assert f"models:/{MODEL}/1 has no signature" in _one_error_line(capsys)
    assert workspace.endpoints == {}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--alias", "champion"], "has no version with alias 'champion'"),
        (["--endpoint-name", "bad name!"], "endpoint_name 'bad name!': use letters"),
    ],
)
def test_bad_deploy_input_is_one_line(workspace, argv, message, capsys):
    assert deploy.main(["--model-name", MODEL, *argv]) == 2
    assert message in _one_error_line(capsys)
    assert workspace.endpoints == {}

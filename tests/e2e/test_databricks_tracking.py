"""MLFLOW_TRACKING_URI=databricks against the emulated workspace (tests/helpers): experiment
folders are created before experiments, as a fresh workspace needs.

What this proves: the SCIM ``Me`` call names the user, the conventional experiment's parent folder
is created with the workspace API (idempotently) before the experiment, a folder the workspace
refuses is one line naming it, and a trainer's run, params, metrics and model go through the
Databricks REST paths of MLflow's client. What it does not: Databricks' artifact storage (the
emulated server keeps artifacts in a local folder), Unity Catalog, and real permissions.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.helpers.databricks_workspace import Workspace
from tests.helpers.processes import BIN, mlflow_server, one_error_line, run_tree
from tests.helpers.project import PROJECT_ROOT

pytestmark = pytest.mark.slow
TOKEN = "dapi-tracking-test-token"
USER = "ada@example.com"
FOLDER = f"/Users/{USER}/projects/tabular-training"


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[Workspace, str]]:
    """(the emulated workspace in front of a real `mlflow server`, that server's URL)."""
    options = ["--default-artifact-root", str(tmp_path / "artifacts"), "--no-serve-artifacts"]
    with (
        mlflow_server(tmp_path, *options) as url,
        Workspace(
            tmp_path / "workspace", TOKEN, os.environ["PATH"], tracking_server=url, user=USER
        ) as workspace,
    ):
        yield workspace, url


def _env(workspace: Workspace, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "MLFLOW_TRACKING_URI": "databricks",
        "DATABRICKS_HOST": workspace.url, "DATABRICKS_TOKEN": TOKEN,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **extra,
    }  # fmt: skip


def test_the_emulation_refuses_an_experiment_whose_folder_is_missing(
    endpoint, tmp_path, monkeypatch
):
    workspace, _ = endpoint
    for name, value in _env(workspace, tmp_path).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(MlflowException, match=r"Parent directory .* does not exist"):
        MlflowClient("databricks").create_experiment(f"{FOLDER}/train")


def test_a_trainer_creates_its_folder_then_its_experiment_and_runs(endpoint, tmp_path):
    workspace, server = endpoint
    for _attempt in (1, 2):  # the second finds folder and experiment in place
        done = run_tree(
            [sys.executable, "-m", "entrypoints.train_sklearn", "--n-estimators", "5"],
            cwd=PROJECT_ROOT, env=_env(workspace, tmp_path), capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    assert workspace.mkdirs == [FOLDER]  # once: then the experiment existed
    assert ("GET", "/api/2.0/preview/scim/v2/Me") in workspace.requests
    client = MlflowClient(server)
    experiment = client.get_experiment_by_name(f"{FOLDER}/train")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    assert runs[0].data.metrics["test_roc_auc"] > 0.9
    assert runs[0].data.params["n_estimators"] == "5"
    assert workspace.unauthorized == []  # every call carried the token


def test_a_folder_the_workspace_refuses_is_one_line_naming_it(endpoint, tmp_path):
    workspace, server = endpoint
    name = "/Shared/protected/team/train"
    done = run_tree(
        [sys.executable, "-m", "entrypoints.train_sklearn", "--n-estimators", "5"],
        cwd=PROJECT_ROOT, env=_env(workspace, tmp_path, MLFLOW_EXPERIMENT_NAME=name),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    error = one_error_line(done.stderr)
    assert "cannot create the Databricks folder '/Shared/protected/team'" in error
    assert f"for experiment '{name}'" in error
    assert MlflowClient(server).get_experiment_by_name(name) is None


def test_the_submit_script_names_a_refused_folder_before_submitting(
    endpoint, project_repo, tmp_path
):
    workspace, _ = endpoint
    repo, _ = project_repo  # a clean commit: the script refuses a dirty tree
    script = repo / "tools" / "databricks_run.sh"
    env = _env(workspace, tmp_path, PATH=os.pathsep.join([str(BIN), os.environ["PATH"]]))
    done = run_tree(
        ["bash", str(script), "-e", "train_sklearn", "--experiment-name",
         "/Shared/protected/x/train"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: cannot create the Databricks folder '/Shared/protected/x'")
    )
    assert not any(path == "/api/2.0/jobs/runs/submit" for _, path in workspace.requests)

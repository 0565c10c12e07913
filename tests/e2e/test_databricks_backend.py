"""`mlflow run -b databricks` end to end, against an emulated workspace and a real MLflow server.

The workspace (tests/e2e/databricks_workspace.py) answers the DBFS and Jobs calls MLflow's
backend makes and runs the submitted shell command as the cluster would, against the real
`mlflow server` the test started. No Databricks workspace is reachable from here.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import trainers
from tests.helpers.databricks_workspace import Workspace
from tests.helpers.processes import BIN, run_tree
from tests.helpers.project import PROJECT_ROOT, git
from tests.helpers.runs import quick_mlflow_params

pytestmark = pytest.mark.slow

TOKEN = "dapi-emulated-0123456789abcdef-never-log-me"
EXPERIMENT = "/Users/tester@example.com/projects/tabular-training/train"
LEFT_OUT = (".venv", "mlflow.db", "mlruns", "mlartifacts")


def _checkout_with_local_clutter(repo: Path, into: Path) -> Path:
    """A user's clone: ignored venv, local store, runs and artifacts lie in the project."""
    work = into / "checkout"
    git("clone", "-q", str(repo), str(work), cwd=into)
    (work / ".venv" / "bin").mkdir(parents=True)
    (work / ".venv" / "bin" / "python").write_text("#!/bin/sh\n")
    (work / "mlflow.db").write_bytes(b"SQLite format 3\x00")
    (work / "mlruns" / "0").mkdir(parents=True)
    (work / "mlartifacts" / "1").mkdir(parents=True)
    assert git("status", "--porcelain", cwd=work) == ""  # all of it is ignored by git
    return work


def _everything_logged(run_id: str, into: Path) -> list[str]:
    """Params, tags, and the text of every artifact of the run and of its logged models."""
    client = MlflowClient()
    run = client.get_run(run_id)
    texts = [f"{k}={v}" for k, v in {**run.data.params, **run.data.tags}.items()]
    roots = [mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(into / "run"))]
    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    for i, model in enumerate(models):
        roots.append(
            mlflow.artifacts.download_artifacts(
                model.artifact_location, dst_path=str(into / f"m{i}")
            )
        )
        texts += [f"{k}={v}" for k, v in {**model.params, **model.tags}.items()]
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file():
                texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return texts


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """An emulated workspace whose cluster runs this environment's mlflow and python."""
    cluster_path = os.pathsep.join([str(BIN), "/usr/bin", "/bin"])
    with Workspace(tmp_path / "workspace", TOKEN, cluster_path) as emulated:
        yield emulated


def test_databricks_backend_runs_the_project_on_the_emulated_cluster(
    project_repo, mlflow_server, workspace, tmp_path, launch_dir
):
    repo, sha = project_repo
    work = _checkout_with_local_clutter(repo, tmp_path)
    env = {
        **os.environ,
        "DATABRICKS_HOST": workspace.url,
        "DATABRICKS_TOKEN": TOKEN,
        "PATH": os.pathsep.join([str(BIN), os.environ["PATH"]]),
    }
    done = run_tree(
        ["bash", str(work / "tools" / "databricks_run.sh"), "-e", "train_sklearn",
         "--env-manager", "local", "--experiment-name", EXPERIMENT,
         *quick_mlflow_params(trainers.get("sklearn"))],
        cwd=launch_dir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (submitted,) = workspace.submitted
    assert workspace.wait(1, timeout=600) == 0, workspace.job_log(1)[-5000:]

    # The calls MLflow's backend makes, in order, each with the token from the environment.
    experiment_id = MlflowClient().get_experiment_by_name(EXPERIMENT).experiment_id
    calls = [
        (method, path.split("/projects-code/")[0])
        for method, path in workspace.requests
        if path != "/.well-known/databricks-config"
    ]
    assert calls[:4] == [
        ("GET", "/api/2.0/dbfs/get-status"),
        ("POST", f"/dbfs/mlflow-experiments/{experiment_id}"),
        ("POST", "/api/2.0/jobs/runs/submit"),
        ("GET", "/api/2.0/jobs/runs/get"),
    ]
    assert workspace.unauthorized == []

    # What was submitted: the shipped cluster spec, pinned libraries, no credentials.
    spec = json.loads((PROJECT_ROOT / "databricks" / "cluster.json").read_text())
    assert submitted["new_cluster"] == spec["new_cluster"]
    assert {"pypi": {"package": f"mlflow=={mlflow.__version__}"}} in submitted["libraries"]
    assert set(submitted["shell_command_task"]["env_vars"]) == {
        "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID",
    }  # fmt: skip
    assert TOKEN not in json.dumps(submitted)

    # The tarball is the committed project: no local venv, store, runs or artifacts.
    (tarball,) = workspace.uploads.values()
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        names = archive.getnames()
    assert "mlflow-project/MLproject" in names
    assert "mlflow-project/.git/HEAD" in names  # so the cluster's run knows its commit
    top_level = {n.split("/")[1] for n in names if n.count("/") >= 1}
    assert top_level.isdisjoint(LEFT_OUT), top_level & set(LEFT_OUT)
    assert TOKEN.encode() not in tarball

    # The run, on the real tracking server: finished, with metrics, a model, its commit.
    (run,) = MlflowClient().search_runs([experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.source.git.commit"] == sha
    assert run.data.tags["git_dirty"] == "false"
    assert run.data.tags["mlflow.databricks.runURL"].startswith(workspace.url)
    assert run.data.metrics["test_roc_auc"] > 0.95
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    example = mlflow.models.Model.load(f"runs:/{run.info.run_id}/model").load_input_example()
    assert len(model.predict(example)) == len(example)
    logged = _everything_logged(run.info.run_id, tmp_path / "downloaded")
    assert len(logged) > 20
    assert not [text[:200] for text in logged if TOKEN in text]


CANCEL_SCRIPT = """
import json, sys, mlflow
submitted = mlflow.projects.run(
    sys.argv[1], entry_point="train_pytorch", parameters={"epochs": "100000", "patience": "100000"},
    backend="databricks", backend_config=sys.argv[2], env_manager="local",
    experiment_name=sys.argv[3], synchronous=False,
)
submitted.cancel()
print(json.dumps({"run_id": submitted.run_id, "status": submitted.get_status()}))
"""


def test_cancelling_a_submitted_run_cancels_the_cluster_job(project_repo, mlflow_server, workspace):
    """SubmittedRun.cancel() (Python API) reaches jobs/runs/cancel and the job stops."""
    repo, _ = project_repo
    env = {**os.environ, "DATABRICKS_HOST": workspace.url, "DATABRICKS_TOKEN": TOKEN}
    config = str(PROJECT_ROOT / "databricks" / "cluster.json")
    done = run_tree(
        [str(BIN / "python"), "-c", CANCEL_SCRIPT, str(repo), config, EXPERIMENT],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert ("POST", "/api/2.0/jobs/runs/cancel") in workspace.requests
    assert workspace.wait(1, timeout=60) != 0  # stopped, not finished
    assert result["status"] == "FAILED"  # MLflow maps result_state CANCELED to FAILED
    # MLflow leaves the tracked run RUNNING after a cancel (README says so, and how to end it).
    client = MlflowClient()
    assert client.get_run(result["run_id"]).info.status == "RUNNING"
    client.set_terminated(result["run_id"], status="KILLED")
    assert client.get_run(result["run_id"]).info.status == "KILLED"


def test_submission_refuses_uncommitted_changes(project_repo, tmp_path):
    repo, _ = project_repo
    work = tmp_path / "checkout"
    git("clone", "-q", str(repo), str(work), cwd=tmp_path)
    (work / "common" / "new_module.py").write_text("X = 1\n")
    done = run_tree(
        ["bash", str(work / "tools" / "databricks_run.sh"), "-e", "train_sklearn"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "has uncommitted changes; commit them first" in done.stderr

"""`mlflow run git://...` against a real `git daemon` on 127.0.0.1, as users run from a remote."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import trainers
from entrypoints import reproduce
from tests.helpers.processes import free_port, mlflow_cli, predict_in_fresh_process
from tests.helpers.project import git, snapshot_project
from tests.helpers.runs import all_runs, quick_mlflow_params, runs_in

pytestmark = pytest.mark.slow

EXPERIMENT = "tabular-training/train"
SUBDIR = "ml/tabular-training"  # MLflow refuses a '.' in the part after '#'


@pytest.fixture(scope="module")
def daemon(project_repo, tmp_path_factory) -> Iterator[dict[str, tuple[str, str]]]:
    """Serves the project alone and inside a bigger repository; {name: (git URL, full sha)}."""
    served = tmp_path_factory.mktemp("served")
    repo, sha = project_repo
    git("clone", "-q", "--bare", str(repo), str(served / "tabular-training.git"), cwd=served)
    mono = tmp_path_factory.mktemp("mono")
    (mono / "README.md").write_text("A bigger repository; the project is one folder of it.\n")
    (mono / SUBDIR).mkdir(parents=True)
    mono_sha = snapshot_project(mono / SUBDIR, repo_root=mono)
    git("clone", "-q", "--bare", str(mono), str(served / "mono.git"), cwd=served)
    port = free_port()
    process = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}",
         "--listen=127.0.0.1", f"--port={port}", str(served)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, "git daemon exited"
            assert time.monotonic() < deadline, "git daemon did not listen within 30 s"
            time.sleep(0.2)
    base = f"git://127.0.0.1:{port}"
    yield {
        "alone": (f"{base}/tabular-training.git", sha),
        "subdir": (f"{base}/mono.git#{SUBDIR}", mono_sha),
    }
    process.terminate()
    process.wait(timeout=30)


def _clones_dir(tmp_path: Path) -> Path:
    path = tmp_path / "tmp"  # TMPDIR of the launcher: MLflow clones the repository under it
    path.mkdir(exist_ok=True)
    return path


def _assert_nothing_logged_into(clones: Path) -> None:
    leftovers = [
        p for p in clones.rglob("*")
        if p.name in ("MLmodel", "mlruns", "mlartifacts") or p.suffix == ".db"
    ]  # fmt: skip
    assert leftovers == []


@pytest.mark.parametrize("layout", ["alone", "subdir"])
def test_git_url_run_at_a_full_sha_is_tracked_with_its_source(daemon, layout, tmp_path, launch_dir):
    url, sha = daemon[layout]
    clones = _clones_dir(tmp_path)
    done = mlflow_cli(
        "run", url, "-v", sha, "-e", "train_sklearn", "--env-manager", "local",
        "--experiment-name", EXPERIMENT, *quick_mlflow_params(trainers.get("sklearn")),
        cwd=launch_dir, env={"TMPDIR": str(clones)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = runs_in(EXPERIMENT)
    tags = run.data.tags
    assert run.info.status == "FINISHED"
    assert tags["mlflow.source.git.commit"] == sha
    assert tags["mlflow.source.git.repoURL"] == url.partition("#")[0]
    assert tags["git_dirty"] == "false"
    assert tags["project_subdir"] == ("" if layout == "alone" else SUBDIR)
    assert run.data.metrics["test_roc_auc"] > 0.95
    # Artifacts live beside the launcher's store, never in the clone MLflow made under TMPDIR.
    assert not run.info.artifact_uri.startswith(clones.as_uri())
    assert str(clones) not in run.info.artifact_uri
    _assert_nothing_logged_into(clones)
    rows = mlflow.models.Model.load(f"runs:/{run.info.run_id}/model").load_input_example()
    predicted = predict_in_fresh_process(f"runs:/{run.info.run_id}/model", rows, tmp_path)
    assert len(predicted) == len(rows)

    if layout == "subdir":
        # MLflow leaves its clone behind and temp folders do not last: without it, reproduce
        # checks the commit out from the remote the run came from, once the user names it.
        shutil.rmtree(tags["project_repo"])
        remote = tags["mlflow.source.git.repoURL"]
        assert reproduce.main(["--run-id", run.info.run_id, "--repo", remote]) == 0
        reproduced = all_runs("tags.entry_point = 'reproduce'")
        assert reproduced[0].data.tags["reproduced"] == "true"


def test_relative_tracking_uri_under_a_git_url_run_is_refused_by_name(daemon, tmp_path, launch_dir):
    url, sha = daemon["alone"]
    clones = _clones_dir(tmp_path)
    done = mlflow_cli(
        "run", url, "-v", sha, "-e", "train_sklearn", "--env-manager", "local",
        cwd=launch_dir, env={"TMPDIR": str(clones), "MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "The tracking URI 'sqlite:///mlflow.db' is relative" in done.stderr
    assert "a temporary clone for git-URL runs" in done.stderr
    _assert_nothing_logged_into(clones)
    mlflow.set_tracking_uri(f"sqlite:///{launch_dir / 'mlflow.db'}")
    (run,) = MlflowClient().search_runs(["0"])
    assert run.info.status == "FAILED"


def test_short_sha_is_refused_by_mlflow_before_anything_runs(daemon, tmp_path, launch_dir):
    """MLflow fetches shallow, so only full SHAs or branch names work (README says so)."""
    url, sha = daemon["alone"]
    done = mlflow_cli(
        "run", url, "-v", sha[:8], "-e", "train_sklearn", "--env-manager", "local",
        cwd=launch_dir, env={"TMPDIR": str(_clones_dir(tmp_path))},
    )  # fmt: skip
    assert done.returncode != 0
    assert not all_runs()

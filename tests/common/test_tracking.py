from __future__ import annotations

import subprocess
from pathlib import Path

import mlflow
import pytest

from common import tracking


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


def test_a_deployed_bundle_says_which_commit_it_runs(tmp_path: Path, monkeypatch):
    """A bundle deploys files, not .git: the job cluster's TABULAR_GIT_* name the code."""
    deployed = tmp_path / "files"  # not a checkout
    deployed.mkdir()
    assert tracking.code_identity(deployed) == tracking.CodeIdentity(None, "unknown")
    sha = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setenv(tracking.DEPLOYED_COMMIT, sha)
    monkeypatch.setenv(tracking.DEPLOYED_ORIGIN, "https://github.com/acme/tabular.git")
    monkeypatch.setenv(tracking.DEPLOYED_BRANCH, "main")
    monkeypatch.setenv(tracking.DEPLOYED_TARGET, "prod")
    code = tracking.code_identity(deployed)
    assert (code.commit, code.repo, code.branch, code.target) == (
        sha, "https://github.com/acme/tabular.git", "main", "prod",
    )  # fmt: skip
    assert code.dirty == "true"  # unless the deployment is known clean
    monkeypatch.setenv(tracking.DEPLOYED_DIRTY, "false")
    assert tracking.code_identity(deployed).dirty == "false"
    # A checkout is read as itself: the variables name a deployment, not this tree.
    assert tracking.code_identity().commit != sha
    monkeypatch.setenv(tracking.DEPLOYED_COMMIT, "${bundle.git.commit}")
    with pytest.raises(tracking.UserInputError, match=r"not a full commit sha"):
        tracking.code_identity(deployed)


def test_a_deployment_names_its_own_experiment_folder_and_artifact_location(monkeypatch, tmp_path):
    monkeypatch.setenv(tracking.EXPERIMENT_ROOT, "/Shared/tabular-training/prod/")
    name = tracking.experiment_name("pipeline", tracking_uri="databricks", user="ana@corp.com")
    assert name == "/Shared/tabular-training/prod/pipeline"
    monkeypatch.setenv(tracking.EXPERIMENT_ROOT, "tabular-training/prod")
    monkeypatch.setenv(tracking.ARTIFACT_ROOT, (tmp_path / "volume").as_uri())
    experiment_id = tracking.ensure_experiment(tracking.experiment_name("train"))
    experiment = mlflow.get_experiment(experiment_id)
    assert experiment.name == "tabular-training/prod/train"
    assert (
        experiment.artifact_location
        == f"{(tmp_path / 'volume').as_uri()}/tabular-training/prod/train"
    )

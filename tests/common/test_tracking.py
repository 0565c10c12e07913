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

"""reproduce in process: refusals, the comparison, and a rerun that does not match."""

from __future__ import annotations

import shutil

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import trainers
from entrypoints import reproduce
from tests.helpers.runs import QUICK_PARAMS, all_runs, launch

SKLEARN = trainers.get("sklearn")


def _reproduce_run():
    (run,) = all_runs("tags.entry_point = 'reproduce'")
    return run


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({}, "has no git commit"),
        ({"mlflow.source.git.commit": "a" * 40}, "dirty working tree (git_dirty=not recorded)"),
        ({"mlflow.source.git.commit": "a" * 40, "git_dirty": "true"}, "dirty working tree"),
        (
            {"mlflow.source.git.commit": "a" * 40, "git_dirty": "false"},
            "was not started by 'mlflow run'",
        ),
        (
            {
                "mlflow.source.git.commit": "a" * 40,
                "git_dirty": "false",
                "mlflow.project.entryPoint": "main",
                "train_run_id": "b" * 32,
            },
            "is a 'main' run, which acts on the registry or writes files; reproduce reruns "
            "train_sklearn, train_xgboost, train_pytorch, tune runs (its training run: " + "b" * 32,
        ),
    ],
)
def test_runs_whose_code_cannot_be_recovered_are_refused(tags, message, capsys):
    with mlflow.start_run(tags=tags) as original:
        mlflow.log_metric("test_r2", 0.5)
    assert reproduce.main(["--run-id", original.info.run_id]) == 2
    assert message in capsys.readouterr().err
    assert _reproduce_run().info.status == "FAILED"


def test_unknown_run_is_named(capsys):
    assert reproduce.main(["--run-id", "f" * 32]) == 2
    assert f"run_id '{'f' * 32}': no such run" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_made_from_a_dirty_tree_is_refused(project_repo, tmp_path, capsys):
    repo, _ = project_repo
    dirty = tmp_path / "dirty"
    shutil.copytree(repo, dirty)
    with (dirty / "README.md").open("a") as readme:
        readme.write("\nan uncommitted edit\n")
    original = launch(dirty, "train_sklearn", **QUICK_PARAMS[SKLEARN.name])
    assert MlflowClient().get_run(original).data.tags["git_dirty"] == "true"
    assert reproduce.main(["--run-id", original]) == 2
    assert "was made from a dirty working tree (git_dirty=true)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_rerun_that_differs_is_reported_and_fails(project_repo, capsys):
    repo, sha = project_repo
    original = launch(repo, "train_sklearn", **QUICK_PARAMS[SKLEARN.name], target="")
    MlflowClient().log_metric(original, "test_accuracy", 0.123)  # as if the result had changed
    assert reproduce.main(["--run-id", original, "--repo", str(repo)]) == 2
    assert "did not reproduce (tolerance 0.0): test_accuracy" in capsys.readouterr().err
    run = _reproduce_run()
    assert run.info.status == "FAILED"
    assert run.data.tags["reproduced"] == "false"
    rerun = MlflowClient().get_run(run.data.tags["rerun_run_id"])
    assert rerun.data.tags["mlflow.source.git.commit"] == sha
    assert rerun.data.tags["reproduced"] == "false"
    assert rerun.data.params["target"] == "''"  # the empty value reached the rerun as empty
    report = pd.read_csv(
        mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/reproduction.csv")
    )
    row = report.set_index("metric").loc["test_accuracy"]
    assert row["original"] == 0.123
    assert row["rerun"] > 0.9

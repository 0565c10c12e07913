"""A bundle job's runs know their code: deployed files, no .git, the commit from the cluster.

`databricks bundle deploy` uploads files, not a checkout, and databricks.yml gives every job
cluster TABULAR_GIT_* from ${bundle.git.*}. Here the deployment is a copy of a committed snapshot
without its .git folder, run as a spark_python_task runs it (databricks/run_entry_point.py), with
the variables the bundle sets for the dev target.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from entrypoints import reproduce
from tests.helpers.processes import run_tree
from tests.helpers.runs import all_runs

pytestmark = pytest.mark.slow
EXPERIMENT_ROOT = "tabular-training/dev"
MODEL = "main.ml_dev.tabular_training"


def test_job_runs_record_the_deployed_commit_are_reused_and_reproduce(project_repo, tmp_path):
    repo, sha = project_repo
    deployed = tmp_path / "files"
    shutil.copytree(repo, deployed, ignore=shutil.ignore_patterns(".git"))
    env = {
        **os.environ,
        "TABULAR_GIT_COMMIT": sha,
        "TABULAR_GIT_ORIGIN": str(repo),
        "TABULAR_GIT_BRANCH": "main",
        "TABULAR_GIT_DIRTY": "false",  # make deploy found the checkout clean
        "TABULAR_PROJECT_SUBDIR": "",
        "TABULAR_BUNDLE_TARGET": "dev",
        "TABULAR_EXPERIMENT_ROOT": EXPERIMENT_ROOT,
        "TABULAR_MODEL_NAMESPACE": "main.ml_dev",
    }
    argv = [
        sys.executable, str(deployed / "databricks" / "run_entry_point.py"), "main",
        "--tune", "false", "--trainer", "sklearn", "--train-params", "n_estimators=20",
        "--model-name", MODEL, "--env-manager", "local",
    ]  # fmt: skip
    first = run_tree(argv, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    (trained,) = all_runs("tags.entry_point = 'train_sklearn'")
    tags = trained.data.tags
    assert tags["mlflow.source.git.commit"] == sha
    assert tags["mlflow.source.git.repoURL"] == tags["project_repo"] == str(repo)
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["git_dirty"] == "false"
    assert tags["bundle_target"] == "dev"
    (pipeline,) = all_runs("tags.entry_point = 'main'")
    assert pipeline.data.tags["mlflow.source.git.commit"] == sha
    assert pipeline.data.tags["model_name"] == MODEL

    # The scheduled rerun at the same deployment and data reuses the training step.
    again = run_tree(argv, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"reusing FINISHED run {trained.info.run_id}" in again.stdout
    assert len(all_runs("tags.entry_point = 'train_sklearn'")) == 1

    # A deployment not known to be clean is never reused: it retrains (the same model, which
    # the gate then refuses as a tie with the champion).
    dirty = run_tree(
        argv, env={**env, "TABULAR_GIT_DIRTY": "true"}, capture_output=True, text=True, timeout=900
    )
    assert dirty.returncode == 2, dirty.stderr[-3000:]
    assert "refused by the validation gate: champion:" in dirty.stderr
    assert len(all_runs("tags.entry_point = 'train_sklearn'")) == 2
    assert "not reusing earlier runs: the deployment is not known to be a clean commit" in (
        dirty.stdout
    )

    # The job's training run reproduces from the repository URL and the commit it recorded.
    assert reproduce.main(["--run-id", trained.info.run_id, "--repo", str(repo)]) == 0
    (reproduced,) = all_runs("tags.entry_point = 'reproduce'")
    assert reproduced.data.tags["reproduced"] == "true"

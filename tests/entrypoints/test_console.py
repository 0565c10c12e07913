"""A run's console holds the lines the project prints, not MLflow's INFO lines or progress bars
(unless TABULAR_VERBOSE=true): checked in fresh interpreters, as a user runs an entry point."""

from __future__ import annotations

import os
import sys

from tests.helpers.processes import run_tree
from tests.helpers.project import PROJECT_ROOT


def _train(**env: str):
    base = {k: v for k, v in os.environ.items() if k != "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"}
    done = run_tree(
        [sys.executable, "-m", "entrypoints.train_sklearn", "--n-estimators", "5"],
        cwd=PROJECT_ROOT, env={**base, **env}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_a_run_prints_a_handful_of_lines_of_its_own():
    output = _train()
    lines = output.strip().splitlines()
    assert lines[0].startswith("features: 30 used (30 numeric)")
    assert lines[-1].startswith("test_accuracy=")
    assert len(lines) <= 6, output
    assert "Downloading artifacts" not in output
    assert "INFO mlflow" not in output
    verbose = _train(TABULAR_VERBOSE="true")
    assert "INFO mlflow.pyfunc: Validating input example" in verbose
    assert "Downloading artifacts" in verbose


def test_register_says_what_it_registered_once_without_mlflows_lines(tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    trained = run_tree(
        [sys.executable, "-m", "entrypoints.train_sklearn", "--n-estimators", "5"],
        cwd=PROJECT_ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    (run,) = mlflow.search_runs(experiment_names=["tabular-training/train"], output_format="list")
    done = run_tree(
        [sys.executable, "-m", "entrypoints.register", "--run-id", run.info.run_id,
         "--model-name", "console"],
        cwd=PROJECT_ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "registered console version 1 (passed)" in output
    for noise in ("Successfully registered", "Created version", "has no artifacts", "WARNING"):
        assert noise not in output, output

"""Several processes may be the first to use a fresh sqlite store at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

import trainers
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import quick_flags

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]


@pytest.mark.parametrize("entry_points", [["train_sklearn"] * 3, ["train_sklearn", "tune"]])
def test_processes_starting_together_on_a_fresh_store_all_finish(entry_points, tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    quick = quick_flags(trainers.get("sklearn"))
    argv = {"train_sklearn": quick, "tune": ["--trainer", "sklearn", "--max-evals", "2"]}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", f"entrypoints.{name}", *argv[name]],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in entry_points
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string="tags.entry_point != 'tune_trial'")
    assert sorted(r.data.tags["entry_point"] for r in runs) == sorted(entry_points)
    assert {r.info.status for r in runs} == {"FINISHED"}

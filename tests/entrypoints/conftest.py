"""Helpers for in-process entry-point tests."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from entrypoints import train_pytorch, train_sklearn, train_xgboost
from tests.conftest import all_runs

# Each trainer with flags that keep a run to a few seconds.
TRAINERS = {
    "train_sklearn": (train_sklearn, ["--n-estimators", "20"]),
    "train_xgboost": (train_xgboost, ["--n-estimators", "60"]),
    "train_pytorch": (train_pytorch, ["--epochs", "15"]),
}


@pytest.fixture(params=list(TRAINERS))
def trainer(request):
    """(module, fast flags) for every trainer entry point."""
    return TRAINERS[request.param]


def only_run():
    runs = all_runs()
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def logged_models():
    experiments = [e.experiment_id for e in MlflowClient().search_experiments()]
    return mlflow.search_logged_models(experiment_ids=experiments, output_format="list")

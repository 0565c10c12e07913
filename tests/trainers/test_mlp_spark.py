"""train_pytorch --engine spark: TorchDistributor trains the same MLP, logs the same model.

The Spark runs start ``python -m entrypoints.train_pytorch`` in a fresh process each (a local
Spark session with 2 task slots), once per module, into one sqlite store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from common import metrics
from common.errors import UserInputError, WorkerError
from tests.helpers.processes import run_tree
from tests.helpers.project import PROJECT_ROOT
from trainers import mlp_spark

FLAGS = ["--epochs", "5", "--seed", "7"]
# The Spark split (a seeded hash per row) and batches differ from single node's, so the test
# metrics differ a little on a 569-row table; both must be good and close.
ROC_AUC_TOLERANCE = 0.05
# Loads the model where pyspark cannot be imported: serving must not need it.
NO_PYSPARK_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class NoPyspark(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "pyspark" or name.startswith("pyspark."):
                raise ImportError(f"{name} is blocked in this process")

    sys.meta_path.insert(0, NoPyspark())
    import mlflow, pandas as pd
    rows = pd.read_json(sys.stdin, orient="split")
    output = mlflow.pyfunc.load_model(sys.argv[1]).predict(rows)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "pyspark")
    print(json.dumps({"columns": list(output.columns), "rows": len(output), "pyspark": loaded}))
    """
)


def _train(folder: Path, uri: str, *flags: str) -> str:
    """One train_pytorch run in a fresh process; its run id."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("MLFLOW_RUN_ID", None)
    done = run_tree(
        [sys.executable, "-m", "entrypoints.train_pytorch", *FLAGS, *flags],
        cwd=folder, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (latest,) = client.search_runs(
        experiments, order_by=["attributes.start_time DESC"], max_results=1
    )
    return latest.info.run_id


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """A single-node run and two Spark runs (2 processes, same seed) of breast_cancer."""
    folder = tmp_path_factory.mktemp("mlp_spark")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    spark = ["--engine", "spark", "--num-processes", "2"]
    ids = {
        "single_node": _train(folder, uri),
        "spark": _train(folder, uri, *spark),
        "spark_again": _train(folder, uri, *spark),
    }
    return {"folder": folder, "client": MlflowClient(uri), "uri": uri, **ids}


@pytest.mark.slow
def test_spark_run_finishes_and_scores_like_single_node(runs):
    client = runs["client"]
    spark, single = client.get_run(runs["spark"]), client.get_run(runs["single_node"])
    assert spark.info.status == "FINISHED"
    assert spark.data.tags["engine"] == "spark"
    assert spark.data.tags["device"] == "cpu"
    auc = spark.data.metrics["test_roc_auc"]
    assert auc > 0.9
    assert abs(auc - single.data.metrics["test_roc_auc"]) <= ROC_AUC_TOLERANCE
    assert spark.data.metrics["epochs_run"] == 5
    # The weights kept are the epoch with the lowest validation loss (the first, on a tie).
    history = client.get_metric_history(runs["spark"], "validation_loss")
    losses = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert spark.data.metrics["best_epoch"] == 1 + losses.index(min(losses))


@pytest.mark.slow
def test_spark_run_logs_each_epoch_and_a_learning_curve(runs):
    client, run_id = runs["client"], runs["spark"]
    for name in ("train_loss", "validation_loss", "validation_accuracy"):
        steps = [m.step for m in client.get_metric_history(run_id, name)]
        assert steps == [0, 1, 2, 3, 4], name
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert "plots/learning_curve.png" in plots


@pytest.mark.slow
def test_the_same_seed_twice_gives_identical_metrics(runs):
    client = runs["client"]
    first, again = (client.get_run(runs[k]).data.metrics for k in ("spark", "spark_again"))
    # Timings (training_seconds, permutation_importance_seconds) and system metrics aside.
    assert {k: v for k, v in first.items() if not metrics.is_measurement(k)} == {
        k: v for k, v in again.items() if not metrics.is_measurement(k)
    }
    for name in ("train_loss", "validation_loss"):
        histories = [
            [m.value for m in client.get_metric_history(runs[k], name)]
            for k in ("spark", "spark_again")
        ]
        assert histories[0] == histories[1], name


@pytest.mark.slow
def test_spark_model_serves_raw_rows_without_pyspark(runs):
    from sklearn.datasets import load_breast_cancer

    rows = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(5)
    rows.iloc[0, 0] = None  # a missing value, as a client may send
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    done = subprocess.run(
        [sys.executable, "-c", NO_PYSPARK_SCRIPT, f"runs:/{runs['spark']}/model"],
        input=rows.to_json(orient="split"), cwd=runs["folder"],
        env={**env, "MLFLOW_TRACKING_URI": runs["uri"]},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["pyspark"] == []
    assert result["rows"] == 5
    assert "prediction" in result["columns"]


def test_the_first_failing_rank_names_the_error(tmp_path):
    # Rank 1 raised; rank 0 then lost its peer a moment later.
    reports = [
        {"time": 2.0, "rank": 0, "type": "RuntimeError", "message": "Connection closed by peer"},
        {"time": 1.0, "rank": 1, "type": "ValueError", "message": "bad shard\nmore detail"},
    ]
    for report in reports:
        (tmp_path / f"rank-{report['rank']}.json").write_text(json.dumps(report))
    failure = mlp_spark._first_failure(str(tmp_path))
    assert isinstance(failure, WorkerError)
    assert str(failure) == "a Spark worker failed: rank 1: ValueError: bad shard"


def test_a_rank_refusing_its_input_stays_a_user_error(tmp_path):
    report = {"time": 1.0, "rank": 0, "type": "UserInputError", "message": "lower learning_rate"}
    (tmp_path / "rank-0.json").write_text(json.dumps(report))
    failure = mlp_spark._first_failure(str(tmp_path))
    assert isinstance(failure, UserInputError)
    assert str(failure) == "lower learning_rate"
    assert mlp_spark._first_failure(str(tmp_path / "missing")) is None

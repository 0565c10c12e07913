"""Tuning costs: tracking overhead per trial, and parallel trials on Spark against sequential.

    python -m benchmarks.tuning [--trials 20] [--parallel-evals 8] [--rows 4000]

1. Tracking overhead: the same hyperopt search (same seed, so the same 20 trials) run as a
   plain ``fmin`` over the trial objective, and through ``tune``'s Objective, which records a
   nested run per trial. Target: under 100 ms per trial on the sqlite store.
2. Parallelism: ``tune.main`` with ``--parallelism 1`` and ``2`` on a synthetic table of
   ``--rows`` rows (PyTorch MLPs: ~3.5 s a trial at 4000 rows, ~12 s at 16000 here). Target:
   2 at least 1.6x faster than 1. Reported for the trials' span (first start to last end) and
   for the whole run, which adds the Spark session's start and the final retrain.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import mlflow
import numpy as np
import pandas as pd
from hyperopt import Trials, fmin, tpe
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification

from common import data
from entrypoints import tune
from jobs import tuning
from trainers import random_forest


def tracking_overhead(n_trials: int) -> None:
    table = data.load("builtin:breast_cancer", target="")
    split = data.split(table, test_size=0.2, seed=0)
    fit = data.holdout(
        split.X_train, split.y_train, fraction=0.25, seed=0, stratify="classification"
    )
    space = {**random_forest.search_space(), "n_estimators": 20}
    with mlflow.start_run() as parent:
        objective = tuning.Objective(
            trainer="sklearn", task="classification", seed=0, metric="test_roc_auc", fit=fit,
            tracking_uri=mlflow.get_tracking_uri(), experiment_id=parent.info.experiment_id,
            parent_run_id=parent.info.run_id, threads=1,
        )  # fmt: skip

        def plain(params):
            scores = objective._train_and_score(params)
            return -scores["validation_roc_auc"]

        timings = {}
        for name, fn in (
            ("plain hyperopt loop", plain),
            ("tuning.Objective (nested runs)", objective),
        ):
            warm_up = {"n_estimators": 20, "max_depth": None, "min_samples_leaf": 1}
            fn({**warm_up, "max_features": 0.5})
            start = time.perf_counter()
            fmin(fn, space, algo=tpe.suggest, max_evals=n_trials, trials=Trials(),
                 rstate=np.random.default_rng(0), show_progressbar=False)  # fmt: skip
            timings[name] = time.perf_counter() - start
    base = timings["plain hyperopt loop"]
    print(f"Tracking overhead, {n_trials} trials (RandomForest, 20 trees, breast_cancer):")
    for name, seconds in timings.items():
        print(f"  {name:30s} {seconds:6.2f} s  {seconds / base:5.2f}x")
    per_trial = (timings["tuning.Objective (nested runs)"] - base) / n_trials * 1000
    print(f"  overhead per trial: {per_trial:.0f} ms")


def parallel_speedup(n_trials: int, rows: int, tmp: str) -> None:
    X, y = make_classification(n_samples=rows, n_features=30, n_informative=12, random_state=0)
    path = f"{tmp}/synthetic.csv"
    pd.DataFrame(X, columns=[f"f{i}" for i in range(30)]).assign(label=y).to_csv(path, index=False)
    argv = [
        "--trainer",
        "pytorch",
        "--max-evals",
        str(n_trials),
        "--data",
        path,
        "--target",
        "label",
    ]
    results = {}
    for parallelism in (1, 2):
        start = time.perf_counter()
        assert tune.main([*argv, "--parallelism", str(parallelism)]) == 0
        wall = time.perf_counter() - start
        client = MlflowClient()
        parent = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            filter_string="tags.entry_point = 'tune'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )[0]
        trials = client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        )
        span = (
            max(t.info.end_time for t in trials) - min(t.info.start_time for t in trials)
        ) / 1000
        mean_trial = np.mean([(t.info.end_time - t.info.start_time) / 1000 for t in trials])
        results[parallelism] = (wall, span, mean_trial)
    print(f"Parallel trials, {n_trials} PyTorch trials on {rows} synthetic rows:")
    for parallelism, (wall, span, mean_trial) in results.items():
        print(
            f"  parallelism={parallelism}: whole run {wall:6.1f} s, trials span {span:6.1f} s,"
            f" mean trial {mean_trial:5.1f} s"
        )
    (w1, s1, _), (w2, s2, _) = results[1], results[2]
    print(f"  speed-up 2 vs 1: whole run {w1 / w2:.2f}x, trials span {s1 / s2:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel-evals", type=int, default=8)
    parser.add_argument("--rows", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment("benchmark-tuning")
        tracking_overhead(args.trials)
        parallel_speedup(args.parallel_evals, args.rows, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tuning costs: each backend's overhead per trial, the scores each reaches, and parallel trials
on Spark against sequential.

    python -m benchmarks.tuning [--trials 20] [--score-trials 20] [--parallel-evals 8]
                                [--rows 4000] [--sections overhead,scores,parallel]

1. Overhead per trial: for each backend (hyperopt, Optuna), tune's search (``tuning.search``:
   the tuner, a nested run per trial, the progress line, the trial numbering) over the same
   seeded RandomForest space, against a plain loop of the same fits (the parameters that
   search chose, trained and scored with nothing around them), measured in the same run; and
   the tuner alone (its search over the same untracked fits), which splits the overhead into
   the tuner's and the tracking's. Target: under 100 ms per trial on the sqlite store.
2. Scores: ``tune.main`` with each backend, the same number of XGBoost trials and seed, on a
   classification and a regression builtin table: the best validation score and the tuned
   model's test score.
3. Parallelism: ``tune.main`` with ``--parallelism 1`` and ``2`` on a synthetic table of
   ``--rows`` rows (PyTorch MLPs: ~3.5 s a trial at 4000 rows, ~12 s at 16000 here), for each
   backend. Target: 2 at least 1.6x faster than 1. Reported for the trials' span (first start
   to last end) and for the whole run, which adds the Spark session's start and the retrain.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification

from common import data
from entrypoints import tune
from jobs import tuning
from jobs.search_plan import STATUS_OK, SearchPlan
from trainers import random_forest
from trainers.search_space import Integer

BACKENDS = list(tuning.BACKENDS)


def backend_overhead(n_trials: int) -> None:
    table = data.load("builtin:breast_cancer", target="")
    split = data.split(table, test_size=0.2, seed=0)
    fit = data.holdout(
        split.X_train, split.y_train, fraction=0.25, seed=0, stratify="classification"
    )
    space = {**random_forest.search_space(), "n_estimators": Integer(10, 30, step=10)}
    rows = []
    with mlflow.start_run() as parent:
        objective = tuning.Objective(
            trainer="sklearn", task="classification", seed=0, metric="test_roc_auc", fit=fit,
            tracking_uri=mlflow.get_tracking_uri(), experiment_id=parent.info.experiment_id,
            parent_run_id=parent.info.run_id, threads=1,
        )  # fmt: skip

        def untracked(params):
            return {
                "status": STATUS_OK,
                "loss": -objective._train_and_score(params)["validation_roc_auc"],
            }

        untracked(
            {"n_estimators": 20, "max_depth": None, "min_samples_leaf": 1, "max_features": 0.5}
        )
        for backend in BACKENDS:
            tuning.backend_search(backend)  # the import is not a per-trial cost
            start = time.perf_counter()
            trials, _ = tuning.search(
                objective, space, backend=backend, max_evals=n_trials, parallelism=1, seed=0
            )
            searched = time.perf_counter() - start
            start = time.perf_counter()
            for trial in trials:
                objective._train_and_score(trial.params)
            plain = time.perf_counter() - start
            plan = SearchPlan(
                untracked, space, max_evals=n_trials, parallelism=1, seed=0,
                spark=lambda: None, on_trial=lambda result: None,
            )  # fmt: skip
            start = time.perf_counter()
            tuning.backend_search(backend)(plan)
            alone = time.perf_counter() - start
            rows.append((backend, plain, alone, searched))
    print(f"Overhead per trial, {n_trials} trials (RandomForest, 10-30 trees, breast_cancer):")
    for backend, plain, alone, searched in rows:
        print(f"  {backend}:")
        print(f"    plain loop of the same fits     {plain:6.2f} s  1.00x")
        print(f"    the tuner alone (untracked)     {alone:6.2f} s  {alone / plain:5.2f}x")
        print(f"    tune's search (nested runs)     {searched:6.2f} s  {searched / plain:5.2f}x")
        per_trial = (searched - plain) / n_trials * 1000
        tuner = (alone - plain) / n_trials * 1000
        print(f"    overhead per trial: {per_trial:.0f} ms, of which the tuner ~{tuner:.0f} ms")


def best_scores(n_trials: int) -> None:
    print(f"Best scores, {n_trials} XGBoost trials, seed 42:")
    for table in ("builtin:breast_cancer", "builtin:diabetes"):
        for backend in BACKENDS:
            argv = ["--trainer", "xgboost", "--data", table, "--max-evals", str(n_trials)]
            start = time.perf_counter()
            assert tune.main([*argv, "--backend", backend]) == 0
            wall = time.perf_counter() - start
            parent = _latest_tune_run()
            metrics = parent.data.metrics
            best = {k: v for k, v in metrics.items() if k.startswith("best_validation_")}
            test = "test_roc_auc" if "test_roc_auc" in metrics else "test_rmse"
            ((name, value),) = best.items()
            print(f"  {table:22s} {backend:8s} {name}={value:.4f}  {test}={metrics[test]:.4f}"
                  f"  ({wall:.0f} s)")  # fmt: skip


def _latest_tune_run():
    client = MlflowClient()
    return client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="tags.entry_point = 'tune'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )[0]


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
    for backend in BACKENDS:
        _speedup(
            [*argv, "--backend", backend],
            f"{n_trials} PyTorch trials on {rows} synthetic rows, {backend}",
        )


def _speedup(argv: list[str], what: str) -> None:
    results = {}
    for parallelism in (1, 2):
        start = time.perf_counter()
        assert tune.main([*argv, "--parallelism", str(parallelism)]) == 0
        wall = time.perf_counter() - start
        client = MlflowClient()
        parent = _latest_tune_run()
        trials = client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        )
        span = (
            max(t.info.end_time for t in trials) - min(t.info.start_time for t in trials)
        ) / 1000
        mean_trial = np.mean([(t.info.end_time - t.info.start_time) / 1000 for t in trials])
        results[parallelism] = (wall, span, mean_trial)
    print(f"Parallel trials, {what}:")
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
    parser.add_argument("--score-trials", type=int, default=20)
    parser.add_argument("--sections", default="overhead,scores,parallel")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment("benchmark-tuning")
        if "overhead" in sections:
            backend_overhead(args.trials)
        if "scores" in sections:
            best_scores(args.score_trials)
        if "parallel" in sections:
            parallel_speedup(args.parallel_evals, args.rows, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

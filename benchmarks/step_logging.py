"""Cost of per-step metric logging during training, as ratios against no logging at all.

    python -m benchmarks.step_logging [--steps 300] [--repeats 3] [--rows 5000]

Trains the same model three ways in one process against a fresh sqlite store: without step
logging (baseline), with ``StepMetricsLogger`` (buffered ``log_batch``, what the trainers use),
and with one ``log_metrics`` call per step (the naive way), for XGBoost rounds and PyTorch
epochs. First whole runs (``main()``: data, training, evaluation, model logging) with and
without step logging, which is what the target is about: <= 1.05x. Then the training loop
alone, on breast_cancer (a loop of a fraction of a second, where the ~70 ms of one final
``log_batch`` shows) and on a synthetic table of ``--rows`` rows (XGBoost only).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import mlflow
import pandas as pd
from sklearn.datasets import make_classification

import trainers
from common import data
from common.step_metrics import StepMetricsLogger
from entrypoints import train_pytorch, train_xgboost
from jobs import training

XGBOOST, PYTORCH = trainers.get("xgboost"), trainers.get("pytorch")


def _time(fit: Callable[[Callable | None], object], make_callback) -> float:
    with mlflow.start_run() as run:
        callback = make_callback(run.info.run_id)
        start = time.perf_counter()
        fit(callback)
        if isinstance(callback, StepMetricsLogger):
            callback.flush()  # the final flush is part of the cost
        return time.perf_counter() - start


def _fits(split, steps: int) -> dict[str, Callable]:
    return {
        "xgboost": lambda cb: XGBOOST.fit(
            split.X_train, split.y_train, task="classification", seed=0, on_step=cb,
            params=XGBOOST.params(n_estimators=steps, early_stopping_rounds=steps),
        ),
        "pytorch": lambda cb: PYTORCH.fit(
            split.X_train, split.y_train, task="classification", seed=0, on_step=cb,
            params=PYTORCH.params(epochs=steps, patience=steps, batch_size=128),
        ),
    }  # fmt: skip


class _NoStepLogging(StepMetricsLogger):
    """Keeps history and prints progress like the real one, but sends nothing to MLflow."""

    def flush(self) -> None:
        self._buffer.clear()


def _whole_runs(module, argv: list[str], repeats: int) -> tuple[float, float]:
    """Median seconds of ``module.main(argv)`` without and with step logging, interleaved."""
    times: dict[bool, list[float]] = {False: [], True: []}
    assert module.main(argv) == 0  # warm-up: first-call costs (autolog patching, imports)
    for _ in range(repeats):
        for logging_on in (False, True):
            training.StepMetricsLogger = StepMetricsLogger if logging_on else _NoStepLogging
            start = time.perf_counter()
            assert module.main(argv) == 0
            times[logging_on].append(time.perf_counter() - start)
    training.StepMetricsLogger = StepMetricsLogger
    return statistics.median(times[False]), statistics.median(times[True])


def _compare(title: str, fit: Callable, args: argparse.Namespace) -> None:
    variants = {
        "no step logging": lambda run_id: None,
        "StepMetricsLogger (log_batch)": lambda run_id: StepMetricsLogger(
            run_id, total_steps=args.steps, quiet=True
        ),
        "log_metrics per step": lambda run_id: (
            lambda step, metrics: mlflow.log_metrics(dict(metrics), step=step)
        ),
    }
    fit(None)  # warm-up: imports, thread pools, allocator
    times = {name: [] for name in variants}
    for _ in range(args.repeats):  # interleaved so drift hits every variant alike
        for name, make in variants.items():
            times[name].append(_time(fit, make))
    baseline = statistics.median(times["no step logging"])
    print(f"{title}, {args.steps} steps, median of {args.repeats}:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:30s} {median:7.3f} s  {median / baseline:5.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment("benchmark-step-logging")
        X, y = make_classification(
            n_samples=args.rows, n_features=30, n_informative=12, random_state=0
        )
        synthetic = pd.DataFrame(X, columns=[f"f{i}" for i in range(30)]).assign(target=y)
        tables = {
            "breast_cancer": data.load("builtin:breast_cancer", target=""),
            f"synthetic {args.rows} rows": data.prepare(
                synthetic, target="target", task="auto", source="synthetic", name="synthetic"
            ),
        }
        steps = str(args.steps)
        whole = {
            # Autolog off: mlflow.xgboost.autolog logs every round itself (~0.5 s per run here),
            # which is MLflow's cost, not this logger's.
            "train_xgboost": (train_xgboost, ["--data", "builtin:breast_cancer", "--autolog",
                              "false", "--n-estimators", steps, "--early-stopping-rounds", steps]),
            "train_pytorch": (train_pytorch, ["--epochs", steps, "--patience", steps]),
        }  # fmt: skip
        print(f"Whole runs (main(), breast_cancer, {steps} steps), median of {args.repeats}:")
        for name, (module, argv) in whole.items():
            without, with_logging = _whole_runs(module, argv, args.repeats)
            print(
                f"  {name}: {without:.3f} s without step logging, {with_logging:.3f} s with"
                f"  -> {with_logging / without:.3f}x"
            )
        print("Training loop alone (train()), the strictest view:")
        for table_name, table in tables.items():
            split = data.split(table, test_size=0.2, seed=0)
            fits = _fits(split, args.steps)
            if table_name != "breast_cancer":
                fits.pop("pytorch")  # minutes per repeat at this size; the trend is clear
            for framework, fit in fits.items():
                _compare(f"{framework} on {table_name}", fit, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Monitoring a batch against scoring it: ``monitor`` against ``predict`` on the same rows and
model, pandas and Spark, as ratios measured in one run.

    python -m benchmarks.monitoring [--rows 1000000] [--repeats 3] [--engines pandas,spark]

A quick xgboost model is trained on 20,000 generated rows (two numbers, one with gaps, a
category, a yes/no column, a day-first date); ``--rows`` rows drawn the same way, a number
shifted and a category's share changed, are written as Parquet. Each repeat runs ``predict``
(Parquet in, Parquet out, the default output folder) and ``monitor`` (drift only, then with the
labels) through their ``main``, alternated so a busy machine slows both alike; the medians and
their ratio are printed. Target: monitoring costs no more than scoring (ratio <= 1.0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from common.spark import session as spark_session
from entrypoints import monitor, predict, train_xgboost


def table(rows: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 10, rows) + 10 * shift
    age = rng.integers(18, 80, rows).astype(float)
    age[rng.random(rows) < 0.05] = np.nan
    shares = [0.5, 0.3, 0.2] if not shift else [0.2, 0.3, 0.5]
    city = rng.choice(["north", "south", "east"], rows, p=shares)
    days = pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    score = 0.08 * (income - 50) + (city == "north") + rng.normal(0, 1, rows)
    return pd.DataFrame(
        {
            "income": income,
            "age": age,
            "city": city,
            "member": rng.choice(["yes", "no"], rows),
            "signup": (pd.Timestamp("2025-01-01") + days).strftime("%d/%m/%Y"),
            "churned": (score > 0.5).astype(int),
        }
    )


def _timed(call) -> float:
    start = time.perf_counter()
    assert call() == 0
    return time.perf_counter() - start


def compare(model_uri: str, batch: Path, scratch: Path, engine: str, repeats: int) -> None:
    common = ["--model-uri", model_uri, "--input", str(batch), "--engine", engine]
    calls = {
        "predict": lambda: predict.main(
            [*common, "--output", str(scratch / f"scored_{engine}.parquet"), "--overwrite", "true"]
        ),
        "monitor": lambda: monitor.main(common),
        "monitor with target": lambda: monitor.main([*common, "--target", "churned"]),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            times[name].append(_timed(call))
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["predict"]
    print(f"{engine}, median of {repeats} (whole entry point: run, load, read, score):")
    for name, seconds in medians.items():
        spread = f"{min(times[name]):.1f}-{max(times[name]):.1f}"
        print(f"  {name:<20} {seconds:7.1f} s ({spread})  {seconds / base:.2f}x predict")


def main() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="pandas,spark")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        mlflow.set_tracking_uri(f"sqlite:///{scratch}/mlflow.db")
        table(20_000, 0).to_csv(scratch / "train.csv", index=False)
        argv = ["--data", str(scratch / "train.csv"), "--target", "churned"]
        assert train_xgboost.main([*argv, "--n-estimators", "100"]) == 0
        run = mlflow.search_runs(search_all_experiments=True, output_format="list")[0]
        model_uri = f"runs:/{run.info.run_id}/model"
        batch = scratch / "batch.parquet"
        table(args.rows, 1, shift=1.0).to_parquet(batch, index=False)
        print(f"{args.rows:,} rows, {os.cpu_count()} cores")
        for engine in args.engines.split(","):
            if engine == "spark":
                start = time.perf_counter()
                spark_session.get_or_create("benchmark", needed_for="the Spark benchmark")
                print(f"(local Spark started in {time.perf_counter() - start:.1f} s, not counted)")
            compare(model_uri, batch, scratch, engine, args.repeats)


if __name__ == "__main__":
    main()

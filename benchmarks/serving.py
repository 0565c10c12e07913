"""Serving costs: the pyfunc's overhead over its raw parts, and batch scoring throughput.

    python -m benchmarks.serving [--rows 1000000] [--repeats 20]   (--rows 0: overhead only)

1. Overhead: the logged churn model (train_sklearn, 100 trees), loaded with
   ``mlflow.pyfunc.load_model``, against calling its own fitted preprocessor + estimator directly
   (``estimator.predict_proba(preprocessor.transform(rows))``), on 1 row and on 10,000 raw rows.
   The pyfunc adds MLflow's schema enforcement, dtype normalization and the label mapping.
   Target: at most 1.15x on 10,000 rows.
2. Throughput: ``predict``'s pandas path and its ``spark_udf`` path on ``--rows`` generated raw
   rows (Parquet in, Parquet out), reported as rows/s, with the same model.
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

from common.environment import PROJECT_ROOT
from common.spark import session as spark_session
from entrypoints import predict, train_sklearn

CHURN = PROJECT_ROOT / "data" / "churn_sample.csv"


def raw_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows drawn from the churn sample, numbers jittered, missing values kept."""
    base = pd.read_csv(CHURN).drop(columns="churn")
    rng = np.random.default_rng(seed)
    rows = base.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    for column in ("tenure_months", "monthly_charges"):
        rows[column] = rows[column] * rng.uniform(0.9, 1.1, n)
    return rows


def _paired_medians(first, second, repeats: int) -> tuple[float, float]:
    """Median seconds of two calls, alternated so drift on a busy machine hits both alike."""
    first(), second()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for call, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            call()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def overhead(model_uri: str, repeats: int) -> None:
    model = mlflow.pyfunc.load_model(model_uri)
    inner = model.unwrap_python_model()
    # One thread: joblib's thread pool polls with sleeps, which swamps a few ms of overhead.
    inner.estimator.set_params(n_jobs=1)
    columns = [*inner.spec.numeric, *inner.spec.categorical]
    print(f"pyfunc vs raw preprocessor + model (n_jobs=1), median of {repeats}, alternated:")
    for n in (1, 10_000):
        rows = raw_rows(n)
        raw, wrapped = _paired_medians(
            lambda r=rows: inner.estimator.predict_proba(inner.preprocessor.transform(r[columns])),
            lambda r=rows: model.predict(r),
            repeats,
        )
        print(
            f"  {n:>6} row(s): raw {raw * 1000:8.2f} ms  pyfunc {wrapped * 1000:8.2f} ms"
            f"  -> {wrapped / raw:.2f}x (+{(wrapped - raw) * 1000:.2f} ms)"
        )


def throughput(model_uri: str, n_rows: int, scratch: Path) -> None:
    source = scratch / "rows.parquet"
    raw_rows(n_rows, seed=1).to_parquet(source, index=False)
    print(f"batch scoring of {n_rows:,} rows (Parquet in, Parquet out):")
    rates = {}
    start = time.perf_counter()
    spark_session.get_or_create("benchmark", needed_for="the spark_udf benchmark")
    print(f"  (local Spark session started in {time.perf_counter() - start:.1f} s, not counted)")
    for engine in ("pandas", "spark"):
        out = scratch / f"scored_{engine}.parquet"
        argv = ["--model-uri", model_uri, "--input", str(source), "--output", str(out)]
        start = time.perf_counter()
        assert predict.main([*argv, "--engine", engine]) == 0
        seconds = time.perf_counter() - start
        run = mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"params.engine = '{engine}'",
            output_format="list",
        )[0]
        rates[engine] = run.data.metrics["rows_per_second"]
        print(
            f"  {engine:>6}: {rates[engine]:>10,.0f} rows/s scoring "
            f"({run.data.metrics['scoring_seconds']:.1f} s; {seconds:.1f} s with the run)"
        )
    print(f"  spark_udf / pandas: {rates['spark'] / rates['pandas']:.2f}x (local[*], "
          f"{os.cpu_count()} cores)")  # fmt: skip


def main() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        argv = ["--data", str(CHURN), "--target", "churn", "--n-estimators", "100"]
        assert train_sklearn.main([*argv, "--autolog", "false"]) == 0
        run = mlflow.search_runs(search_all_experiments=True, output_format="list")[0]
        model_uri = f"runs:/{run.info.run_id}/model"
        overhead(model_uri, args.repeats)
        if args.rows:
            throughput(model_uri, args.rows, Path(tmp))


if __name__ == "__main__":
    main()

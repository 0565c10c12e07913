"""Single node against ``engine=spark``: wall time, rows/s, the driver's memory and the metrics.

    python -m benchmarks.distributed_training [--rows 1000000] [--workers 1,2] [--trainer xgboost]

Generates a customer table (numbers with gaps, two categoricals, a date, a boolean, an ID) of
``--rows`` rows as one Parquet file, then runs ``python -m entrypoints.train_<trainer>`` on it
once single node and once per worker count with ``--engine spark`` (local Spark, ``local[*]``),
one after the other against one fresh sqlite store. For each it prints the wall time, training
rows per second of wall time, the driver process's peak resident memory (its own Python
process: not the JVM, not Spark's Python workers) next to the table's size in pandas, and the
test metrics, then the ratios against single node measured in the same run.

The point of the Spark path is that the driver's memory no longer grows with the table; on one
2-core machine it is slower (Spark's JVM, Arrow transfers, a barrier stage), and the crossover
comes only with more machines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common.environment import PROJECT_ROOT

# Runs the entry point in this interpreter, then writes its peak RSS (KiB) to a file. VmHWM,
# not getrusage's ru_maxrss: that survives exec and starts at the forking parent's RSS (this
# benchmark's, holding the generated table).
DRIVER = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    open(out, "w").write(kib)
atexit.register(peak)
sys.argv[0] = sys.argv[1]
runpy.run_module(sys.argv.pop(1), run_name="__main__")
"""


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    """A renewals-like table with signal in most columns."""
    rng = np.random.default_rng(seed)
    frame = {"customer_id": np.arange(rows)}
    numbers = rng.normal(size=(rows, 8))
    for i in range(8):
        column = numbers[:, i].copy()
        column[rng.random(rows) < 0.02] = np.nan
        frame[f"x{i}"] = column
    frame["plan"] = rng.choice(["basic", "plus", "pro", "team", "enterprise"], rows)
    frame["region"] = rng.choice([f"r{i:02d}" for i in range(40)], rows)
    days = rng.integers(0, 2000, rows)
    frame["signup_date"] = (pd.Timestamp("2019-01-01") + pd.to_timedelta(days, "D")).strftime(
        "%Y-%m-%d"
    )
    frame["is_premium"] = rng.random(rows) < 0.3
    score = numbers[:, :4] @ np.array([1.0, -0.8, 0.5, 0.3]) + 0.4 * numbers[:, 4] ** 2
    score += np.where(frame["plan"] == "pro", 0.8, 0.0) + 0.6 * frame["is_premium"] - days / 2000
    score += rng.normal(0, 1.0, rows)
    frame["renewed"] = np.where(score > np.median(score), "yes", "no")
    return pd.DataFrame(frame)


def run(label: str, argv: list[str], env: dict, workdir: Path) -> dict:
    peak_file = workdir / f"peak-{label}.json"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(peak_file), *argv],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    return {"wall_s": wall, "peak_mib": json.loads(peak_file.read_text()) / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated Spark worker counts")
    parser.add_argument("--trainer", choices=("xgboost", "pytorch"), default="xgboost")
    parser.add_argument("--extra", default="", help="more flags for every run, e.g. '--epochs 5'")
    parser.add_argument(
        "--skip-single-node",
        action="store_true",
        help="only the Spark runs (a table too big for this machine's pandas); no ratios",
    )
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",") if w]
    workdir = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    table = generate(args.rows)
    path = workdir / "customers.parquet"
    table.to_parquet(path, index=False)
    size_mib = table.memory_usage(deep=True).sum() / 2**20
    print(f"table: {args.rows} rows, {table.shape[1]} columns, {size_mib:.0f} MiB in pandas, "
          f"{path.stat().st_size / 2**20:.0f} MiB as Parquet")  # fmt: skip
    del table
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "MLFLOW_EXPERIMENT_NAME": "benchmark-distributed",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    entry = f"entrypoints.train_{args.trainer}"
    base = [entry, "--data", str(path), "--target", "renewed", *args.extra.split()]
    if args.trainer == "xgboost":
        base += ["--n-estimators", "200", "--autolog", "false"]
    flag = "--num-workers" if args.trainer == "xgboost" else "--num-processes"
    plans = [] if args.skip_single_node else [("single node", base)]
    plans += [(f"spark x{w}", [*base, "--engine", "spark", flag, str(w)]) for w in workers]
    results = {}
    for label, argv in plans:
        print(f"running {label} ...", flush=True)
        results[label] = run(label.replace(" ", "_"), argv, env, workdir)
    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(
        experiment_names=["benchmark-distributed"], order_by=["attributes.start_time ASC"]
    )
    metric_names = ["test_roc_auc", "test_accuracy", "test_log_loss"]
    train_rows = args.rows * 0.8
    base_wall = results["single node"]["wall_s"] if "single node" in results else float("nan")
    print(f"\n{'engine':<12} {'wall s':>8} {'rows/s':>10} {'driver MiB':>11} {'x wall':>7} "
          + " ".join(f"{m:>14}" for m in metric_names))  # fmt: skip
    for (label, result), (_, row) in zip(results.items(), runs.iterrows(), strict=True):
        values = " ".join(f"{row[f'metrics.{m}']:>14.4f}" for m in metric_names)
        print(
            f"{label:<12} {result['wall_s']:>8.1f} {train_rows / result['wall_s']:>10.0f} "
            f"{result['peak_mib']:>11.0f} {result['wall_s'] / base_wall:>7.2f} {values}"
        )
    print(f"(table in pandas: {size_mib:.0f} MiB; store: {workdir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

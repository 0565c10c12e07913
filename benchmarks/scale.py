"""A million rows and more: our ``train_xgboost`` and ``train_sklearn`` against the script a user
would write instead (``benchmarks/scale_peer.py``), in wall time and peak memory, and where our
run's time and memory go step by step.

    python -m benchmarks.scale [--rows 1000000 4000000] [--repeats 1] [--trainers xgboost sklearn]
        [--work /tmp/scale] [--skip-profile]

Tables are generated (an ID, a date, 12 numbers with 5% gaps, 4 small categoricals with gaps
and ``city`` with 1,000 levels; a binary target) and kept as CSV in ``--work``. Whole processes,
ours and the peer's alternated; peak memory is the process's maximum resident set
(``wait4``'s ``ru_maxrss``). Then one run of ours per trainer in a profiling process: each step's
time and its resident-memory high-water mark (``/proc/self/clear_refs`` resets the mark before
a step), and what is left as "other" (imports, the run's start and end).

Settings: xgboost 100 rounds (both), the forest 20 trees of depth 12 (both).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common.environment import PROJECT_ROOT

TARGET = "churned"
OURS = {
    "xgboost": ["-m", "entrypoints.train_xgboost", "--n-estimators", "100"],
    "sklearn": ["-m", "entrypoints.train_sklearn", "--n-estimators", "20", "--max-depth", "12"],
}
PEER = {
    "xgboost": ["--model", "xgboost", "--n-estimators", "100"],
    "sklearn": ["--model", "forest", "--n-estimators", "20", "--max-depth", "12"],
}
# The steps of a single-node training run (jobs/training.py, jobs/model_record.py), by the
# function that does each; nested ones count inside the outer step too.
STEPS = {
    "read CSV": "common.data:read_table",
    "column roles": "common.data:decide",
    "normalise features": "common.preprocessing:normalize_features",
    "dataset input + digest": "jobs.context:log_dataset",
    "split": "common.data:split",
    "leak screen": "jobs.training:screen_leaks",
    "encode + fit": "jobs.training:fit_one_node",
    "evaluate test split": "jobs.training:evaluate_test",
    "features.json": "jobs.model_record:describe_features",
    "importance + SHAP": "jobs.model_record:log_permutation_importance",
    "reference profile": "jobs.training:reference_profile",
    "signature, skops, log_model": "jobs.model_record:log_servable",
}


def make_table(rows: int, path: Path, seed: int = 7) -> Path:
    """The generated table (written once per row count)."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"row_id": np.arange(rows)})
    days = rng.integers(0, 3 * 365, rows)
    frame["signup_date"] = (pd.Timestamp("2022-01-01") + pd.to_timedelta(days, "D")).strftime(
        "%Y-%m-%d"
    )
    numbers = rng.normal(size=(rows, 12))
    for i in range(12):
        column = numbers[:, i].round(4)
        column[rng.random(rows) < 0.05] = np.nan
        frame[f"x{i}"] = column
    for i, levels in enumerate((3, 5, 8, 20)):
        values = rng.choice([f"c{i}_{k}" for k in range(levels)], rows).astype(object)
        values[rng.random(rows) < 0.03] = None
        frame[f"cat{i}"] = values
    city = rng.zipf(1.3, rows) % 1000
    frame["city"] = np.char.add("city_", city.astype(str))
    score = (
        0.8 * np.nan_to_num(numbers[:, 0]) - 0.5 * np.nan_to_num(numbers[:, 1])
        + 0.3 * numbers[:, 2] * numbers[:, 3] + (frame["cat1"] == "c1_2") * 0.7
        + np.where(city < 10, 0.5, 0.0) - days / 1500 + rng.normal(0, 1.0, rows)
    )  # fmt: skip
    frame[TARGET] = (score > np.quantile(score, 0.7)).astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def whole_process(argv: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = process.stdout.read(), process.stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{stdout[-2000:]}{stderr[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def compare(rows: int, table: Path, trainers: list[str], repeats: int, env: dict, work: Path):
    print(f"\n{rows:,} rows ({table.stat().st_size / 2**20:.0f} MB CSV), median of {repeats}:")
    for trainer in trainers:
        ours_argv = [sys.executable, *OURS[trainer], "--data", str(table), "--target", TARGET]
        peer_argv = [
            sys.executable, str(PROJECT_ROOT / "benchmarks" / "scale_peer.py"),
            "--data", str(table), "--target", TARGET, *PEER[trainer],
        ]  # fmt: skip
        ours, peer = [], []
        for _ in range(repeats):
            ours.append(whole_process(ours_argv, env, PROJECT_ROOT))
            peer.append(whole_process(peer_argv, env, work))
        o_s, o_mb = (statistics.median(v) for v in zip(*ours, strict=True))
        p_s, p_mb = (statistics.median(v) for v in zip(*peer, strict=True))
        print(
            f"  train_{trainer:8s} {o_s:7.1f} s {o_mb / 1024:5.2f} GB   peer {p_s:7.1f} s "
            f"{p_mb / 1024:5.2f} GB   wall {o_s / p_s:4.2f}x  memory {o_mb / p_mb:4.2f}x"
        )


def profile(table: Path, trainer: str, env: dict) -> None:
    argv = [sys.executable, "-m", "benchmarks.scale", "--profile-child", *OURS[trainer][1:]]
    argv += ["--data", str(table), "--target", TARGET]
    done = subprocess.run(argv, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"profiling failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    total = report["total_s"]
    print(f"  steps of train_{trainer} ({total:.1f} s, peak {report['peak_mb'] / 1024:.2f} GB):")
    accounted = 0.0
    for name, step in report["steps"].items():
        accounted += step["top_seconds"]
        inside = step["seconds"] - step["top_seconds"]
        print(
            f"    {name:30s} {step['seconds']:7.1f} s {100 * step['seconds'] / total:5.1f}%  "
            f"high-water {step['peak_mb'] / 1024:5.2f} GB"
            + (f"  ({inside:.1f} s of it inside another step)" if inside > 0.05 else "")
        )
    print(f"    {'other (imports, run start/end)':30s} {total - accounted:7.1f} s")


class _StepProfiler:
    """Wraps the ``STEPS`` functions: time and resident high-water mark per step."""

    def __init__(self) -> None:
        self.stack: list[dict] = []
        self.steps: dict[str, dict] = {}

    @staticmethod
    def _hwm_mb() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    @staticmethod
    def _reset_hwm() -> None:
        Path("/proc/self/clear_refs").write_text("5")

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            mark = self._hwm_mb()
            for frame in self.stack:
                frame["peak"] = max(frame["peak"], mark)
            self._reset_hwm()
            frame = {"peak": 0.0, "start": time.perf_counter()}
            self.stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                self.stack.pop()
                frame["peak"] = max(frame["peak"], self._hwm_mb())
                for outer in self.stack:
                    outer["peak"] = max(outer["peak"], frame["peak"])
                step = self.steps.setdefault(
                    name, {"seconds": 0.0, "top_seconds": 0.0, "peak_mb": 0.0}
                )
                seconds = time.perf_counter() - frame["start"]
                step["seconds"] += seconds
                step["top_seconds"] += 0.0 if self.stack else seconds
                step["peak_mb"] = max(step["peak_mb"], frame["peak"])

        return timed


def profile_child(argv: list[str]) -> int:
    """Run ``train_<name>`` in this process with each step timed; print the report as JSON."""
    import importlib

    start = time.perf_counter()
    profiler = _StepProfiler()
    for name, target in STEPS.items():
        module_name, attribute = target.split(":")
        module = importlib.import_module(module_name)
        setattr(module, attribute, profiler.wrap(name, getattr(module, attribute)))
    entry = importlib.import_module(argv[0])
    code = entry.main(argv[1:])
    # Resetting the high-water mark resets ru_maxrss too: the peak is the steps' and the rest's.
    peaks = [s["peak_mb"] for s in profiler.steps.values()] + [profiler._hwm_mb()]
    report = {
        "total_s": time.perf_counter() - start,
        "peak_mb": max(peaks),
        "steps": profiler.steps,
    }
    print(json.dumps(report))
    return code


def main() -> int:
    if sys.argv[1:2] == ["--profile-child"]:
        return profile_child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--trainers", nargs="+", choices=sorted(OURS), default=["xgboost"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/tabular-scale-bench"))
    parser.add_argument("--skip-profile", action="store_true")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    print(f"{os.cpu_count()} cores; {pd.Timestamp.now():%Y-%m-%d %H:%M}")
    for rows in args.rows:
        table = make_table(rows, work / f"table-{rows}.csv")
        compare(rows, table, args.trainers, args.repeats, env, work)
        if not args.skip_profile:
            for trainer in args.trainers:
                profile(table, trainer, env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

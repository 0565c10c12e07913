"""``make run`` (the pipeline: tune 10 trials of xgboost, then register behind the gate) at
``HEAD`` against the same command at an earlier commit.

    python -m benchmarks.pipeline [--repeats 3] [--baseline 794c636]

``make run`` runs in two clean clones of this repository, one at ``HEAD`` and one at
``--baseline`` (by default 794c636, the tree issue 12 was measured on), each repeat against a
fresh sqlite store (``STORE=``) so that no step is reused, alternated, medians of ``--repeats``.
Both use this venv: each clone's ``.venv`` links to it, and the clone's locks are dated back so
that make does not rebuild it. Goal: ratio <= 0.6.

Run from the project root with the project's venv active.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.environment import PROJECT_ROOT


def _clone(commit: str, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(PROJECT_ROOT), str(into)], check=True)
    subprocess.run(["git", "-C", str(into), "checkout", "-q", commit], check=True)
    (into / ".venv").symlink_to(Path(sys.prefix))
    for lock in into.glob("requirements*.lock"):
        os.utime(lock, (0, 0))
    return into


def _make_run(checkout: Path, store: Path) -> float:
    """Seconds ``make run`` takes in ``checkout`` against a fresh store in ``store``."""
    store.mkdir()
    start = time.perf_counter()
    done = subprocess.run(
        ["make", "run", f"STORE={store / 'mlflow.db'}"], cwd=checkout, capture_output=True,
        text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "pip install" in done.stdout:
        raise SystemExit(f"make run failed or rebuilt the venv in {checkout}:\n"
                         f"{done.stdout[-1500:]}{done.stderr[-1500:]}")  # fmt: skip
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="794c636", help="the commit to compare against")
    args = parser.parse_args()
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        tmp = Path(folder)
        checkouts = {
            f"baseline {args.baseline}": _clone(args.baseline, tmp / "baseline"),
            f"HEAD {head}": _clone(head, tmp / "head"),
        }
        times: dict[str, list[float]] = {name: [] for name in checkouts}
        for repeat in range(args.repeats):
            for name, checkout in checkouts.items():
                store = tmp / f"store-{repeat}-{checkout.name}"
                times[name].append(_make_run(checkout, store))
    print(f"{os.cpu_count()} cores; make run, a fresh store each, median of {args.repeats}:")
    baseline = statistics.median(times[f"baseline {args.baseline}"])
    for name, values in times.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:22s} {median:6.1f} s  {median / baseline:5.2f}x   ({runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

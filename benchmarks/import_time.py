"""What importing each entry point costs, from ``python -X importtime``, and what dominates it.

    python -m benchmarks.import_time [--repeats 3] [--top 5]

For each entry point module, the median over ``--repeats`` fresh interpreters of the total
import time, the ratio against ``import mlflow`` alone (the floor every entry point pays,
measured the same way in the same run), and the largest top-level packages of the last run.
Importing is not running: a trainer imports its framework when the run starts (see
tests/entrypoints/test_imports.py for what a whole run loads).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from collections import defaultdict

from common.environment import PROJECT_ROOT

LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
ENTRY_POINTS = ("train_sklearn", "train_xgboost", "train_pytorch", "tune", "register",
                "predict", "main", "reproduce")  # fmt: skip


def import_profile(module: str) -> tuple[float, dict[str, float]]:
    """(total seconds, seconds per top-level package: its modules' own time) of importing
    ``module`` once."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    packages: dict[str, float] = defaultdict(float)
    total = 0.0
    for match in LINE.finditer(done.stderr):
        own, cumulative, indent, name = int(match[1]), int(match[2]), len(match[3]), match[4]
        if indent == 1:  # imported by the -c statement itself
            total += cumulative / 1e6
        packages[name.split(".")[0]] += own / 1e6  # each module's own time, by package
    return total, packages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    floor = statistics.median(import_profile("mlflow")[0] for _ in range(args.repeats))
    print(f"import mlflow: {floor:.2f} s (the floor)")
    for name in ENTRY_POINTS:
        runs = [import_profile(f"entrypoints.{name}") for _ in range(args.repeats)]
        total = statistics.median(t for t, _ in runs)
        top = sorted(runs[-1][1].items(), key=lambda kv: -kv[1])[: args.top]
        biggest = ", ".join(f"{pkg} {sec:.2f}" for pkg, sec in top)
        print(f"{name:14} {total:5.2f} s  {total / floor:4.2f}x mlflow  ({biggest})")


if __name__ == "__main__":
    main()

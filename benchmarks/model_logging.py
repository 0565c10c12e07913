"""What logging the model costs in the default ``train_sklearn`` run, against MLflow's default.

    python -m benchmarks.model_logging [--repeats 5]

Each repeat runs ``entrypoints.train_sklearn.main([])`` in a fresh interpreter against one
sqlite store and times ``common.pyfunc.log_model`` (everything that writes the servable model:
importing skops, dumping the preprocessor and the forest, MLflow's save, its requirement check
and its load-back of the input example) and those parts. Alternated with the same run where the
model's requirements are left to MLflow (``pip_requirements=None``: MLflow's default, which
infers them by loading the model in a subprocess), medians of ``--repeats``. Goal: ours <= 1 s.

Run from the project root with the project's venv active.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from common.environment import PROJECT_ROOT

# Runs in the fresh interpreter: wrap the functions to time, run the entry point, print timings.
PROBE = """
    import functools, importlib, json, sys, time
    timings = {}

    def timed(module, attribute, label, change=None):
        owner = importlib.import_module(module)
        path = attribute.split(".")
        for part in path[:-1]:
            owner = getattr(owner, part)
        original = getattr(owner, path[-1])

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            if change:
                kwargs = change(kwargs)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timings[label] = timings.get(label, 0.0) + time.perf_counter() - start

        setattr(owner, path[-1], wrapper)

    import common.pyfunc
    import mlflow.models.utils
    import mlflow.utils.requirements_utils
    from entrypoints import train_sklearn
    infer = sys.argv[1] == "infer"
    timed("common.pyfunc", "log_model", "log_model")
    timed("common.pyfunc", "save_preprocessor", "skops: import + preprocessor")
    timed("trainers.random_forest", "save_estimator", "skops: forest")
    timed("mlflow.pyfunc", "log_model", "mlflow: log_model",
          (lambda kw: {**kw, "pip_requirements": None}) if infer else None)
    timed("mlflow.utils.requirements_utils", "_init_packages_to_modules_map",
          "mlflow: installed-package map")
    timed("mlflow.models.utils", "_validate_serving_input", "mlflow: load back + predict example")
    assert train_sklearn.main([]) == 0
    print("TIMINGS " + json.dumps(timings))
"""
OURS, INFERRED = "pinned requirements (ours)", "requirements inferred (MLflow default)"


def _timings(mode: str, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE), mode],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
    )  # fmt: skip
    line = [x for x in done.stdout.splitlines() if x.startswith("TIMINGS ")]
    if done.returncode != 0 or not line:
        raise SystemExit(f"the {mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(line[-1].removeprefix("TIMINGS "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{Path(folder) / 'mlflow.db'}",
            "MLFLOW_EXPERIMENT_NAME": "bench/model-logging",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
        _timings("pinned", env)  # creates the store and warms the file cache: not counted
        runs: dict[str, list[dict[str, float]]] = {OURS: [], INFERRED: []}
        for _ in range(args.repeats):
            runs[OURS].append(_timings("pinned", env))
            runs[INFERRED].append(_timings("infer", env))
    print(f"{os.cpu_count()} cores; default train_sklearn run, medians of {args.repeats}")
    baseline = statistics.median(r["log_model"] for r in runs[INFERRED])
    for name, timings in runs.items():
        whole = [r["log_model"] for r in timings]
        median = statistics.median(whole)
        spread = ", ".join(f"{v:.2f}" for v in whole)
        print(f"  {name:40s} {median:5.2f} s  {median / baseline:5.2f}x  ({spread})")
        for part in timings[0]:
            if part != "log_model":
                print(
                    f"      {part:36s} {statistics.median(r.get(part, 0) for r in timings):5.2f} s"
                )
    ours = statistics.median(r["log_model"] for r in runs[OURS])
    print(f"goal: ours <= 1 s: {'met' if ours <= 1.0 else 'not met'} ({ours:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

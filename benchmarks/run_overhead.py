"""What a user waits for: whole runs against MLflow's example, and each trainer against its fit.

    python -m benchmarks.run_overhead [--repeats 3] [--skip-direct]

1. ``mlflow run . -e train_sklearn --env-manager local`` on defaults against the shape of
   MLflow's ``sklearn_elasticnet_wine`` example (``benchmarks/mlflow_example``: an ElasticNet on
   a CSV, ``mlflow.sklearn.log_model`` with inferred requirements), both through ``mlflow run``
   against one fresh sqlite store, alternated, medians of ``--repeats``. Goal: ratio <= 0.5.
   Two floors alternate with them: the launcher alone (an entry point running ``true``), and the
   launcher with a child that only imports mlflow, scikit-learn and pandas, logs one parameter in
   a run and exits without the final collections: no run of ours can be faster than that.
2. Each trainer's direct ``python -m entrypoints.train_<name>`` on its defaults against the bare
   framework fit and test scoring of the same model in one fresh interpreter (the floor).

Run from the project root with the project's venv active (``mlflow`` and ``python`` on PATH).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_diabetes

import trainers
from common.environment import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "benchmarks" / "mlflow_example"
# The bare fit + test scores of each trainer's default model, in one interpreter.
BARE = {
    "sklearn": """
        from sklearn.datasets import load_breast_cancer
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import train_test_split
        X, y = load_breast_cancer(return_X_y=True)
        a, b, ya, yb = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)
        m = RandomForestClassifier(200, max_features=0.5, random_state=42, n_jobs=-1).fit(a, ya)
        print(roc_auc_score(yb, m.predict_proba(b)[:, 1]))
    """,
    "xgboost": """
        import xgboost as xgb
        from sklearn.datasets import load_diabetes
        from sklearn.metrics import r2_score
        from sklearn.model_selection import train_test_split
        X, y = load_diabetes(return_X_y=True)
        a, b, ya, yb = train_test_split(X, y, test_size=0.2, random_state=42)
        fa, va, fya, vya = train_test_split(a, ya, test_size=0.15, random_state=42)
        m = xgb.XGBRegressor(n_estimators=500, max_depth=6, learning_rate=0.1, subsample=0.8,
                             colsample_bytree=0.8, early_stopping_rounds=30, random_state=42)
        m.fit(fa, fya, eval_set=[(va, vya)], verbose=False)
        print(r2_score(yb, m.predict(b)))
    """,
    "pytorch": """
        import torch
        from torch import nn
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
        X, y = load_breast_cancer(return_X_y=True)
        a, b, ya, yb = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)
        s = StandardScaler().fit(a)
        xa = torch.tensor(s.transform(a), dtype=torch.float32)
        ta = torch.tensor(ya)
        torch.manual_seed(42)
        net = nn.Sequential(nn.Linear(30, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 64),
                            nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 2))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        for epoch in range(32):  # what the default run trains before early stopping
            for i in torch.randperm(len(xa)).split(64):
                opt.zero_grad()
                nn.functional.cross_entropy(net(xa[i]), ta[i]).backward()
                opt.step()
        with torch.no_grad():
            out = net(torch.tensor(s.transform(b), dtype=torch.float32)).argmax(1)
        print((out.numpy() == yb).mean())
    """,
}


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


# The floors: a project whose entry points do nothing but what every tracked run must do.
FLOOR_PROJECT = {
    "MLproject": """
        name: floor
        entry_points:
          launcher:
            command: "true"
          tracked:
            command: "python tracked.py"
    """,
    "tracked.py": """
        import gc, mlflow, pandas, sklearn.ensemble, sklearn.metrics
        with mlflow.start_run():
            mlflow.log_param("floor", 1)
        gc.freeze()  # no final collections at exit, as our entry points do
    """,
}


def whole_runs(repeats: int, tmp: Path, env: dict[str, str]) -> None:
    floor = tmp / "floor"
    floor.mkdir()
    for name, text in FLOOR_PROJECT.items():
        (floor / name).write_text(textwrap.dedent(text).lstrip())
    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "y"})
    csv = tmp / "diabetes.csv"
    frame.to_csv(csv, index=False)
    mlflow = str(Path(sys.executable).parent / "mlflow")
    commands = {
        "MLflow example (ElasticNet)": [
            mlflow, "run", str(EXAMPLE), "--env-manager", "local",
            "--experiment-name", "bench/example", "-P", f"data={csv}",
        ],
        "train_sklearn (defaults)": [
            mlflow, "run", str(PROJECT_ROOT), "-e", "train_sklearn", "--env-manager", "local",
            "--experiment-name", "bench/train",
        ],
        "floor: launcher alone": [
            mlflow, "run", str(floor), "-e", "launcher", "--env-manager", "local",
            "--experiment-name", "bench/floor",
        ],
        "floor: launcher + tracked child": [
            mlflow, "run", str(floor), "-e", "tracked", "--env-manager", "local",
            "--experiment-name", "bench/floor",
        ],
    }  # fmt: skip
    _timed(commands["MLflow example (ElasticNet)"], env, tmp)  # creates the store: not timed
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(_timed(command, env, tmp))
    baseline = statistics.median(times["MLflow example (ElasticNet)"])
    print(f"1. Whole runs through `mlflow run --env-manager local`, median of {repeats}:")
    for name, values in times.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:32s} {median:6.1f} s  {median / baseline:5.2f}x   ({runs})")
    floor = statistics.median(times["floor: launcher + tracked child"])
    print(
        f"  the goal (0.5x) is {0.5 * baseline:.1f} s; the tracked floor leaves "
        f"{0.5 * baseline - floor:.1f} s for data, fit, metrics, plots and the model"
    )


def direct_runs(repeats: int, tmp: Path, env: dict[str, str]) -> None:
    print(f"2. Direct `python -m entrypoints.train_<name>` vs the bare fit, median of {repeats}:")
    for name, trainer in trainers.TRAINERS.items():
        entry = [sys.executable, "-m", f"entrypoints.{trainer.entry_point}"]
        bare = [sys.executable, "-c", textwrap.dedent(BARE[name])]
        ours, floor = [], []
        for _ in range(repeats):
            ours.append(_timed(entry, env, PROJECT_ROOT))
            floor.append(_timed(bare, env, tmp))
        o, f = statistics.median(ours), statistics.median(floor)
        print(f"  {trainer.entry_point:15s} {o:6.1f} s   bare fit {f:5.1f} s   {o / f:5.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-direct", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        tmp = Path(folder)
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        print(f"{os.cpu_count()} cores; {pd.Timestamp.now():%Y-%m-%d %H:%M}")
        whole_runs(args.repeats, tmp, env)
        if not args.skip_direct:
            direct_runs(args.repeats, tmp, env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

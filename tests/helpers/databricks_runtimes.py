"""A Databricks ML runtime line, emulated: a fresh venv holding that line's pyspark (and the torch
a runtime brings), then the bundle's own install step as a job runs it, then
``databricks/run_entry_point.py`` training on Spark, tuning in parallel and scoring on Spark.
One test file per supported line (tests/e2e/test_databricks_runtime_*.py), so that CI's two
workers run the lines side by side.

What the emulation is not: the runtimes run Python 3.12 and their own torch build; here the venv
is pyenv's 3.11.7 (the only Python the CPU torch wheel on this machine is for) holding
torch 2.13.0 as "the runtime's", so that the install is seen to leave it alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_breast_cancer, load_diabetes

from tests.helpers.processes import one_error_line, run_tree
from tests.helpers.project import PROJECT_ROOT

# Databricks Runtime ML line -> the Apache Spark release it ships (Databricks' release notes).
RUNTIMES = {"16.4 LTS ML": "3.5.2", "18 LTS ML": "4.1.0"}
PYTHON = Path.home() / ".pyenv" / "versions" / "3.11.7" / "bin" / "python3"
RUNTIME_TORCH = "2.13.0"
RUNNER = PROJECT_ROOT / "databricks" / "run_entry_point.py"


def bundle_requirements() -> list[str]:
    """The requirements files databricks.yml's tasks install, as the job resolves them."""
    bundle = yaml.safe_load((PROJECT_ROOT / "databricks.yml").read_text())
    files = {
        library["requirements"]
        for job in bundle["resources"]["jobs"].values()
        for task in job["tasks"]
        for library in task.get("libraries", [])
    }
    return sorted(files)


def _versions(python: Path) -> dict[str, str]:
    done = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {p["name"].lower(): p["version"] for p in json.loads(done.stdout)}


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def _timed(args: list[str], *, env: dict, cwd: Path, timeout: int = 900) -> float:
    start = time.perf_counter()
    done = run_tree(args, env=env, cwd=cwd, timeout=timeout)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return time.perf_counter() - start


@contextmanager
def emulated_runtime(line: str, tmp_path: Path) -> Iterator[tuple[Path, dict]]:
    """(its venv's python, install costs) for runtime ``line``: the runtime's pyspark and torch,
    then every requirements file the bundle's tasks install, with pip -r as job clusters do."""
    if not PYTHON.exists():
        pytest.skip(f"needs pyenv's Python 3.11.7 at {PYTHON}")
    venv = tmp_path / "runtime-venv"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([str(PYTHON), "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    costs = {
        "runtime_s": _timed(
            [*pip, f"pyspark=={RUNTIMES[line]}", f"torch=={RUNTIME_TORCH}"], env=env, cwd=tmp_path
        )
    }
    before, runtime_mb = _versions(python), _size_mb(venv)
    costs["bundle_install_s"] = _timed(
        [*pip, *(a for f in bundle_requirements() for a in ("-r", str(PROJECT_ROOT / f)))],
        env=env,
        cwd=tmp_path,
    )
    after = _versions(python)
    # The install kept the runtime's Spark and torch, and added our pins around them.
    assert after["pyspark"] == before["pyspark"] == RUNTIMES[line]
    assert after["torch"].split("+")[0] == RUNTIME_TORCH
    assert after["mlflow"] != before.get("mlflow")
    costs["bundle_install_mb"] = round(_size_mb(venv) - runtime_mb)
    print(f"{line}: {costs}")
    try:
        yield python, costs
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def _job(python: Path, tmp_path: Path, *argv: str, check: bool = True):
    """One task of a job: run_entry_point.py with the venv's python first on PATH (Spark's
    Python workers are the driver's interpreter, as on a cluster)."""
    env = {
        **os.environ,
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        "PYSPARK_PYTHON": str(python),
        "PYTHONPATH": "",
    }
    done = run_tree([str(python), str(RUNNER), *argv], env=env, cwd=tmp_path, timeout=900)
    if check:
        assert done.returncode == 0, (argv, done.stderr[-4000:])
    return done


def _last_run(experiment: str, entry_point: str):
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    assert found is not None, experiment
    (run,) = client.search_runs(
        [found.experiment_id],
        f"attributes.status = 'FINISHED' and tags.entry_point = '{entry_point}'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )  # fmt: skip
    return run


def train_tune_and_score(python: Path, tmp_path: Path) -> None:
    """The jobs' code on the emulated runtime: xgboost.spark (a classifier) and TorchDistributor
    (a regressor), SparkTrials with parallelism=2, spark_udf scoring of both models."""
    classification = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    regression = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    tables = {}
    for name, frame in (("classification", classification), ("regression", regression)):
        tables[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(tables[name], index=False)

    # A classifier by xgboost.spark, a regressor by TorchDistributor.
    _job(
        python, tmp_path, "train_xgboost", "--engine", "spark",
        "--data", str(tables["classification"]), "--target", "label", "--n-estimators", "30",
    )  # fmt: skip
    xgb = _last_run("tabular-training/train", "train_xgboost")
    assert xgb.data.params["engine"] == "spark"
    assert 0.9 < xgb.data.metrics["test_roc_auc"] <= 1.0
    _job(
        python, tmp_path, "train_pytorch", "--engine", "spark",
        "--data", str(tables["regression"]), "--target", "progression", "--epochs", "5",
        "--num-processes", "2",
    )  # fmt: skip
    mlp = _last_run("tabular-training/train", "train_pytorch")
    assert mlp.data.params["engine"] == "spark"
    assert mlp.data.metrics["test_rmse"] > 0
    requirements = _model_requirements(mlp.info.run_id)
    assert f"torch=={RUNTIME_TORCH}" in requirements  # the runtime's torch, as trained

    # Parallel trials through SparkTrials on the runtime's Spark.
    _job(
        python, tmp_path, "tune", "--trainer", "sklearn", "--max-evals", "2", "--parallelism", "2",
        "--data", str(tables["classification"]), "--target", "label",
    )  # fmt: skip
    tuned = _last_run("tabular-training/tune", "tune")
    assert tuned.data.metrics["trials_failed"] == 0
    assert (
        len(
            MlflowClient().search_runs(
                [tuned.info.experiment_id], f"tags.mlflow.parentRunId = '{tuned.info.run_id}'"
            )
        )
        == 2
    )

    # Spark scoring (spark_udf) of both kinds.
    for run, table, target in (
        (xgb, tables["classification"], "label"),
        (mlp, tables["regression"], "progression"),
    ):
        rows = tmp_path / f"rows-{run.info.run_id}.parquet"
        pd.read_parquet(table).drop(columns=target).to_parquet(rows, index=False)
        out = tmp_path / f"scored-{run.info.run_id}.parquet"
        _job(
            python, tmp_path, "predict", "--engine", "spark", "--model-uri",
            f"runs:/{run.info.run_id}/model", "--input", str(rows), "--output", str(out),
        )  # fmt: skip
        scored = pd.read_parquet(out)
        assert len(scored) == len(pd.read_parquet(rows))
        assert scored["prediction"].notna().all()
    assert set(pd.read_parquet(tmp_path / f"scored-{xgb.info.run_id}.parquet")["prediction"]) <= {
        0,
        1,
    }

    # A flag the runtime's entry point does not know is one line, before any Spark starts.
    bad = _job(python, tmp_path, "predict", "--engine", "flink", "--input", "x", check=False)
    assert bad.returncode == 2
    assert "flink" in one_error_line(bad.stderr)


def _model_requirements(run_id: str) -> list[str]:
    return Path(mlflow.pyfunc.get_model_dependencies(f"runs:/{run_id}/model")).read_text().split()

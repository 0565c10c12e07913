"""A model trained with ``--engine spark`` serves the rows pandas reads from its own training file.

Spark reads a CSV with types inferred (``int``, ``date``, ``timestamp``) and a Parquet file with
its stored types (``int``, ``float``), where pandas reads int64, float64 and text (issue 20: the
Spark-trained model refused ``pandas.read_csv`` rows with "Can not safely convert int64 to
int32"). Each test trains through the entry point's ``main`` in process, on local Spark with one
worker, on a small table with an integer, a boolean, a date, a float column with gaps and a
categorical, then loads the logged model with ``mlflow.pyfunc.load_model`` (signature enforced)
and predicts on the file's rows as pandas reads them.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.helpers.runs import all_runs

pytestmark = pytest.mark.slow
ROWS = 400
TARGETS = {"classification": "churned", "regression": "spend"}
QUICK = {
    "xgboost": ["--n-estimators", "15", "--num-workers", "1"],
    "pytorch": ["--epochs", "3", "--num-processes", "1"],
}


def _table(rows: int = ROWS, seed: int = 20) -> pd.DataFrame:
    """An integer, a boolean, a date, a float with gaps, a categorical; two targets."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(0, 60, rows)
    active = rng.random(rows) < 0.4
    days = rng.integers(0, 900, rows)
    amount = rng.gamma(2.0, 20.0, rows).round(2)
    amount[rng.random(rows) < 0.1] = np.nan
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])
    score = 0.05 * visits + 1.5 * active - days / 600 + np.where(plan == "pro", 1.0, 0.0)
    score += 0.01 * np.nan_to_num(amount, nan=40.0) + rng.normal(0, 0.5, rows)
    return pd.DataFrame(
        {
            "visits": visits,
            "active": active,
            "signup": (pd.Timestamp("2022-01-01") + pd.to_timedelta(days, "D")).date,
            "amount": amount,
            "plan": plan,
            "churned": np.where(score > np.median(score), "yes", "no"),
            "spend": (10 * score + rng.normal(0, 1, rows)).round(2),
        }
    )


def _write(kind: str, folder: Path) -> Path:
    """The table as a CSV (dates as text, types left to inference) or a Parquet file with the
    types Spark itself writes for such columns (int32, a date, a float32 besides doubles)."""
    frame = _table()
    path = folder / f"customers.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame["visits"] = frame["visits"].astype("int32")
        frame["discount"] = (frame["visits"] % 7 / 10).astype("float32")
        frame.to_parquet(path, index=False)
    return path


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _train(trainer: str, path: Path, task: str, *flags: str) -> str:
    """``train_<trainer>.main`` in process; the run id of the finished run."""
    entry_point = importlib.import_module(f"entrypoints.train_{trainer}")
    target = TARGETS[task]
    dropped = [name for name in TARGETS.values() if name != target]
    argv = ["--data", str(path), "--target", target, "--task", task, "--drop", *dropped]
    assert entry_point.main([*argv, *QUICK[trainer], *flags]) == 0
    run = all_runs()[-1]
    assert run.info.status == "FINISHED"
    return run.info.run_id


def _check_predictions(model, rows: pd.DataFrame, task: str) -> None:
    out = model.predict(rows)
    assert len(out) == len(rows)
    assert out["prediction"].notna().all()
    if task == "regression":
        assert np.isfinite(out["prediction"].to_numpy("float64")).all()
        return
    assert set(out["prediction"]) <= {"yes", "no"}
    probabilities = out[["probability_no", "probability_yes"]].to_numpy("float64")
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("trainer", "kind", "task"),
    [
        ("xgboost", "csv", "classification"),
        ("xgboost", "parquet", "classification"),
        ("xgboost", "csv", "regression"),
        ("pytorch", "csv", "classification"),
        ("pytorch", "parquet", "regression"),
    ],
)
def test_spark_model_predicts_on_the_rows_pandas_reads_from_its_file(trainer, kind, task, tmp_path):
    path = _write(kind, tmp_path)
    run_id = _train(trainer, path, task, "--engine", "spark")
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    rows = _read(path).drop(columns=list(TARGETS.values()))
    _check_predictions(model, rows, task)
    if kind == "parquet":  # the same rows as a CSV export of the table reads: int64, float64
        _check_predictions(model, rows.astype({"visits": "int64", "discount": "float64"}), task)
    types = {c["name"]: c["type"] for c in model.metadata.get_input_schema().to_dict()}
    # Number columns take any dtype (the model converts them: a gap or int64 in any batch).
    assert types["visits"] == types["amount"] == "any"
    if kind == "parquet":
        assert types["discount"] == "any"
    assert types["active"] == "boolean"
    assert types["signup"] == "any"  # a date column takes text or datetimes
    _check_predictions(model, rows.astype({"visits": "float64"}).assign(visits=np.nan), task)


def test_spark_and_single_node_models_of_a_csv_have_the_same_signature(tmp_path):
    """The sample the Spark path takes its signature from has the dtypes pandas reads."""
    path = _write("csv", tmp_path)
    spark_run = _train("xgboost", path, "classification", "--engine", "spark")
    # The run pinned the registry URI while Spark ran, and gave the process back what it had.
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert mlflow.get_registry_uri() == mlflow.get_tracking_uri()
    single_run = _train("xgboost", path, "classification", "--engine", "single_node")
    signatures = [
        mlflow.models.get_model_info(f"runs:/{run}/model").signature.inputs.to_dict()
        for run in (spark_run, single_run)
    ]
    assert signatures[0] == signatures[1]

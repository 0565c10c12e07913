"""Tables as real sources write them (found by an adversarial pass): each trains, serves its own
raw rows, and keeps its model's input schema from one training to the next."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import trainers
from tests.helpers.runs import all_runs, train_main

SKLEARN = trainers.get("sklearn")
N = 200


def _tables(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=N)
    y = (x > 0).astype(int)
    few = rng.random(N) < 0.15  # columns that are mostly missing
    frames = {
        "sparse.csv": pd.DataFrame({
            "x": x, "cat": np.where(few, rng.choice(["a", "b"], N), None),
            "flag": np.where(few, rng.choice([True, False], N), None),
            "day": np.where(few, [f"2024-01-0{d}" for d in rng.integers(1, 9, N)], None),
        }),
        "zoned.parquet": pd.DataFrame({
            "x": x, "at": pd.Timestamp("2020-01-01", tz="Europe/Paris")
            + pd.to_timedelta(rng.integers(0, 10**6, N), unit="min"),
        }),
        "nullable.parquet": pd.DataFrame({
            "x": x,
            "count": pd.array([None if i % 5 == 0 else i % 9 for i in range(N)], dtype="Int64"),
            "flag": pd.array([None if i % 7 == 0 else i % 2 == 0 for i in range(N)],
                             dtype="boolean"),
        }),
        "far_dates.csv": pd.DataFrame({
            "x": x, "until": [("9999-12-31", "1700-01-01", "2300-06-01", None)[i % 4]
                              for i in range(N)],
        }),
    }  # fmt: skip
    paths = {}
    for name, frame in frames.items():
        path = folder / name
        frame = frame.assign(y=y)
        frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
        paths[name] = path
    return paths


@pytest.mark.parametrize(
    "name", ["sparse.csv", "zoned.parquet", "nullable.parquet", "far_dates.csv"]
)
def test_the_table_trains_and_its_model_serves_its_own_rows(name, tmp_path):
    path = _tables(tmp_path)[name]
    for seed in ("1", "2"):
        assert train_main(SKLEARN, "--data", str(path), "--target", "y", "--seed", seed) == 0
    first, second = (mlflow.pyfunc.load_model(f"runs:/{r.info.run_id}/model") for r in all_runs())
    # The schema comes from the column, not from which rows the example happened to take.
    assert first.metadata.get_input_schema() == second.metadata.get_input_schema()
    raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    rows = raw.drop(columns="y")
    for batch in (rows.head(4), rows.tail(7)):  # the first rows of sparse.csv are all missing
        # As an HTTP client sends them: JSON, dates as ISO text, missing values as null.
        sent = pd.read_json(StringIO(batch.to_json(orient="split", date_format="iso")),
                            orient="split")  # fmt: skip
        assert first.predict(sent)["prediction"].isin([0, 1]).all()
        if path.suffix == ".csv":  # and as pandas read them, in process
            assert first.predict(batch)["prediction"].isin([0, 1]).all()

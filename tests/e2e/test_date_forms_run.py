"""Dates written in other forms than ISO 8601, through `mlflow run`: each column trains as a date
in its one format (features.json says which), and the logged model serves the raw strings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import trainers
from tests.helpers.processes import mlflow_cli, one_error_line, predict_in_fresh_process
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import quick_mlflow_params, runs_in

pytestmark = pytest.mark.slow
EXPERIMENT = "tabular-training/train"
SKLEARN = trainers.get("sklearn")
# Each date column, in the form it is written in.
FORMS = {"visited": "%d/%m/%Y", "measured": "%d.%m.%Y", "logged": "%b %d, %Y"}


def _season_table(folder: Path) -> Path:
    """600 days in random order, written in three forms, and a first-of-the-month column whose
    day/month order the values cannot tell; the label is the season (warm May to September),
    with a noise column that tells nothing."""
    rng = np.random.default_rng(7)
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.permutation(600), unit="D")
    days = pd.Series(days)
    frame = pd.DataFrame({name: days.dt.strftime(form) for name, form in FORMS.items()})
    frame["billed"] = days.dt.strftime("01/%m/%Y")  # every day is 1: day first or month first?
    frame["noise"] = rng.normal(size=len(days)).round(3)
    frame["season"] = np.where(days.dt.month.between(5, 9), "warm", "cold")
    path = folder / "seasons.csv"
    frame.to_csv(path, index=False)
    return path


def _train(tmp_path: Path, data: Path, *params: str):
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", SKLEARN.entry_point, "--env-manager", "local",
        "--experiment-name", EXPERIMENT, "-P", f"data={data}", "-P", "target=season",
        *quick_mlflow_params(SKLEARN), *params, cwd=tmp_path,
    )  # fmt: skip
    runs = runs_in(EXPERIMENT) if MlflowClient().get_experiment_by_name(EXPERIMENT) else []
    return done, (runs[-1] if runs else None)


def test_dates_in_three_forms_train_as_dates_and_the_model_serves_them_raw(tmp_path):
    path = _season_table(tmp_path)
    done, run = _train(tmp_path, path, "-P", "datetime=billed:%d/%m/%Y")
    assert done.returncode == 0, done.stderr[-3000:]
    assert run.info.status == "FINISHED"
    features = json.loads(
        Path(
            MlflowClient().download_artifacts(run.info.run_id, "features.json", str(tmp_path))
        ).read_text()
    )
    dates = {c["name"]: c.get("format") for c in features["columns"] if c["role"] == "datetime"}
    assert dates == {**FORMS, "billed": "%d/%m/%Y"}
    assert {"visited_month", "measured_dayofyear", "logged_days", "billed_month"} <= set(
        features["encoded_features"]
    )
    assert run.data.metrics["test_accuracy"] > 0.9  # the season is in the dates' months

    # The raw strings, as pandas reads the file back; one row's date in another form.
    table = pd.read_csv(path)
    rows = table.drop(columns="season").head(40)
    assert rows["visited"].str.fullmatch(r"\d{2}/\d{2}/\d{4}").all()
    rows.loc[0, "measured"] = "2021-07-05"  # ISO in a DD.MM.YYYY column: missing, imputed
    served = predict_in_fresh_process(f"runs:/{run.info.run_id}/model", rows, tmp_path)
    assert len(served) == 40
    assert (served["prediction"] == table["season"].head(40)).mean() >= 0.9


def test_a_date_column_whose_day_and_month_order_cannot_be_told_is_a_failed_run(tmp_path):
    done, run = _train(tmp_path, _season_table(tmp_path))
    assert done.returncode != 0
    error = one_error_line(done.stderr)
    message = (
        "column 'billed' holds dates such as '01/08/2021' whose day/month order cannot be told"
    )
    assert message in error
    assert "-P datetime=billed:%d/%m/%Y (day first) or -P datetime=billed:%m/%d/%Y" in error
    assert run.info.status == "FAILED"
    assert message in run.data.tags["failure_reason"]

"""A user's own table through `mlflow run`: column roles, features.json, the business metric,
and bad tables refused in one line with the run FAILED."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.processes import mlflow_cli, one_error_line, predict_in_fresh_process, run_tree
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import quick_mlflow_params, runs_in

pytestmark = pytest.mark.slow
EXPERIMENT = "tabular-training/train"
RENEWALS = PROJECT_ROOT / "data" / "renewals_sample.csv"


def _train(trainer, tmp_path: Path, data: Path, *params: str):
    """`mlflow run` the trainer's entry point from ``tmp_path``; (CompletedProcess, run or None)."""
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", trainer.entry_point, "--env-manager", "local",
        "--experiment-name", EXPERIMENT, "-P", f"data={data}", *quick_mlflow_params(trainer),
        *params, cwd=tmp_path,
    )  # fmt: skip
    experiment = MlflowClient().get_experiment_by_name(EXPERIMENT)
    runs = runs_in(EXPERIMENT) if experiment else []
    return done, (runs[-1] if runs else None)


def test_an_id_a_date_a_boolean_and_spaced_names_train_and_serve_from_raw_rows(trainer, tmp_path):
    done, run = _train(trainer, tmp_path, RENEWALS, "-P", "target=renewed", "-P", "cost_fn=5")
    assert done.returncode == 0, done.stderr[-3000:]
    assert run.info.status == "FINISHED"
    assert "dropped customer_id: identifier: 600 distinct values in 600 rows" in done.stdout
    client = MlflowClient()
    path = client.download_artifacts(run.info.run_id, "features.json", str(tmp_path))
    features = json.loads(Path(path).read_text())
    roles = {c["name"]: c["role"] for c in features["columns"]}
    assert roles == {
        "customer_id": "dropped", "signup_date": "datetime", "is_premium": "boolean",
        "monthly spend": "numeric", "region": "categorical", "support calls": "numeric",
    }  # fmt: skip
    assert "signup_date_days" in features["encoded_features"]
    assert "monthly spend" in features["encoded_features"]  # real names, no transformer prefix
    metrics = run.data.metrics
    assert metrics["test_roc_auc"] > 0.7
    # Unit cost for a false positive, 5 for a false negative: between the error rate and 5x it.
    error_rate = 1 - metrics["test_accuracy"]
    assert error_rate < metrics["test_expected_cost"] < 5 * error_rate
    assert run.data.params["cost_fn"] == "5"

    model_uri = f"runs:/{run.info.run_id}/model"
    schema = mlflow.models.get_model_info(model_uri).signature.inputs.input_names()
    assert "customer_id" not in schema
    rows = pd.read_csv(RENEWALS).drop(columns=["renewed"]).head(6)
    rows.loc[0, "signup_date"] = None  # a missing date is imputed
    rows.loc[1, "region"] = "atlantis"  # an unseen category
    served = predict_in_fresh_process(model_uri, rows, tmp_path)
    assert served["prediction"].isin(["yes", "no"]).all()
    assert len(served) == 6


def _bad_table(tmp_path: Path, kind: str) -> tuple[Path, list[str], str]:
    """(table, extra -P params, the message its refusal must contain) for each bad input."""
    frame = pd.read_csv(RENEWALS)
    params: list[str] = []
    if kind == "target-missing-in-some-rows":
        frame.loc[[3, 8], "renewed"] = None
        message = "target column 'renewed' is missing in 2 of 600 rows"
    elif kind == "target-all-missing":
        frame["renewed"] = None
        message = "target column 'renewed' is empty"
    elif kind == "class-with-one-row":
        frame.loc[5, "renewed"] = "maybe"
        message = "class 'maybe' has only 1 row"
    elif kind == "date-does-not-parse":
        frame.loc[9, "signup_date"] = "2023-02-31x"
        message = "column 'signup_date' holds dates, but '2023-02-31x' (row 9) is not one"
    elif kind == "drop-names-a-missing-column":
        params = ["-P", "drop=customer id"]
        message = "drop= names column 'customer id', which is not a feature column"
    elif kind == "every-feature-dropped":
        frame = frame[["customer_id", "renewed"]].assign(constant=1)
        message = "every feature column was dropped (customer_id: identifier"
    else:  # duplicate column names
        path = tmp_path / "bad.csv"
        text = RENEWALS.read_text().replace("region", "support calls", 1)
        path.write_text(text)
        return path, params, "column name(s) repeated: support calls"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path, params, message


@pytest.mark.parametrize(
    "kind",
    [
        "target-missing-in-some-rows",
        "target-all-missing",
        "class-with-one-row",
        "date-does-not-parse",
        "drop-names-a-missing-column",
        "every-feature-dropped",
        "duplicate-column-names",
    ],
)
def test_a_bad_table_is_one_line_and_a_failed_run(kind, tmp_path):
    from trainers import get

    path, params, message = _bad_table(tmp_path, kind)
    done, run = _train(get("sklearn"), tmp_path, path, "-P", "target=renewed", *params)
    assert done.returncode != 0
    error = one_error_line(done.stderr)
    assert message in error
    assert run.info.status == "FAILED"
    assert message in run.data.tags["failure_reason"]
    assert MlflowClient().search_registered_models() == []


def test_a_column_of_fifty_thousand_categories_is_bounded(tmp_path):
    from trainers import get

    rng = np.random.default_rng(1)
    n = 60_000
    frame = pd.DataFrame(
        {
            "city": [f"c{i}" if i % 6 else "capital" for i in range(n)],  # 50,000 distinct
            "x": rng.normal(size=n),
        }
    )
    frame["y"] = np.where(frame["x"] + (frame["city"] == "capital") > 0.5, "a", "b")
    path = tmp_path / "cities.parquet"
    frame.to_parquet(path)
    done, run = _train(get("sklearn"), tmp_path, path, "-P", "target=y")
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient()
    features = json.loads(
        Path(client.download_artifacts(run.info.run_id, "features.json", str(tmp_path))).read_text()
    )
    assert {c["name"]: c["role"] for c in features["columns"]} == {
        "city": "categorical",
        "x": "numeric",
    }
    assert features["encoded_features"] == ["x", "city_capital", "city_infrequent_sklearn"]


def test_make_run_takes_the_table_its_target_and_more_parameters(tmp_path):
    store = tmp_path / "mlflow.db"
    done = run_tree(
        ["make", "-o", ".venv/.installed", "run", f"STORE={store}",
         "DATA=data/renewals_sample.csv", "TARGET=renewed",
         "ARGS=-P tune=false -P trainer=sklearn -P train_params='n_estimators=20' -P cost_fn=3"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    champion = client.get_model_version_by_alias("tabular-renewals_sample", "champion")
    trained = client.get_run(champion.tags["source_run_id"])
    assert trained.data.params["data"] == str(RENEWALS)  # made absolute by make
    assert trained.data.params["n_estimators"] == "20"
    assert float(trained.data.params["cost_fn"]) == 3
    assert (tmp_path / "mlartifacts").is_dir()  # artifacts beside the store

"""predict through main([...]) in process: pandas and spark_udf scoring, outputs, bad input."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_diabetes

import trainers
from common import data
from entrypoints import predict
from tests.helpers.runs import all_runs, train_main

NAME = "churn"
URI = f"models:/{NAME}@champion"


def _predict_runs():
    return all_runs("tags.entry_point = 'predict'")


def _expected(churn_csv) -> pd.DataFrame:
    rows = pd.read_csv(churn_csv)
    return pd.concat([rows, mlflow.pyfunc.load_model(URI).predict(rows)], axis=1)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_pandas_scoring_writes_rows_plus_predictions_and_logs_them(
    churn_champion, churn_csv, tmp_path, suffix
):
    out = tmp_path / f"scored{suffix}"
    assert predict.main(["--model-uri", URI, "--input", str(churn_csv), "--output", str(out)]) == 0
    scored = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    expected = _expected(churn_csv)
    if suffix == ".csv":
        expected = pd.read_csv(pd.io.common.StringIO(expected.to_csv(index=False)))
    pd.testing.assert_frame_equal(scored, expected)
    (run,) = _predict_runs()
    assert run.info.status == "FINISHED"
    assert run.data.metrics["rows_in"] == run.data.metrics["rows_out"] == 400
    metrics = run.data.metrics
    assert metrics["load_seconds"] > 0  # apart from scoring: rows_per_second counts scoring only
    assert metrics["rows_per_second"] == pytest.approx(400 / metrics["scoring_seconds"])
    assert run.data.tags["model_version"] == "1"
    assert run.data.tags["model_run_id"] == churn_champion
    assert run.info.run_name == "predict_churn_v1"
    logged = MlflowClient().list_artifacts(run.info.run_id, "predictions")
    assert [a.path for a in logged] == [f"predictions/scored{suffix}"]


@pytest.mark.slow
def test_spark_udf_scoring_equals_pandas_scoring(churn_champion, churn_csv, tmp_path):
    rows = pd.read_csv(churn_csv)
    rows.to_parquet(tmp_path / "rows.parquet")  # keeps pandas' dtypes, unlike CSV inference
    out = tmp_path / "scored.parquet"
    argv = ["--input", str(tmp_path / "rows.parquet"), "--output", str(out)]
    assert predict.main(["--model-uri", URI, *argv, "--engine", "spark"]) == 0
    scored = pd.read_parquet(out)  # Spark's output folder
    assert len(scored) == 400
    expected = _expected(churn_csv)
    key = ["tenure_months", "monthly_charges", "support_tickets", "customer_plan", "region"]
    left = scored.sort_values(key, na_position="first").reset_index(drop=True)
    right = expected.sort_values(key, na_position="first").reset_index(drop=True)
    probabilities = ["probability_no", "probability_yes"]
    pd.testing.assert_frame_equal(left[probabilities], right[probabilities])
    assert (left["prediction"] == right["prediction"]).all()
    (run,) = _predict_runs()
    assert run.data.metrics["rows_out"] == 400
    parts = MlflowClient().list_artifacts(run.info.run_id, "predictions/scored.parquet")
    assert any(a.path.endswith(".parquet") for a in parts)


@pytest.mark.slow
def test_spark_udf_scoring_of_a_regressor_equals_pandas_scoring(tmp_path):
    # A regressor's output is one column: spark_udf hands back a value, not a struct.
    assert train_main(trainers.get("xgboost"), "--data", "builtin:diabetes") == 0
    (trained,) = all_runs()
    model_uri = f"runs:/{trained.info.run_id}/model"
    rows = load_diabetes(as_frame=True).frame.drop(columns="target")
    rows.to_parquet(tmp_path / "rows.parquet")
    out = tmp_path / "scored.parquet"
    argv = ["--input", str(tmp_path / "rows.parquet"), "--output", str(out), "--engine", "spark"]
    assert predict.main(["--model-uri", model_uri, *argv]) == 0
    scored = pd.read_parquet(out).sort_values(list(rows.columns)).reset_index(drop=True)
    expected = pd.concat([rows, mlflow.pyfunc.load_model(model_uri).predict(rows)], axis=1)
    expected = expected.sort_values(list(rows.columns)).reset_index(drop=True)
    assert list(scored.columns) == [*rows.columns, "prediction"]
    assert scored["prediction"].to_numpy() == pytest.approx(expected["prediction"].to_numpy())
    (run,) = _predict_runs()
    assert run.info.status == "FINISHED"
    assert run.data.metrics["rows_out"] == len(rows)


@pytest.mark.slow
@pytest.mark.parametrize(("target", "task", "outputs"), [
    ("churn", "classification", ["prediction", "probability_no", "probability_yes"]),
    ("support_tickets", "regression", ["prediction"]),
])  # fmt: skip
def test_spark_udf_scores_xgboosts_category_codes_as_pandas_does(
    churn_csv, tmp_path, target, task, outputs
):
    """A single-node XGBoost model encodes text columns to category codes (CategoryCodes) inside
    Spark's Python workers as in pandas: gaps and the rare group included, classifier and
    regressor."""
    argv = ["--data", str(churn_csv), "--target", target, "--task", task, "--autolog", "false"]
    assert train_main(trainers.get("xgboost"), *argv) == 0
    (trained,) = all_runs()
    model_uri = f"runs:/{trained.info.run_id}/model"
    rows = pd.read_csv(churn_csv).drop(columns=target)
    assert rows[["customer_plan", "region"]].isna().any().any()  # gaps reach the codes
    rows.to_parquet(tmp_path / "rows.parquet")
    out = tmp_path / "scored.parquet"
    argv = ["--input", str(tmp_path / "rows.parquet"), "--output", str(out), "--engine", "spark"]
    assert predict.main(["--model-uri", model_uri, *argv]) == 0
    key = list(rows.columns)
    scored = pd.read_parquet(out).sort_values(key, na_position="first").reset_index(drop=True)
    expected = pd.concat([rows, mlflow.pyfunc.load_model(model_uri).predict(rows)], axis=1)
    expected = expected.sort_values(key, na_position="first").reset_index(drop=True)
    assert list(scored.columns) == [*key, *outputs]
    for column in outputs:
        if scored[column].dtype == object:
            assert (scored[column] == expected[column]).all()
        else:
            assert scored[column].to_numpy() == pytest.approx(expected[column].to_numpy())


@pytest.mark.parametrize(
    ("model_uri", "argv", "expected"),
    [
        (f"models:/{NAME}/1", [], "predict_churn_v1"),
        ("runs:/{run}/model", [], "predict_run_{short}"),
        (URI, ["--run-name", "mine"], "mine"),
    ],
)
def test_runs_are_named_after_the_model_version_unless_named(
    churn_champion, churn_csv, model_uri, argv, expected
):
    model_uri = model_uri.format(run=churn_champion)
    assert predict.main(["--model-uri", model_uri, "--input", str(churn_csv), *argv]) == 0
    (run,) = _predict_runs()
    assert run.info.run_name == expected.format(short=churn_champion[:8])


def test_missing_column_fails_the_run_with_mlflows_schema_message(
    churn_champion, churn_csv, tmp_path, capsys
):
    pd.read_csv(churn_csv).drop(columns="region").to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "scored.csv"
    argv = ["--model-uri", URI, "--input", str(tmp_path / "rows.csv"), "--output", str(out)]
    assert predict.main(argv) == 2
    err = capsys.readouterr().err
    assert (
        "error: input does not fit the model's signature: Model is missing inputs ['region']" in err
    )
    assert len(err) < 1000  # not the whole input echoed back
    (run,) = _predict_runs()
    assert run.info.status == "FAILED"
    assert not out.exists()


@pytest.mark.parametrize(
    ("model_uri", "message"),
    [
        (
            f"models:/{NAME}@production",
            "model 'churn' has no alias 'production' (aliases: champion)",
        ),
        ("models:/nobody@champion", "no registered model 'nobody'"),
        ("runs:/0123456789abcdef0123456789abcdef/model", "no model there"),
    ],
)
def test_a_model_that_does_not_exist_is_named(
    churn_champion, churn_csv, capsys, model_uri, message
):
    assert predict.main(["--model-uri", model_uri, "--input", str(churn_csv)]) == 2
    assert message in capsys.readouterr().err
    (run,) = _predict_runs()
    assert run.info.status == "FAILED"


def test_a_bad_artifact_budget_is_refused_before_scoring(
    churn_champion, churn_csv, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("TABULAR_ARTIFACT_BUDGET_MB", "abc")
    out = tmp_path / "scored.csv"
    argv = ["--model-uri", URI, "--input", str(churn_csv), "--output", str(out)]
    assert predict.main(argv) == 2
    assert "TABULAR_ARTIFACT_BUDGET_MB='abc': expected a positive number" in capsys.readouterr().err
    assert not out.exists()


def test_an_input_column_the_output_would_add_is_refused(
    churn_champion, churn_csv, tmp_path, capsys
):
    pd.read_csv(churn_csv).assign(prediction=1).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "scored.parquet"
    argv = ["--model-uri", URI, "--input", str(tmp_path / "rows.csv"), "--output", str(out)]
    assert predict.main(argv) == 2
    assert "input already has column(s) prediction, which the scored output adds" in (
        capsys.readouterr().err
    )
    assert not out.exists()


def test_a_zip_code_column_trains_and_scores_as_the_text_it_is(tmp_path):
    # The label follows the zip code's leading digit; read as numbers, 02134 and 2134 would merge.
    zips = [f"{z:05d}" for z in (2134, 2138, 90210, 90211, 10001, 60601)] * 40
    rows = pd.DataFrame({"zip": zips, "label": [z[0] == "0" for z in zips]})
    rows["label"] = rows["label"].map({True: "east", False: "west"})
    path = tmp_path / "zips.csv"
    rows.to_csv(path, index=False)
    assert train_main(trainers.get("sklearn"), "--data", str(path), "--target", "label") == 0
    (trained,) = all_runs()
    model_uri = f"runs:/{trained.info.run_id}/model"
    signature = mlflow.models.get_model_info(model_uri).signature.inputs.to_dict()
    assert {"name": "zip", "type": "string", "required": True} in signature
    # A file to score whose leading rows have no leading zero still reads the codes as text.
    scoring = tmp_path / "score.csv"
    west = ["90210"] * data.CODE_SAMPLE_ROWS
    pd.DataFrame({"zip": [*west, "02134", "02138"]}).to_csv(scoring, index=False)
    out = tmp_path / "scored.csv"
    argv = ["--model-uri", model_uri, "--input", str(scoring), "--output", str(out)]
    assert predict.main(argv) == 0
    scored = pd.read_csv(out, dtype={"zip": str})
    assert scored["prediction"].tolist() == ["west"] * len(west) + ["east"] * 2

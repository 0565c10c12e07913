"""main (the pipeline) in process: its parameters are checked before any step is launched."""

from __future__ import annotations

import pytest

from common.data import table_name
from entrypoints import main as pipeline
from tests.helpers.runs import all_runs


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tune", "false", "--trainer", "sklearn", "--train-params", "n_trees=5"], "n_trees=5"),
        (["--train-params", "n_estimators=5"], "train_params applies to tune=false"),
        (["--threshold", "high"], "expected float, got 'high'"),
        (["--margin", "-0.1"], "expected a number in [0.0, inf)"),
        (["--env-manager", "conda"], "invalid choice: 'conda'"),
        (["--trainer", "lightgbm"], "invalid choice: 'lightgbm'"),
        (["--backend", "nevergrad"], "argument --backend: invalid choice: 'nevergrad'"),
    ],
)
def test_bad_pipeline_parameters_stop_before_any_step_runs(argv, message, capsys):
    assert pipeline.main(argv) == 2
    assert message in capsys.readouterr().err
    assert all_runs() == []


def test_a_failing_step_fails_the_pipeline_and_names_the_step(capsys):
    argv = ["--tune", "false", "--trainer", "sklearn", "--data", "builtin:nothing"]
    assert pipeline.main([*argv, "--env-manager", "local"]) == 2
    err = capsys.readouterr().err
    assert "error: step train_sklearn failed: run " in err
    assert "data 'builtin:nothing': unknown builtin dataset" in err
    runs = {r.data.tags["entry_point"]: r for r in all_runs()}
    assert set(runs) == {"main", "train_sklearn"}
    assert runs["main"].info.status == runs["train_sklearn"].info.status == "FAILED"
    assert runs["train_sklearn"].data.tags["mlflow.parentRunId"] == runs["main"].info.run_id


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ("builtin:breast_cancer", "breast_cancer"),
        ("/data/churn_sample.csv", "churn_sample"),
        ("file:///data/My%20Table.parquet", "My Table"),
        ("s3://bucket/tables/churn_sample.csv", "churn_sample"),
        ("runs:/0123/data/churn_sample.csv", "churn_sample"),
    ],
)
def test_the_pipeline_names_its_run_after_the_table_as_the_training_step_does(data, name):
    assert table_name(data) == name

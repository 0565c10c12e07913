"""train_sklearn specifics: autologging, feature importance, strict parsing of its flags."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import trainers
from entrypoints import train_sklearn
from tests.helpers.runs import all_runs, logged_models, only_run, quick_flags, train_main

FAST = quick_flags(trainers.get("sklearn"))


def test_autolog_adds_estimator_params_but_no_model_and_nothing_at_the_artifact_root():
    assert train_sklearn.main(FAST) == 0
    run = only_run()
    assert run.data.params["n_estimators"] == "20"
    assert run.data.params["model__n_estimators"] == "20"
    assert run.data.params["model__random_state"] == "42"
    assert run.data.params["model__criterion"] == "gini"
    assert not [name for name in run.data.metrics if name.startswith("training_")]
    assert len(logged_models()) == 1  # only the custom pyfunc
    root = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert not [name for name in root if name.startswith("training_")]
    assert not root & {"estimator.html", "feature_importance_weight.png"}
    importance = MlflowClient().download_artifacts(run.info.run_id, "feature_importance.csv")
    table = pd.read_csv(importance)
    assert len(table) == 30
    assert table["importance"].is_monotonic_decreasing
    assert table["importance"].sum() == pytest.approx(1.0)


def test_autolog_false_logs_only_the_entry_point_parameters():
    assert train_sklearn.main([*FAST, "--autolog", "false"]) == 0
    run = only_run()
    assert not [name for name in run.data.params if name.startswith("model__")]
    assert run.data.params["autolog"] == "False"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n-estimators", "0"], "argument --n-estimators: expected an integer >= 1, got '0'"),
        (["--max-depth", "deep"], "argument --max-depth: expected int, got 'deep'"),
        (["--max-features", "abc"], "argument --max-features: expected float, got 'abc'"),
        (["--max-features", "1.5"], "expected a number in (0.0, 1.0]"),
        (["--autolog", "yes"], "expected true or false"),
        (["--test-size", "1.5"], "expected a number in (0.0, 1.0)"),
        (["--task", "ranking"], "argument --task: invalid choice: 'ranking'"),
    ],
)
def test_bad_values_fail_before_any_run_with_a_clear_message(argv, message, capsys):
    assert train_sklearn.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not all_runs()


def test_missing_file_fails_the_run(capsys):
    assert train_sklearn.main([*FAST, "--data", "missing.csv", "--target", "y"]) == 2
    assert "no such file" in capsys.readouterr().err
    run = only_run()
    assert run.info.status == "FAILED"
    assert not MlflowClient().list_artifacts(run.info.run_id)


def test_single_class_csv_is_refused(tmp_path, capsys):
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "a", "a"]}).to_csv(path, index=False)
    assert train_sklearn.main(["--data", str(path), "--target", "y"]) == 2
    assert "single class 'a'" in capsys.readouterr().err
    assert only_run().info.status == "FAILED"


def _features_json(run) -> dict:
    return mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/features.json")


def test_a_planted_leak_is_printed_tagged_and_marked_but_the_run_trains(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 600
    works = rng.random(n) < 0.55
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 65, n),
            "region": rng.choice(["north", "south", "east"], n),
            "hours_worked": np.where(works, rng.integers(5, 60, n), 0),
            "works": np.where(works, "yes", "no"),
        }
    )
    path = tmp_path / "labour.csv"
    frame.to_csv(path, index=False)
    assert train_main(trainers.get("sklearn"), "--data", str(path), "--target", "works") == 0
    lines = capsys.readouterr().out.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("features: "))
    assert lines[summary + 1] == "suspected leak: hours_worked (alone: roc_auc 1.000)"
    run = only_run()
    assert run.info.status == "FINISHED"
    assert run.data.tags["suspected_leaks"] == "hours_worked"
    entries = {c["name"]: c for c in _features_json(run)["columns"]}
    assert entries["hours_worked"]["suspected_leak"] is True
    assert entries["hours_worked"]["alone_score"] == pytest.approx(1.0)
    assert entries["hours_worked"]["role"] == "numeric"
    assert "suspected_leak" not in entries["age"]
    assert entries["age"]["alone_score"] < 0.8


def test_a_clean_table_gets_no_leak_flag(churn_csv: Path, capsys):
    argv = ["--data", str(churn_csv), "--target", "churn", "--autolog", "false"]
    assert train_main(trainers.get("sklearn"), *argv) == 0
    assert "suspected leak" not in capsys.readouterr().out
    run = only_run()
    assert run.data.tags["suspected_leaks"] == ""
    described = _features_json(run)
    assert not [c for c in described["columns"] if "suspected_leak" in c]
    used = [c for c in described["columns"] if c["role"] != "dropped"]
    assert all(0.5 <= c["alone_score"] < 0.99 for c in used)
    assert described["leak_screen"]["metric"] == "roc_auc"
    assert json.dumps(described, allow_nan=False)  # plain JSON: no NaN

"""The gate's policy on numbers alone: direction per metric, ties, margin, baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common import data
from common.errors import UserInputError
from jobs import gate


def test_a_tie_with_the_champion_keeps_the_champion_unless_a_margin_allows_it():
    (tie,) = gate.check("test_roc_auc", 0.9, 0.9, None, 0.0)
    assert "champion: test_roc_auc=0.9 vs champion's 0.9" in tie
    assert "a tie" in tie
    assert gate.check("test_roc_auc", 0.9, 0.9, None, 0.01) == []
    assert gate.check("test_roc_auc", 0.9, 0.905, None, 0.01) == []
    (worse,) = gate.check("test_roc_auc", 0.9, 0.92, None, 0.01)
    assert "worse by 0.02" in worse
    assert gate.check("test_roc_auc", 0.91, 0.9, None, 0.0) == []


def test_lower_is_better_metrics_are_judged_the_other_way():
    assert gate.check("test_rmse", 1.0, 2.0, None, 0.0, baseline=3.0) == []
    failures = gate.check("test_rmse", 2.0, 1.0, 1.5, 0.0, baseline=2.0)
    assert [f.split(":")[0] for f in failures] == ["baseline", "threshold", "champion"]
    assert "test_rmse=2 vs 2 for a naive model" in failures[0]


def test_a_tie_with_the_baseline_is_refused_naming_both_numbers():
    (failure,) = gate.check("test_roc_auc", 0.5, None, None, 0.0, baseline=0.5)
    assert failure.startswith("baseline: test_roc_auc=0.5 vs 0.5 for a naive model")
    assert gate.check("test_roc_auc", 0.51, None, None, 0.0, baseline=0.5) == []


def test_an_undefined_score_is_never_a_pass():
    (failure,) = gate.check("test_roc_auc", 0.9, None, None, 0.0, baseline=float("nan"))
    assert "baseline: test_roc_auc=nan" in failure


def _table(y, task: str) -> data.TabularData:
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=len(y)), "y": y})
    return data.prepare(frame, target="y", task=task, source="memory", name="t")


def test_the_baseline_predicts_the_training_priors_or_the_training_mean():
    table = _table(["a"] * 30 + ["b"] * 10, "classification")
    split = data.split(table, test_size=0.5, seed=0)
    assert gate.baseline_score(table, split, "test_roc_auc") == 0.5
    assert gate.baseline_score(table, split, "test_accuracy") == 0.75  # always the majority
    assert gate.baseline_score(table, split, "test_log_loss") == pytest.approx(
        -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    )
    table = _table(np.arange(40, dtype="float64"), "regression")
    split = data.split(table, test_size=0.25, seed=0)
    mean = split.y_train.mean()
    expected = np.sqrt(np.mean((split.y_test - mean) ** 2))
    assert gate.baseline_score(table, split, "test_rmse") == pytest.approx(expected)


def test_the_held_out_rows_keep_the_column_roles_the_run_chose(tmp_path):
    from types import SimpleNamespace

    from jobs.gate import held_out

    path = tmp_path / "t.csv"
    frame = pd.DataFrame({"order_id": range(100), "x": [i % 7 for i in range(100)]})
    frame.assign(y=["a", "b"] * 50).to_csv(path, index=False)
    params = {"data": str(path), "test_size": "0.2", "seed": "1", "numeric": "order_id"}
    run = SimpleNamespace(
        info=SimpleNamespace(run_id="r"),
        data=SimpleNamespace(params=params, tags={"target": "y", "task": "classification"}),
    )
    table, split = held_out(run)
    assert table.roles.numeric == ("order_id", "x")  # by default an identifier, dropped
    assert list(table.raw_rows(split.X_test.index).columns) == ["order_id", "x"]


def test_a_launcher_runs_quoted_params_are_read_as_the_user_gave_them(tmp_path):
    from types import SimpleNamespace

    from jobs.gate import held_out

    folder = tmp_path / "my tables"
    folder.mkdir()
    path = folder / "t.csv"
    frame = pd.DataFrame({"order_id": range(100), "x": [i % 7 for i in range(100)]})
    frame.assign(y=["a", "b"] * 50).to_csv(path, index=False)
    # What `mlflow run` logs: the shell-quoted text it put in the command.
    params = {"data": f"'{path}'", "test_size": "0.2", "seed": "1", "drop": "''", "numeric": "''"}
    tags = {"target": "y", "task": "classification", "mlflow.project.entryPoint": "train_sklearn"}
    run = SimpleNamespace(
        info=SimpleNamespace(run_id="r"), data=SimpleNamespace(params=params, tags=tags)
    )
    table, _ = held_out(run)
    assert table.roles.numeric == ("x",)
    assert "order_id" in table.roles.dropped


def test_a_table_changed_since_training_is_refused_not_silently_rescored(tmp_path):
    from types import SimpleNamespace

    from jobs.gate import held_out

    path = tmp_path / "t.csv"
    frame = pd.DataFrame({"x": [i % 7 for i in range(100)], "y": ["a", "b"] * 50})
    frame.to_csv(path, index=False)
    digest = data.load(str(path), target="y").digest
    params = {"data": str(path), "test_size": "0.2", "seed": "1"}
    tags = {"target": "y", "task": "classification", "data_digest": digest}
    run = SimpleNamespace(
        info=SimpleNamespace(run_id="r"), data=SimpleNamespace(params=params, tags=tags)
    )
    held_out(run)  # unchanged: fine
    frame.assign(y=frame["y"][::-1].to_numpy()).to_csv(path, index=False)
    with pytest.raises(UserInputError, match=r"changed since run r trained on it"):
        held_out(run)

"""What a logged model ships as code, and models logged by earlier commits still loading."""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

import mlflow
import pandas as pd
import pytest

import entrypoints  # noqa: F401  imported before any model's code folder lands on sys.path
from tests.helpers.processes import predict_in_fresh_process
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import only_run, train_main

# A train_sklearn model (3 trees, churn table) logged at commit 794c636, before trainers/
# existed: its config.json names `entrypoints.train_sklearn:load_estimator` and its code folder
# holds that commit's common/ and entrypoints/.
MODEL_BEFORE_TRAINERS = PROJECT_ROOT / "tests" / "fixtures" / "model_logged_at_794c636.tar.gz"


@pytest.fixture
def isolated_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model prepends its code folder to sys.path for good; undo that after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def _elsewhere(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere"
    path.mkdir()
    return path


def test_a_fresh_model_ships_common_and_trainers_only_and_loads_in_a_fresh_process(
    trainer, raw_rows, churn_csv, tmp_path, isolated_sys_path
):
    assert train_main(trainer, "--data", str(churn_csv), "--target", "churn") == 0
    model_uri = f"runs:/{only_run().info.run_id}/model"
    model_dir = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path)))
    assert sorted(p.name for p in (model_dir / "code").iterdir()) == ["common", "trainers"]
    fresh = predict_in_fresh_process(model_uri, raw_rows, _elsewhere(tmp_path))
    in_process = mlflow.pyfunc.load_model(model_uri).predict(raw_rows)
    assert fresh["prediction"].tolist() == in_process["prediction"].tolist()


def test_a_model_logged_before_the_trainers_library_loads_and_predicts_as_it_did(
    tmp_path, raw_rows, churn_csv, isolated_sys_path
):
    with tarfile.open(MODEL_BEFORE_TRAINERS) as archive:
        archive.extractall(tmp_path, filter="data")
    model_dir = tmp_path / "model"
    assert sorted(p.name for p in (model_dir / "code").iterdir()) == ["common", "entrypoints"]
    rows = pd.concat([raw_rows, pd.read_csv(churn_csv).drop(columns="churn").head(20)])
    rows = rows.reset_index(drop=True)
    # Its own code, in a process that has never imported this checkout's.
    fresh = predict_in_fresh_process(str(model_dir), rows, _elsewhere(tmp_path))
    # This checkout's code already imported: its config maps to the registry's loader.
    in_process = mlflow.pyfunc.load_model(str(model_dir)).predict(rows)
    assert Path(sys.modules["common.pyfunc"].__file__) == PROJECT_ROOT / "common" / "pyfunc.py"
    assert in_process["prediction"].isin(["yes", "no"]).all()
    assert fresh["prediction"].tolist() == in_process["prediction"].tolist()
    pd.testing.assert_series_equal(fresh["probability_yes"], in_process["probability_yes"])


# A train_xgboost model (10 rounds, renewals table: a date, a boolean, a text and two number
# columns) logged at commit 64e9074, the last tree before the run layer moved out of common/
# (issue 20); beside it the predictions it gave then for the table's first 20 rows.
MODEL_BEFORE_JOBS = PROJECT_ROOT / "tests" / "fixtures" / "model_logged_at_64e9074.tar.gz"


def test_a_model_logged_before_the_run_layer_moved_predicts_what_it_predicted_then(
    tmp_path, isolated_sys_path
):
    with tarfile.open(MODEL_BEFORE_JOBS) as archive:
        archive.extractall(tmp_path, filter="data")
    model_dir = tmp_path / "model"
    assert sorted(p.name for p in (model_dir / "code").iterdir()) == ["common", "trainers"]
    then = pd.read_csv(tmp_path / "model_predictions_at_64e9074.csv")
    table = PROJECT_ROOT / "data" / "renewals_sample.csv"
    rows = pd.read_csv(table).drop(columns="renewed").head(len(then))
    # Its own code, in a process that has never imported this checkout's.
    fresh = predict_in_fresh_process(str(model_dir), rows, _elsewhere(tmp_path))
    # This checkout's code already imported.
    in_process = mlflow.pyfunc.load_model(str(model_dir)).predict(rows)
    assert Path(sys.modules["common.pyfunc"].__file__) == PROJECT_ROOT / "common" / "pyfunc.py"
    for predicted in (fresh, in_process):
        assert predicted["prediction"].tolist() == then["prediction"].tolist()
        for column in ("probability_no", "probability_yes"):
            assert predicted[column].to_numpy() == pytest.approx(then[column].to_numpy(), abs=1e-6)

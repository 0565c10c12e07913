"""tune through main([...]) in process, with each backend: nested trials, the best logged, the
same record from hyperopt and Optuna, sequential and on local Spark; bad input refused."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_breast_cancer

from common import profile
from entrypoints import tune
from jobs import tuning
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import all_runs, logged_models

BACKENDS = list(tuning.BACKENDS)


def _parent_and_trials():
    runs = all_runs()
    (parent,) = [r for r in runs if r.data.tags.get("entry_point") == "tune"]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return parent, sorted(trials, key=lambda r: int(r.data.tags["trial"]))


def _small_table(tmp_path, rows: int):
    frame = load_breast_cancer(as_frame=True).frame.sample(rows, random_state=0)
    path = tmp_path / f"small{rows}.csv"
    frame.to_csv(path, index=False)
    return ["--data", str(path), "--target", "target"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_trial_is_a_nested_run_and_the_best_is_retrained_and_logged(backend, capsys):
    assert tune.main(["--trainer", "xgboost", "--max-evals", "4", "--backend", backend]) == 0
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial")]
    assert [line.split()[1] for line in progress] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("validation_roc_auc=" in line and "best " in line for line in progress)
    parent, trials = _parent_and_trials()
    assert parent.info.status == "FINISHED"
    assert parent.data.params["backend"] == backend
    assert [t.data.tags["trial"] for t in trials] == ["0", "1", "2", "3"]
    assert [t.info.run_name for t in trials] == ["trial_0", "trial_1", "trial_2", "trial_3"]
    assert {t.data.tags["entry_point"] for t in trials} == {"tune_trial"}
    assert all(t.info.status == "FINISHED" for t in trials)
    assert all(t.info.experiment_id == parent.info.experiment_id for t in trials)
    assert all("max_depth" in t.data.params for t in trials)
    scores = {t.info.run_id: t.data.metrics["validation_roc_auc"] for t in trials}
    best_id = max(scores, key=scores.get)
    assert parent.data.tags["best_run_id"] == best_id
    assert parent.data.metrics["best_validation_roc_auc"] == pytest.approx(scores[best_id])
    best = MlflowClient().get_run(best_id).data.params
    assert parent.data.params["best_max_depth"] == best["max_depth"]
    assert {k: parent.data.params[f"best_{k}"] for k in best} == best
    assert parent.data.tags["best_trial"] == MlflowClient().get_run(best_id).data.tags["trial"]
    assert parent.data.metrics["test_roc_auc"] > 0.95
    assert mlflow.get_experiment(parent.info.experiment_id).name == "tabular-training/tune"
    assert len(logged_models()) == 1  # trials log no model; the tuned one is the parent's
    model = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/model")
    assert model.predict(model.input_example)["prediction"].isin([0, 1]).all()
    artifacts = {a.path for a in MlflowClient().list_artifacts(parent.info.run_id, "plots")}
    assert "plots/search_history.png" in artifacts
    # The tuned model has a direct train_xgboost run's record of its fit.
    assert "plots/learning_curve.png" in artifacts
    rounds, best_round = parent.data.metrics["rounds_run"], parent.data.metrics["best_iteration"]
    assert 0 <= best_round < rounds <= 500  # within the default round budget
    per_round = MlflowClient().get_metric_history(parent.info.run_id, "validation_logloss")
    assert len(per_round) == rounds
    history = pd.read_csv(MlflowClient().download_artifacts(parent.info.run_id, "trials.csv"))
    assert history["trial"].tolist() == [0, 1, 2, 3]  # as the trial runs' tags, not 0.0
    assert history["trial"].dtype == "int64"
    assert history["run_id"].tolist() == [t.info.run_id for t in trials]
    assert history["status"].tolist() == ["ok"] * 4
    assert history["validation_roc_auc"].tolist() == pytest.approx(
        [t.data.metrics["validation_roc_auc"] for t in trials]
    )
    # The tuned model carries its training table's profile, for monitor.
    reference = profile.read(
        mlflow.artifacts.load_text(f"runs:/{parent.info.run_id}/model/artifacts/profile.json")
    )
    assert len(reference.columns) == 30  # breast_cancer's features
    assert reference.metrics["test_roc_auc"] == parent.data.metrics["test_roc_auc"]


def _tune_and_forget(argv: list[str]) -> tuple[list[dict], dict]:
    """Run tune, return (each trial's params, the parent's params), then delete the runs."""
    assert tune.main(argv) == 0
    parent, trials = _parent_and_trials()
    found = ([t.data.params for t in trials], parent.data.params)
    for run in (parent, *trials):
        MlflowClient().delete_run(run.info.run_id)
    return found


# Optuna: past TPESampler's 10 random start-up trials, so its model-based draws are checked too
# (on 150 rows, to keep 2 x 11 forests quick).
@pytest.mark.parametrize(("backend", "trials"), [("hyperopt", 3), ("optuna", 11)])
def test_same_seed_gives_the_same_trials_and_best_params(backend, trials, tmp_path):
    argv = ["--trainer", "sklearn", "--backend", backend, *_small_table(tmp_path, 150)]
    runs = [_tune_and_forget([*argv, "--max-evals", str(trials), "--seed", "5"]) for _ in "12"]
    assert runs[0] == runs[1]
    assert len(runs[0][0]) == trials
    assert any(k.startswith("best_") for k in runs[0][1])
    other_seed = _tune_and_forget([*argv, "--max-evals", "1", "--seed", "6"])
    assert other_seed[0] != runs[0][0][:1]  # the seed is what makes them equal


@pytest.mark.parametrize("backend", BACKENDS)
def test_failing_trials_are_recorded_and_the_search_goes_on(backend, tmp_path, capsys):
    # ~50 training rows per trial: batch_size 32 trains, 64 and 128 cannot.
    argv = ["--trainer", "pytorch", "--max-evals", "8", *_small_table(tmp_path, 110)]
    argv += ["--backend", backend]
    assert tune.main(argv) == 0
    parent, trials = _parent_and_trials()
    failed = [t for t in trials if t.info.status == "FAILED"]
    assert failed
    assert all("is larger than the" in t.data.tags["failure_reason"] for t in failed)
    assert len(failed) < len(trials) == 8
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial")]
    assert len(progress) == 8
    assert sum("  failed: UserInputError: batch_size=" in line for line in progress) == len(failed)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["trials_failed"] == len(failed)
    assert MlflowClient().get_run(parent.data.tags["best_run_id"]).info.status == "FINISHED"


@pytest.mark.parametrize("backend", BACKENDS)
def test_when_every_trial_fails_the_parent_fails(backend, tmp_path, capsys):
    argv = ["--trainer", "pytorch", "--max-evals", "3", *_small_table(tmp_path, 40)]
    argv += ["--backend", backend]
    assert tune.main(argv) == 2
    assert "all 3 trials failed: UserInputError: batch_size=" in capsys.readouterr().err
    parent, trials = _parent_and_trials()
    assert parent.info.status == "FAILED"
    assert "all 3 trials failed" in parent.data.tags["failure_reason"]
    assert [t.info.status for t in trials] == ["FAILED"] * 3


@pytest.mark.parametrize(
    ("argv", "message", "run_made"),
    [
        (["--max-evals", "0"], "argument --max-evals: expected an integer >= 1, got '0'", False),
        (["--trainer", "lightgbm"], "argument --trainer: invalid choice: 'lightgbm'", False),
        (["--backend", "nevergrad"], "argument --backend: invalid choice: 'nevergrad'", False),
        (["--metric", "test_rmse"], "metric 'test_rmse' does not apply to classification", True),
        (["--parallelism", "64"], "parallelism=64 but Spark offers", True),
        (["--backend", "optuna", "--parallelism", "64"], "parallelism=64 but Spark offers", True),
        (["--engine", "spark"], "tune has no engine: each trial trains on one machine", False),
    ],
)
def test_bad_input_is_refused_naming_the_problem(argv, message, run_made, capsys):
    assert tune.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("error: ")
    assert err.count("\n") == 1  # one line
    runs = all_runs()
    if run_made:
        assert [r.info.status for r in runs] == ["FAILED"]
        assert message in runs[0].data.tags["failure_reason"]
    else:
        assert not runs


def test_the_business_metric_can_be_what_the_search_minimises():
    argv = ["--trainer", "sklearn", "--max-evals", "3", "--metric", "test_expected_cost"]
    assert tune.main([*argv, "--cost-fp", "4", "--cost-fn", "1"]) == 0
    parent, trials = _parent_and_trials()
    costs = [t.data.metrics["validation_expected_cost"] for t in trials]
    assert len(costs) == 3
    assert all(c >= 0 for c in costs)
    assert parent.data.params["cost_fp"] == "4.0"
    assert parent.data.metrics["best_validation_expected_cost"] == min(costs)
    assert parent.data.metrics["test_expected_cost"] >= 0


def test_the_business_metric_is_refused_up_front_where_it_does_not_apply(capsys):
    argv = ["--trainer", "sklearn", "--max-evals", "2", "--metric", "test_expected_cost"]
    assert tune.main([*argv, "--data", "builtin:iris"]) == 2
    assert "metric 'test_expected_cost' needs classification with 2 classes; this table has 3" in (
        capsys.readouterr().err
    )
    (parent,) = all_runs()
    assert parent.info.status == "FAILED"
    assert not [r for r in all_runs() if r.data.tags.get("mlflow.parentRunId")]  # no trial ran


def test_the_tuned_model_run_carries_the_leak_screen(tmp_path, capsys):
    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis_code"] = frame["target"].map({0: "M", 1: "B"})  # the label, recorded again
    path = tmp_path / "leaky.csv"
    frame.to_csv(path, index=False)
    argv = ["--trainer", "sklearn", "--max-evals", "1", "--data", str(path), "--target", "target"]
    assert tune.main(argv) == 0
    assert "suspected leak: diagnosis_code (alone: roc_auc 1.000)" in capsys.readouterr().out
    parent, _ = _parent_and_trials()
    assert parent.data.tags["suspected_leaks"] == "diagnosis_code"
    described = mlflow.artifacts.load_dict(f"runs:/{parent.info.run_id}/features.json")
    (entry,) = [c for c in described["columns"] if c["name"] == "diagnosis_code"]
    assert entry["suspected_leak"] is True


# What the record of one search is, whichever backend and however the trials ran.
def _record(parent, trials) -> None:
    assert parent.info.status == "FINISHED"
    assert {t.info.status for t in trials} == {"FINISHED"}
    assert sorted(int(t.data.tags["trial"]) for t in trials) == list(range(len(trials)))
    assert parent.data.tags["best_run_id"] in {t.info.run_id for t in trials}
    best = MlflowClient().get_run(parent.data.tags["best_run_id"]).data.params
    assert best
    assert {k: parent.data.params[f"best_{k}"] for k in best} == best
    artifacts = {a.path for a in MlflowClient().list_artifacts(parent.info.run_id)}
    assert "trials.csv" in artifacts
    model = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/model")
    assert len(model.predict(model.input_example)) == len(model.input_example)
    plots = {a.path for a in MlflowClient().list_artifacts(parent.info.run_id, "plots")}
    assert "plots/search_history.png" in plots


# Every family with hyperopt here; Optuna's parallel search for every family runs through
# `mlflow run` in tests/e2e/test_tune_run.py, so one family suffices in process.
@pytest.mark.parametrize(
    ("trainer", "backend"),
    [
        ("sklearn", "hyperopt"),
        ("xgboost", "hyperopt"),
        ("pytorch", "hyperopt"),
        ("xgboost", "optuna"),
    ],
)
def test_parallel_trials_on_local_spark_leave_the_same_record(trainer, backend, capsys):
    argv = ["--trainer", trainer, "--backend", backend, "--max-evals", "2", "--parallelism", "2"]
    assert tune.main(argv) == 0
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial")]
    assert [line.split()[1] for line in progress] == ["1/2", "2/2"]
    parent, trials = _parent_and_trials()
    assert len(trials) == 2
    assert all(t.info.experiment_id == parent.info.experiment_id for t in trials)
    _record(parent, trials)


NO_OPTUNA = """
import sys
sys.modules["optuna"] = None  # what `import optuna` meets where it is not installed
from entrypoints import tune
raise SystemExit(tune.main(sys.argv[1:]))
"""


def test_optuna_asked_for_where_it_is_not_installed_is_one_line_naming_the_fix(tmp_path):
    argv = ["--trainer", "sklearn", "--max-evals", "2", "--backend", "optuna"]
    done = subprocess.run(
        [sys.executable, "-c", NO_OPTUNA, *argv],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.splitlines() == [
        "error: backend=optuna needs the optuna package, which is not installed here: install "
        "it as requirements.lock pins it (pip install -r requirements.lock), or use "
        "backend=hyperopt"
    ]
    (parent,) = all_runs()
    assert parent.info.status == "FAILED"
    assert "backend=optuna needs the optuna package" in parent.data.tags["failure_reason"]

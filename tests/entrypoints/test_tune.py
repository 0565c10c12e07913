"""tune through main([...]) in process: nested trials, the best logged, bad input refused."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_breast_cancer

from common import profile
from entrypoints import tune
from tests.helpers.runs import all_runs, logged_models


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


def test_each_trial_is_a_nested_run_and_the_best_is_retrained_and_logged(capsys):
    assert tune.main(["--trainer", "xgboost", "--max-evals", "4"]) == 0
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial")]
    assert [line.split()[1] for line in progress] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("validation_roc_auc=" in line and "best " in line for line in progress)
    parent, trials = _parent_and_trials()
    assert parent.info.status == "FINISHED"
    assert [t.data.tags["trial"] for t in trials] == ["0", "1", "2", "3"]
    assert all(t.info.status == "FINISHED" for t in trials)
    assert all(t.info.experiment_id == parent.info.experiment_id for t in trials)
    assert all("max_depth" in t.data.params for t in trials)
    scores = {t.info.run_id: t.data.metrics["validation_roc_auc"] for t in trials}
    best_id = max(scores, key=scores.get)
    assert parent.data.tags["best_run_id"] == best_id
    assert parent.data.metrics["best_validation_roc_auc"] == pytest.approx(scores[best_id])
    best = MlflowClient().get_run(best_id).data.params
    assert parent.data.params["best_max_depth"] == best["max_depth"]
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
    # The tuned model carries its training table's profile, for monitor.
    reference = profile.read(
        mlflow.artifacts.load_text(f"runs:/{parent.info.run_id}/model/artifacts/profile.json")
    )
    assert len(reference.columns) == 30  # breast_cancer's features
    assert reference.metrics["test_roc_auc"] == parent.data.metrics["test_roc_auc"]


def test_same_seed_gives_the_same_trials_and_best_params():
    argv = ["--trainer", "sklearn", "--max-evals", "3", "--seed", "5"]
    results = []
    for _ in range(2):
        assert tune.main(argv) == 0
        parent, trials = _parent_and_trials()
        results.append(([t.data.params for t in trials], parent.data.params))
        MlflowClient().delete_run(parent.info.run_id)
        for trial in trials:
            MlflowClient().delete_run(trial.info.run_id)
    assert results[0] == results[1]


def test_failing_trials_are_recorded_and_the_search_goes_on(tmp_path):
    # ~50 training rows per trial: batch_size 32 trains, 64 and 128 cannot.
    argv = ["--trainer", "pytorch", "--max-evals", "8", *_small_table(tmp_path, 110)]
    assert tune.main(argv) == 0
    parent, trials = _parent_and_trials()
    failed = [t for t in trials if t.info.status == "FAILED"]
    assert failed
    assert all("is larger than the" in t.data.tags["failure_reason"] for t in failed)
    assert len(failed) < len(trials) == 8
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["trials_failed"] == len(failed)
    assert MlflowClient().get_run(parent.data.tags["best_run_id"]).info.status == "FINISHED"


def test_when_every_trial_fails_the_parent_fails(tmp_path, capsys):
    argv = ["--trainer", "pytorch", "--max-evals", "3", *_small_table(tmp_path, 40)]
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
        (["--metric", "test_rmse"], "metric 'test_rmse' does not apply to classification", True),
        (["--parallelism", "64"], "parallelism=64 but Spark offers", True),
        (["--engine", "spark"], "tune has no engine: each trial trains on one machine", False),
    ],
)
def test_bad_input_is_refused_naming_the_problem(argv, message, run_made, capsys):
    assert tune.main(argv) == 2
    assert message in capsys.readouterr().err
    runs = all_runs()
    if run_made:
        assert [r.info.status for r in runs] == ["FAILED"]
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

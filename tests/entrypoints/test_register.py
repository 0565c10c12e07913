"""register through main([...]) in process: gates, aliases, idempotency, bad input."""

from __future__ import annotations

import os

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

import trainers
from entrypoints import register
from jobs import registration
from tests.helpers.runs import all_runs, train_main

NAME = "churn-model"


@pytest.fixture(autouse=True)
def _registry_follows_tracking():
    """register sets the registry URI for its process, environment included (databricks-uc in
    one test): undo it, so the next test's registry is its own store again."""
    yield
    mlflow.set_registry_uri(None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


def _train(*argv: str) -> str:
    assert train_main(trainers.get("sklearn"), "--autolog", "false", *argv) == 0
    return all_runs("tags.entry_point = 'train_sklearn'")[-1].info.run_id


def _versions():
    return MlflowClient().search_model_versions(f"name = '{NAME}'")


def test_first_registration_passes_and_promotion_moves_champion():
    run_id = _train()
    assert register.main(["--run-id", run_id, "--model-name", NAME, "--promote", "true"]) == 0
    (version,) = _versions()
    client = MlflowClient()
    assert client.get_model_version_by_alias(NAME, "champion").version == version.version
    assert client.get_model_version_by_alias(NAME, "challenger").version == version.version
    tags = version.tags
    assert tags["source_run_id"] == run_id
    assert tags["validation_status"] == "passed"
    assert float(tags["candidate_test_roc_auc"]) > 0.95
    assert "deployed_by" in tags
    assert "all checks passed" in client.get_model_version(NAME, version.version).description
    # Registering the same run again creates no second version.
    assert register.main(["--run-id", run_id, "--model-name", NAME]) == 0
    assert len(_versions()) == 1


def test_a_worse_model_is_refused_and_champion_stays(capsys):
    good = _train()
    out = capsys.readouterr().out  # each long step says what it does before doing it
    assert out.index("features:") < out.index("logging the model") < out.index("test_accuracy=")
    assert register.main(["--run-id", good, "--model-name", NAME, "--promote", "true"]) == 0
    assert "gate: scoring the candidate and the baseline on" in capsys.readouterr().out
    bad = _train("--max-depth", "1", "--n-estimators", "1", "--max-features", "0.05")
    assert register.main(["--run-id", bad, "--model-name", NAME, "--promote", "true"]) == 2
    out, err = capsys.readouterr()
    assert f"gate: scoring the candidate, the champion models:/{NAME}/1 and the baseline" in out
    assert "refused by the validation gate: champion: test_roc_auc=" in err
    assert "vs champion's" in err
    assert len(_versions()) == 1
    champion = MlflowClient().get_model_version_by_alias(NAME, "champion")
    assert champion.tags["source_run_id"] == good
    refused = all_runs("tags.entry_point = 'register'")[-1]
    assert refused.info.status == "FAILED"
    assert refused.data.tags["validation_status"] == "failed"


def test_threshold_gate_and_dry_run_records_the_verdict_without_blocking(capsys):
    run_id = _train()
    argv = ["--run-id", run_id, "--model-name", NAME, "--threshold", "0.999999"]
    assert register.main(argv) == 2
    assert "threshold: test_roc_auc=" in capsys.readouterr().err
    assert not _versions()
    assert register.main([*argv, "--mode", "dry_run"]) == 0
    (version,) = _versions()
    assert version.tags["validation_status"] == "failed (dry_run)"
    assert MlflowClient().get_model_version_by_alias(NAME, "challenger").version == version.version


def test_best_run_is_chosen_by_metric():
    weak = _train("--max-depth", "1", "--n-estimators", "1", "--max-features", "0.05")
    strong = _train()
    argv = ["--run-id", "best", "--metric", "test_roc_auc", "--model-name", NAME]
    assert register.main(argv) == 0
    (version,) = _versions()
    assert version.tags["source_run_id"] == strong != weak


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--run-id", "0" * 32], "no such run"),
        (["--run-id", "RUN", "--model-name", "a/b"], "model_name 'a/b'"),
        (
            ["--run-id", "RUN", "--registry-uri", "databricks-uc", "--model-name", "m"],
            "catalog.schema.model",
        ),
        (["--run-id", "RUN", "--metric", "test_rmse"], "metric 'test_rmse' is not on run"),
        (["--run-id", "RUN", "--threshold", "high"], "argument --threshold"),
        (["--run-id", "RUN", "--alias", "v2"], "alias 'v2'"),
        (["--run-id", "RUN", "--alias", "latest"], "alias 'latest'"),
        (["--run-id", "RUN", "--alias", "new champion"], "alias 'new champion'"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_registered(argv, message, capsys):
    run_id = _train()
    argv = [run_id if a == "RUN" else a for a in argv]
    assert register.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not MlflowClient().search_registered_models()


def test_a_run_without_a_model_is_refused(capsys):
    with mlflow.start_run() as run:
        mlflow.log_metric("test_roc_auc", 0.99)
    assert register.main(["--run-id", run.info.run_id, "--model-name", NAME]) == 2
    assert f"run {run.info.run_id} has no model named 'model'" in capsys.readouterr().err
    assert not MlflowClient().search_registered_models()


def _model_with_inputs_only() -> str:
    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    inputs_only = ModelSignature(inputs=Schema([ColSpec("double", "x")]))
    with mlflow.start_run() as run:
        mlflow.log_metric("test_roc_auc", 0.99)
        mlflow.set_tag("task", "classification")
        mlflow.pyfunc.log_model(
            name="model", python_model=Echo(), signature=inputs_only,
            input_example=pd.DataFrame({"x": [1.0]}),
        )  # fmt: skip
    return run.info.run_id


def test_unity_catalog_needs_a_signature_with_outputs(capsys):
    argv = ["--run-id", _model_with_inputs_only(), "--registry-uri", "databricks-uc"]
    assert register.main([*argv, "--model-name", "main.default.churn"]) == 2
    assert "Unity Catalog needs a signature with inputs and outputs" in capsys.readouterr().err


def test_every_registry_refuses_a_model_without_a_full_signature_unless_allowed(
    capsys, monkeypatch
):
    run_id = _model_with_inputs_only()
    argv = ["--run-id", run_id, "--model-name", "echo", "--mode", "disabled"]
    assert register.main(argv) == 2
    err = capsys.readouterr().err
    assert "has no signature with inputs and outputs" in err
    assert f"{registration.ALLOW_NO_SIGNATURE}=true" in err
    assert not MlflowClient().search_registered_models()
    monkeypatch.setenv(registration.ALLOW_NO_SIGNATURE, "true")
    assert register.main(argv) == 0
    assert MlflowClient().get_registered_model("echo").name == "echo"


def _churn(churn_csv, *argv: str) -> str:
    return _train("--data", str(churn_csv), "--target", "churn", *argv)


def test_the_model_is_named_after_the_candidates_table_and_the_baseline_is_logged(churn_csv):
    churn = _churn(churn_csv)
    cancer = _train()
    for run_id in (churn, cancer):
        assert register.main(["--run-id", run_id, "--promote", "true"]) == 0
    client = MlflowClient()
    for name, run_id in (("tabular-churn_sample", churn), ("tabular-breast_cancer", cancer)):
        champion = client.get_model_version_by_alias(name, "champion")
        assert champion.tags["source_run_id"] == run_id
        assert float(champion.tags["baseline_test_roc_auc"]) == 0.5  # the class priors
        candidate = client.get_run(run_id).data.metrics
        assert candidate["baseline_test_roc_auc"] == 0.5
        assert candidate["test_roc_auc"] > 0.5
    churn_register = all_runs("tags.entry_point = 'register'")[0]
    assert churn_register.info.run_name == "register_tabular-churn_sample_v1"
    assert churn_register.data.tags["model_name"] == "tabular-churn_sample"
    assert churn_register.data.metrics["baseline_test_roc_auc"] == 0.5


def test_a_champion_trained_on_another_table_is_refused_in_one_line(churn_csv, capsys):
    cancer = _train()
    assert register.main(["--run-id", cancer, "--model-name", NAME, "--promote", "true"]) == 0
    churn = _churn(churn_csv)
    capsys.readouterr()
    for mode in ("enabled", "disabled"):
        assert register.main(["--run-id", churn, "--model-name", NAME, "--mode", mode]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert err.startswith(
            f"error: model '{NAME}': its champion (version 1) was trained on other data ("
        )
        assert "target 'target' vs the candidate's 'churn'" in err
        assert "columns the candidate lacks: mean radius, mean texture" in err
        assert "and 25 more" in err  # 30 columns, 5 named
        assert "columns only the candidate has: customer_plan, region, tenure_months" in err
        assert "-P model_name=" in err
        assert "delete_registered_model_alias" in err
        refused = all_runs("tags.entry_point = 'register'")[-1]
        assert refused.info.status == "FAILED"
        assert "trained on other data" in refused.data.tags["failure_reason"]
        assert refused.info.run_name == f"register_{NAME}_refused"
    assert [v.tags["source_run_id"] for v in _versions()] == [cancer]


def _month_two(churn_csv, tmp_path, change) -> str:
    """A champion on the churn table, then a candidate trained on ``change(table)``."""
    champion = _churn(churn_csv)
    assert register.main(["--run-id", champion, "--model-name", NAME, "--promote", "true"]) == 0
    change(pd.read_csv(churn_csv)).to_csv(tmp_path / "churn_sample.csv", index=False)
    return _churn(tmp_path / "churn_sample.csv")


def test_next_months_table_with_a_gap_and_a_new_column_is_judged_against_the_champion(
    churn_csv, tmp_path, capsys
):
    def widened(table: pd.DataFrame) -> pd.DataFrame:
        table = table.astype({"support_tickets": "float64"})  # long -> double in a signature
        table.loc[0, "support_tickets"] = None
        return table.assign(contract_months=np.arange(len(table)) % 24)

    candidate = _month_two(churn_csv, tmp_path, widened)
    assert register.main(["--run-id", candidate, "--model-name", NAME, "--margin", "1"]) == 0
    (judged,) = [r for r in all_runs("tags.entry_point = 'register'")[1:]]
    # The champion was scored on the candidate's rows (widened types, an extra column).
    assert 0.5 < judged.data.metrics["champion_test_roc_auc"] <= 1.0
    assert judged.data.metrics["candidate_test_roc_auc"] > 0.5
    assert "schema_change" not in judged.data.tags
    assert len(_versions()) == 2


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        (lambda t: t.drop(columns="region"), "columns the candidate lacks: region"),
        (
            lambda t: t.assign(support_tickets=t["support_tickets"].map(lambda v: f"n{v}")),
            "columns of another kind: support_tickets number->text",
        ),
    ],
    ids=["column-gone", "number-to-text"],
)
def test_a_schema_that_is_not_comparable_is_refused_unless_replacing_is_asked_for(
    change, difference, churn_csv, tmp_path, capsys
):
    candidate = _month_two(churn_csv, tmp_path, change)
    capsys.readouterr()
    assert register.main(["--run-id", candidate, "--model-name", NAME]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert difference in err
    assert "-P schema_change=replace" in err
    assert len(_versions()) == 1
    # A scheduled job's way out: judged by the baseline only, the replacement recorded.
    argv = ["--run-id", candidate, "--model-name", NAME, "--schema-change", "replace"]
    assert register.main([*argv, "--promote", "true"]) == 0
    replaced = all_runs("tags.entry_point = 'register'")[-1]
    assert difference in replaced.data.tags["schema_change"]
    assert "champion_test_roc_auc" not in replaced.data.metrics
    assert replaced.data.metrics["baseline_test_roc_auc"] == 0.5
    champion = MlflowClient().get_model_version_by_alias(NAME, "champion")
    assert champion.tags["source_run_id"] == candidate
    assert difference in champion.tags["schema_change"]


def test_another_target_is_never_let_through_by_schema_change_replace(churn_csv, capsys):
    cancer = _train()
    assert register.main(["--run-id", cancer, "--model-name", NAME, "--promote", "true"]) == 0
    argv = ["--run-id", _churn(churn_csv), "--model-name", NAME, "--schema-change", "replace"]
    assert register.main(argv) == 2
    assert "target 'target' vs the candidate's 'churn'" in capsys.readouterr().err
    assert len(_versions()) == 1


def test_run_id_best_without_a_metric_ranks_by_the_tasks_default(capsys):
    runs = [_train(), _train("--n-estimators", "3")]
    assert register.main(["--run-id", "best", "--model-name", NAME, "--mode", "dry_run"]) == 0
    out = capsys.readouterr().out
    assert "run_id=best: ranking by test_roc_auc, the default for classification" in out
    scores = {r: MlflowClient().get_run(r).data.metrics["test_roc_auc"] for r in runs}
    (version,) = _versions()
    assert version.run_id == max(scores, key=scores.get)


def test_a_run_with_a_crafted_task_tag_is_refused_in_one_line(capsys):
    run_id = _train()
    MlflowClient().set_tag(run_id, "task", "clustering')]; import os")
    capsys.readouterr()
    assert register.main(["--run-id", run_id, "--model-name", NAME]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "has task tag" in err
    assert not MlflowClient().search_registered_models()


def test_a_signature_refusal_names_the_register_run(capsys):
    run_id = _model_with_inputs_only()
    assert register.main(["--run-id", run_id, "--model-name", "echo", "--mode", "disabled"]) == 2
    refused = all_runs("tags.entry_point = 'register'")[-1]
    assert refused.info.run_name == "register_echo_refused"
    assert refused.info.status == "FAILED"


def test_a_model_no_better_than_the_class_priors_is_refused(tmp_path, capsys):
    rng = np.random.default_rng(0)
    noise = pd.DataFrame({"x": rng.normal(size=300), "y": rng.choice(["a", "b"], size=300)})
    noise.to_csv(tmp_path / "noise.csv", index=False)
    run_id = _train("--data", str(tmp_path / "noise.csv"), "--target", "y")
    argv = ["--run-id", run_id, "--metric", "test_log_loss"]
    assert register.main(argv) == 2
    err = capsys.readouterr().err
    candidate = MlflowClient().get_run(run_id).data.metrics
    baseline = candidate["baseline_test_log_loss"]
    assert candidate["test_log_loss"] > baseline  # an overfit forest on noise
    assert f"baseline: test_log_loss={candidate['test_log_loss']:.6g} vs {baseline:.6g}" in err
    assert not MlflowClient().search_registered_models()
    assert register.main([*argv, "--baseline", "false"]) == 0
    assert MlflowClient().get_model_version_by_alias("tabular-noise", "challenger")


def test_best_ranks_only_the_runs_of_the_newest_runs_data_unless_told(churn_csv, capsys):
    cancer = _train()  # a far higher ROC AUC than any churn model
    churn = [_churn(churn_csv), _churn(churn_csv, "--max-depth", "1", "--n-estimators", "1")]
    scores = {r: MlflowClient().get_run(r).data.metrics["test_roc_auc"] for r in churn}
    best = max(scores, key=scores.get)
    argv = ["--run-id", "best", "--metric", "test_roc_auc", "--mode", "dry_run"]
    assert register.main(argv) == 0
    out = capsys.readouterr().out
    name = MlflowClient().get_run(best).info.run_name
    assert name.startswith("random_forest_classifier_churn_sample_v")
    assert f"run_id=best: run {best} ({name}), test_roc_auc={scores[best]:.6g}, best of 2 " in out
    assert "FINISHED run(s) with data_version=" in out
    assert "target=churn in experiment 'tabular-training/train'" in out
    assert register.main([*argv, "--data-version", "any"]) == 0
    assert f"run_id=best: run {cancer} " in capsys.readouterr().out
    registered = {v.tags["source_run_id"] for v in MlflowClient().search_model_versions()}
    assert registered == {best, cancer}


def test_register_warns_about_a_candidates_suspected_leaks_but_does_not_refuse(tmp_path, capsys):
    rng = np.random.default_rng(0)
    works = rng.random(600) < 0.55
    frame = pd.DataFrame(
        {"age": rng.integers(18, 65, 600), "hours_worked": np.where(works, 40, 0),
         "works": np.where(works, "yes", "no")}
    )  # fmt: skip
    frame.to_csv(tmp_path / "labour.csv", index=False)
    run_id = _train("--data", str(tmp_path / "labour.csv"), "--target", "works")
    capsys.readouterr()
    assert register.main(["--run-id", run_id, "--model-name", NAME]) == 0
    out = capsys.readouterr().out
    assert f"warning: run {run_id} has suspected leaks (hours_worked)" in out
    assert len(_versions()) == 1


def test_a_deployment_registers_only_in_its_own_namespace(monkeypatch, capsys):
    """databricks.yml gives each target's jobs TABULAR_MODEL_NAMESPACE: a dev job cannot
    register into prod's schema or move its champion, whatever model name it is handed."""
    run_id = _train()
    prod = "main.ml.tabular_training"
    assert register.main(["--run-id", run_id, "--model-name", prod, "--promote", "true"]) == 0
    monkeypatch.setenv(registration.MODEL_NAMESPACE, "main.ml_dev")
    monkeypatch.setenv("TABULAR_BUNDLE_TARGET", "dev")
    other = _train("--n-estimators", "5")
    argv = ["--run-id", other, "--model-name", prod, "--promote", "true", "--margin", "1"]
    assert register.main(argv) == 2
    err = capsys.readouterr().err
    assert (
        f"error: model_name '{prod}' is outside main.ml_dev, the only namespace dev's jobs "
        "register in"
    ) in err
    client = MlflowClient()
    assert [str(v.version) for v in client.search_model_versions(f"name = '{prod}'")] == ["1"]
    assert client.get_model_version_by_alias(prod, "champion").tags["source_run_id"] == run_id
    dev = "main.ml_dev.tabular_training"
    assert register.main(["--run-id", other, "--model-name", dev, "--promote", "true"]) == 0
    assert client.get_model_version_by_alias(dev, "champion").tags["source_run_id"] == other

"""register through `mlflow run`: a trained run becomes the champion version under its table's
name; a champion trained on another table is refused in one line."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from entrypoints import register
from tests.helpers.processes import mlflow_cli
from tests.helpers.project import CHURN_CSV, PROJECT_ROOT
from tests.helpers.runs import QUICK_PARAMS, launch, runs_in

pytestmark = pytest.mark.slow

EXPERIMENT = "tabular-training/register"
QUICK = QUICK_PARAMS["sklearn"]


def _register(*params: str, cwd):
    args = [arg for param in params for arg in ("-P", param)]
    return mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "register", "--env-manager", "local",
        "--experiment-name", EXPERIMENT, *args, cwd=cwd,
    )  # fmt: skip


def test_trained_run_is_registered_and_promoted_through_mlflow_run(launch_dir):
    trained = launch(PROJECT_ROOT, "train_sklearn", **QUICK)
    done = _register(f"run_id={trained}", "promote=true", cwd=launch_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    champion = MlflowClient().get_model_version_by_alias("tabular-breast_cancer", "champion")
    assert champion.tags["source_run_id"] == trained
    assert champion.tags["validation_status"] == "passed"
    (run,) = runs_in(EXPERIMENT)
    assert run.info.run_name == "register_tabular-breast_cancer_v1"
    assert run.data.metrics["baseline_test_roc_auc"] == 0.5


def test_a_champion_of_another_schema_is_refused_in_one_line_and_nothing_registers(launch_dir):
    cancer = launch(PROJECT_ROOT, "train_sklearn", **QUICK)
    assert register.main(["--run-id", cancer, "--model-name", "shared", "--promote", "true"]) == 0
    churn = launch(PROJECT_ROOT, "train_sklearn", data=str(CHURN_CSV), target="churn", **QUICK)
    done = _register(f"run_id={churn}", "model_name=shared", "promote=true", cwd=launch_dir)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: model 'shared': its champion (version 1) was trained on other data (target "
        "'target' vs the candidate's 'churn'; columns the candidate lacks: mean radius, mean "
        "texture, mean perimeter, mean area, mean smoothness and 25 more; columns only the "
        "candidate has: customer_plan, region, tenure_months, monthly_charges, support_tickets); "
        "register under another name (-P model_name=...) or retire that champion "
        "(MlflowClient().delete_registered_model_alias('shared', 'champion'))"
    ]
    assert "Traceback" not in done.stderr
    (run,) = runs_in(EXPERIMENT, "tags.`mlflow.project.entryPoint` = 'register'")
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"] == f"UserInputError: {errors[0].removeprefix('error: ')}"
    assert run.info.run_name == "register_shared_refused"
    client = MlflowClient()
    assert [v.tags["source_run_id"] for v in client.search_model_versions("name = 'shared'")] == [
        cancer
    ]
    assert client.search_model_versions("name = 'tabular-churn_sample'") == []

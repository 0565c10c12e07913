"""tune through `mlflow run` with each backend, in process and with parallel trials on local
Spark, for every trainer; and main passing its backend on to its tune step."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from tests.helpers.processes import mlflow_cli
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import runs_in

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("backend", "parallelism"), [("hyperopt", "1"), ("hyperopt", "2"), ("optuna", "2")]
)
def test_tune_xgboost_gives_eight_finished_trials_under_the_parent_and_a_tuned_model(
    parallelism, backend, launch_dir
):
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "tune", "--env-manager", "local",
        "--experiment-name", "tabular-training/tune", "-P", f"backend={backend}",
        "-P", "trainer=xgboost", "-P", "max_evals=8", "-P", f"parallelism={parallelism}",
        cwd=launch_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("log4j" in done.stderr) == (parallelism == "2")  # no Spark for sequential search
    assert "trial 8/8  validation_roc_auc=" in done.stdout  # progress from Spark's trials too
    assert "WARN" not in done.stdout
    runs = runs_in("tabular-training/tune")
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 9
    assert sorted(int(t.data.tags["trial"]) for t in trials) == list(range(8))
    assert {t.info.status for t in trials} == {"FINISHED"}
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["mlflow.project.entryPoint"] == "tune"
    assert parent.data.params["backend"] == backend
    assert parent.data.tags["best_run_id"] in {t.info.run_id for t in trials}
    # Trials never attached to the launcher's run (MLFLOW_RUN_ID leaks into Spark workers).
    assert "max_depth" not in parent.data.params
    assert "validation_roc_auc" not in parent.data.metrics
    model = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/model")
    assert model.predict(model.input_example)["prediction"].isin([0, 1]).all()


# xgboost is above with 8 trials; here the rest of the matrix (every family, each backend, in
# process and on Spark) with 2 trials, each family and each backend on a classification and a
# regression table.
MATRIX = [
    ("sklearn", "hyperopt", "1", "regression"),
    ("sklearn", "hyperopt", "2", "classification"),
    ("sklearn", "optuna", "1", "classification"),
    ("sklearn", "optuna", "2", "regression"),
    ("pytorch", "hyperopt", "1", "classification"),
    ("pytorch", "hyperopt", "2", "regression"),
    ("pytorch", "optuna", "1", "regression"),
    ("pytorch", "optuna", "2", "classification"),
    ("xgboost", "optuna", "1", "regression"),
]
TABLES = {
    "classification": ("builtin:breast_cancer", "validation_roc_auc", "classifier"),
    "regression": ("builtin:diabetes", "validation_rmse", "regressor"),
}
FAMILIES = {"sklearn": "random_forest", "pytorch": "mlp", "xgboost": "xgboost"}


@pytest.mark.parametrize(("trainer", "backend", "parallelism", "task"), MATRIX)
def test_tune_finishes_for_every_family_backend_and_task(
    trainer, backend, parallelism, task, launch_dir
):
    data, metric, kind = TABLES[task]
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "tune", "--env-manager", "local",
        "--experiment-name", "tabular-training/tune", "-P", f"backend={backend}",
        "-P", f"trainer={trainer}", "-P", f"data={data}", "-P", "max_evals=2",
        "-P", f"parallelism={parallelism}",
        cwd=launch_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("log4j" in done.stderr) == (parallelism == "2")
    assert f"trial 2/2  {metric}=" in done.stdout
    runs = runs_in("tabular-training/tune")
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 3
    assert sorted(t.data.tags["trial"] for t in trials) == ["0", "1"]
    assert {t.info.status for t in trials} == {"FINISHED"} == {parent.info.status}
    assert all(np.isfinite(t.data.metrics[metric]) for t in trials)
    assert parent.data.params["backend"] == backend
    assert parent.data.tags["model_type"] == f"{FAMILIES[trainer]}_{kind}"
    assert parent.data.tags["best_run_id"] in {t.info.run_id for t in trials}
    model = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/model")
    predicted = model.predict(model.input_example)["prediction"]
    if task == "classification":
        assert predicted.isin([0, 1]).all()
    else:
        assert np.isfinite(predicted.astype(float)).all()


def test_main_passes_its_backend_on_to_the_tune_step(launch_dir):
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "--env-manager", "local",
        "--experiment-name", "tabular-training/pipeline", "-P", "backend=optuna",
        "-P", "trainer=sklearn", "-P", "max_evals=2",
        cwd=launch_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    runs = runs_in("tabular-training/pipeline")
    (tuned,) = [r for r in runs if r.data.tags.get("mlflow.project.entryPoint") == "tune"]
    assert tuned.data.params["backend"] == "optuna"
    assert tuned.info.status == "FINISHED"
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == tuned.info.run_id]
    assert [t.data.tags["entry_point"] for t in trials] == ["tune_trial"] * 2
    assert "log4j" not in done.stderr  # sequential: no Spark
    assert "trial 2/2  validation_roc_auc=" in done.stdout

"""tune through `mlflow run`, in process and with parallel trials on local Spark."""

from __future__ import annotations

import mlflow
import pytest

from tests.helpers.processes import mlflow_cli
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import runs_in

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("parallelism", ["1", "2"])
def test_tune_xgboost_gives_eight_finished_trials_under_the_parent_and_a_tuned_model(
    parallelism, launch_dir
):
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "tune", "--env-manager", "local",
        "--experiment-name", "tabular-training/tune",
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
    assert parent.data.tags["best_run_id"] in {t.info.run_id for t in trials}
    # Trials never attached to the launcher's run (MLFLOW_RUN_ID leaks into Spark workers).
    assert "max_depth" not in parent.data.params
    assert "validation_roc_auc" not in parent.data.metrics
    model = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/model")
    assert model.predict(model.input_example)["prediction"].isin([0, 1]).all()

"""The loop through `mlflow run`: train and register a champion, monitor it, and let
`main -P retrain=if_drift` retrain only once monitoring found drift."""

from __future__ import annotations

import json

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import drift_tables
from tests.helpers.processes import mlflow_cli
from tests.helpers.runs import runs_in

pytestmark = pytest.mark.slow

MODEL = "tabular-monitored"
PIPELINE, MONITOR = "tabular-training/pipeline", "tabular-training/monitor"


def test_retrain_if_drift_waits_for_the_monitors_verdict(project_repo, launch_dir, tmp_path):
    repo, _ = project_repo
    train = drift_tables.write(drift_tables.table(3000, 0), tmp_path / "monitored.csv")
    same = drift_tables.write(drift_tables.table(1500, 1), tmp_path / "same.csv")
    new_rows = drift_tables.table(1500, 2, shift=1.0, shares=(0.2, 0.3, 0.5))
    drifted = drift_tables.write(new_rows, tmp_path / "drifted.csv")
    launch = ["run", str(repo), "--env-manager", "local", "--experiment-name"]
    pipeline = [*launch, PIPELINE, "-P", f"data={train}", "-P", f"model_name={MODEL}",
                "-P", "target=churned", "-P", "tune=false", "-P", "trainer=sklearn",
                "-P", "train_params=n_estimators=20", "-P", "retrain=if_drift"]  # fmt: skip
    monitor = [*launch, MONITOR, "-e", "monitor", "-P", f"model_uri=models:/{MODEL}@champion"]

    first = mlflow_cli(*pipeline, cwd=launch_dir)  # no champion yet: trains
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"{MODEL} has no champion yet: training" in first.stdout
    client = MlflowClient()
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"

    unwatched = mlflow_cli(*pipeline, cwd=launch_dir)
    assert unwatched.returncode == 0, unwatched.stderr[-3000:]
    assert "has no monitoring run yet" in unwatched.stdout

    watched = mlflow_cli(*monitor, "-P", f"input={same}", cwd=launch_dir)
    assert watched.returncode == 0, watched.stderr[-3000:]
    (calm,) = runs_in(MONITOR)
    assert calm.info.run_name == f"monitor_{MODEL}_v1"
    assert calm.data.tags["drift_detected"] == "false"
    quiet = mlflow_cli(*pipeline, cwd=launch_dir)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert f"its latest monitor run {calm.info.run_id} found no drift" in quiet.stdout
    skipped = runs_in(PIPELINE, "tags.retrain_decision = 'skipped'")
    assert len(skipped) == 2
    assert all(r.info.status == "FINISHED" for r in skipped)
    assert len(runs_in(PIPELINE, "tags.`mlflow.project.entryPoint` = 'train_sklearn'")) == 1

    # A scheduled job's alarm: fail_on_drift ends the monitor FAILED, its findings logged.
    alarm = mlflow_cli(*monitor, "-P", f"input={drifted}", "-P", "fail_on_drift=true",
                       cwd=launch_dir)  # fmt: skip
    assert alarm.returncode != 0
    assert "fail_on_drift: drift in 2 column(s)" in alarm.stderr
    found = runs_in(MONITOR)[-1]
    assert found.info.status == "FAILED"
    entries = json.loads(mlflow.artifacts.load_text(f"runs:/{found.info.run_id}/drift.json"))
    assert {e["column"] for e in entries if e["drifted"]} == {"income", "city"}
    version = client.get_model_version(MODEL, "1")
    assert version.tags["monitoring_verdict"] == "retrain"
    assert version.tags["monitoring_run_id"] == found.info.run_id

    # Next month's table, drawn like the drifted batch (rows the champion never trained on: the
    # gate scores both models on the candidate's test split).
    rows = drift_tables.table(3000, 5, shift=1.0, shares=(0.2, 0.3, 0.5))
    month_two = drift_tables.write(rows, tmp_path / "monitored_month_two.csv")
    again = [arg if not arg.startswith("data=") else f"data={month_two}" for arg in pipeline]
    retrained = mlflow_cli(*again, cwd=launch_dir)
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert f"monitor run {found.info.run_id} found drift in income,city: retraining" in (
        retrained.stdout
    )
    trained = runs_in(PIPELINE, "tags.`mlflow.project.entryPoint` = 'train_sklearn'")
    assert len(trained) == 2
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert str(champion.version) == "2"
    assert champion.tags["source_run_id"] == trained[-1].info.run_id
    assert "monitoring_verdict" not in champion.tags  # a new champion: not watched yet
    # Its description is the model card: the table, its columns, the verdict and three scores.
    card = champion.description
    assert card.startswith(f"# {MODEL}: model card")
    assert "**Gate: passed** on `test_roc_auc`" in card
    assert "| table | `monitored_month_two` |" in card
    assert "| `city` | categorical |" in card
    scores = card.split("same rows for all three):")[1]
    for role in ("candidate", "champion", "naive baseline"):
        assert f"| {role} | 0." in scores, role
    assert "## Candidate beside champion" in card

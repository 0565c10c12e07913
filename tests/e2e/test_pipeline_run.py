"""The default `mlflow run .`: tune, register with the gate, promote; reruns reuse and refuse;
another table gets its own model name and champion."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_breast_cancer

from common import data
from tests.helpers.processes import mlflow_cli
from tests.helpers.project import CHURN_CSV
from tests.helpers.runs import all_runs, runs_in

pytestmark = pytest.mark.slow

EXPERIMENT = "tabular-training/pipeline"
WORSE = "n_estimators=1 max_depth=1 max_features=0.05"
MODEL = "tabular-breast_cancer"  # named after the default data


def _runs(entry_point: str):
    return runs_in(EXPERIMENT, f"tags.`mlflow.project.entryPoint` = '{entry_point}'")


def test_pipeline_promotes_then_refuses_a_worse_model_then_resumes(project_repo, launch_dir):
    repo, sha = project_repo
    run = ["run", str(repo), "--env-manager", "local", "--experiment-name", EXPERIMENT]

    first = mlflow_cli(*run, cwd=launch_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    (pipeline,) = _runs("main")
    (tuned,) = _runs("tune")
    (registered,) = _runs("register")
    for child in (tuned, registered):
        assert child.data.tags["mlflow.parentRunId"] == pipeline.info.run_id
        assert child.data.tags["mlflow.source.git.commit"] == sha
        assert child.info.status == "FINISHED"
    client = MlflowClient()
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.tags["source_run_id"] == tuned.info.run_id
    assert champion.tags["validation_status"] == "passed"
    assert tuned.data.metrics["test_roc_auc"] > 0.95
    assert pipeline.data.tags["model_version"] == str(champion.version)
    # The pipeline's run says what it made: the chosen model's test metrics, name, version, verdict.
    assert pipeline.info.run_name == "pipeline_breast_cancer_v1"
    assert tuned.info.run_name == "tune_xgboost_classifier_breast_cancer_v1"
    assert registered.info.run_name == f"register_{MODEL}_v1"
    assert pipeline.data.tags["model_name"] == MODEL
    assert pipeline.data.tags["validation_status"] == "passed"
    metrics = pipeline.data.metrics
    assert metrics["test_roc_auc"] == tuned.data.metrics["test_roc_auc"]
    assert metrics["candidate_test_roc_auc"] == metrics["test_roc_auc"]
    assert metrics["baseline_test_roc_auc"] == tuned.data.metrics["baseline_test_roc_auc"] == 0.5

    worse = mlflow_cli(
        *run, "-P", "tune=false", "-P", "trainer=sklearn", "-P", f"train_params={WORSE}",
        cwd=launch_dir,
    )  # fmt: skip
    assert worse.returncode != 0
    assert "refused by the validation gate: champion: test_roc_auc=" in worse.stderr
    assert "vs champion's" in worse.stderr
    assert [str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'")] == ["1"]
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    refused = _runs("main")[-1]
    assert refused.info.status == "FAILED"
    assert refused.info.run_name == "pipeline_breast_cancer_v2"
    assert refused.data.tags["validation_status"] == "failed"  # the verdict, also on a refusal
    assert refused.data.metrics["champion_test_roc_auc"] == metrics["test_roc_auc"]
    assert _runs("register")[-1].info.status == "FAILED"
    assert _runs("register")[-1].info.run_name == f"register_{MODEL}_refused"

    # Same parameters at the same clean commit: tuning is reused, register runs again (idempotent).
    again = mlflow_cli(*run, cwd=launch_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"reusing FINISHED run {tuned.info.run_id}" in again.stdout
    assert len(_runs("tune")) == 1
    assert _runs("main")[-1].data.tags["train_run_id"] == tuned.info.run_id
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 1

    # The README's own-data pipeline after the builtin champion: its own name, its own champion.
    customers = launch_dir / CHURN_CSV.name
    shutil.copy(CHURN_CSV, customers)
    own = [*run, "-P", f"data={customers}", "-P", "target=churn", "-P", "tune=false",
           "-P", "trainer=sklearn", "-P", "margin=1.0"]  # fmt: skip
    churn = mlflow_cli(*own, cwd=launch_dir)
    assert churn.returncode == 0, churn.stderr[-3000:]
    churn_champion = client.get_model_version_by_alias("tabular-churn_sample", "champion")
    assert _runs("main")[-1].info.run_name == "pipeline_churn_sample_v1"
    assert _runs("main")[-1].data.tags["model_name"] == "tabular-churn_sample"
    first_month = _runs("main")[-1].data.tags["train_run_id"]
    assert churn_champion.tags["source_run_id"] == first_month
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"

    # Month two: the same command on the same path with new rows, a whole-number column with one
    # gap (int64 -> float64) and a column added retrains, never reuses, and is judged against the
    # champion on the metric.
    table = pd.read_csv(customers)
    month = pd.concat(
        [table, table.head(40).assign(tenure_months=lambda t: t["tenure_months"] + 1)]
    ).reset_index(drop=True)
    month.loc[3, "support_tickets"] = None
    month.insert(2, "contract", ["monthly", "yearly"] * (len(month) // 2))
    month.to_csv(customers, index=False)
    month_two = mlflow_cli(*own, cwd=launch_dir)
    assert month_two.returncode == 0, month_two.stderr[-3000:]
    assert f"not reusing run {first_month}: the table changed since it trained" in month_two.stdout
    judged = _runs("main")[-1]
    retrained = judged.data.tags["train_run_id"]
    assert retrained != first_month
    assert "schema_change" not in judged.data.tags
    assert judged.data.tags["validation_status"] == "passed"
    champion_score = judged.data.metrics["champion_test_roc_auc"]  # scored on the new split
    assert 0.5 < champion_score < 1
    new_champion = client.get_model_version_by_alias("tabular-churn_sample", "champion")
    assert new_champion.tags["source_run_id"] == retrained
    digests = {r.info.run_id: r.data.tags["data_digest"] for r in _runs("train_sklearn")}
    assert digests[retrained] != digests[first_month]
    assert digests[retrained] == data.content_digest(pd.read_csv(customers))  # the new rows

    # Batch scoring of the champion through `mlflow run -e predict`, output at an absolute path.
    frame = load_breast_cancer(as_frame=True).frame
    rows = frame.drop(columns="target")
    rows.to_csv(launch_dir / "rows.csv", index=False)
    scored = mlflow_cli(
        "run", str(repo), "-e", "predict", "--env-manager", "local",
        "--experiment-name", "tabular-training/predict",
        "-P", f"model_uri=models:/{MODEL}@champion",
        "-P", f"input={launch_dir / 'rows.csv'}",
        "-P", f"output={launch_dir / 'scored.csv'}", cwd=launch_dir,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-3000:]
    out = pd.read_csv(launch_dir / "scored.csv")
    assert len(out) == len(rows)
    assert (out["prediction"] == frame["target"]).mean() > 0.95
    pd.testing.assert_frame_equal(out[rows.columns], rows)
    (predicted,) = all_runs("tags.`mlflow.project.entryPoint` = 'predict'")
    assert predicted.data.metrics["rows_in"] == predicted.data.metrics["rows_out"] == len(rows)
    assert predicted.data.tags["model_version"] == "1"
    assert predicted.info.run_name == f"predict_{MODEL}_v1"

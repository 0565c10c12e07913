"""monitor through main([...]) in process: drift found where it was put and nowhere else, the
metric drop on shuffled labels, the verdict on the run and the registered version, pandas and
Spark agreeing, and bad input refused in one line."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import trainers
from common import profile
from entrypoints import monitor
from tests.helpers import drift_tables
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import all_runs, train_main

TASKS = ("classification", "regression")
OLD_MODEL = PROJECT_ROOT / "tests" / "fixtures" / "model_logged_at_794c636.tar.gz"


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    """Training tables and batches as CSV files, for both tasks."""
    folder = tmp_path_factory.mktemp("tables")
    out = {}
    for task in TASKS:
        for name, frame in {
            "train": drift_tables.table(4000, 0, task=task),
            "same": drift_tables.table(2000, 1, task=task),
            "drifted": drift_tables.table(2000, 2, task=task, shift=1.0, shares=(0.2, 0.3, 0.5)),
            "shuffled": drift_tables.table(2000, 3, task=task, shuffle=True),
        }.items():
            out[f"{task}/{name}"] = drift_tables.write(frame, folder / f"{task}_{name}.csv")
    return out


@pytest.fixture(scope="module")
def models(tables, tmp_path_factory) -> dict[str, Path]:
    """A quick xgboost model per task, trained once into a store of their own and copied to a
    folder (each test has its own store; a model folder is a model URI in any of them)."""
    folder = tmp_path_factory.mktemp("models")
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        uri = f"sqlite:///{folder / 'train.db'}"
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(folder)
        mlflow.set_tracking_uri(uri)
        try:
            for task in TASKS:
                argv = ["--data", str(tables[f"{task}/train"]),
                        "--target", drift_tables.target_of(task)]  # fmt: skip
                assert train_main(trainers.get("xgboost"), *argv) == 0
                (run,) = [r for r in all_runs() if r.data.tags.get("task") == task]
                out[task] = Path(
                    mlflow.artifacts.download_artifacts(
                        f"runs:/{run.info.run_id}/model", dst_path=str(folder / task)
                    )
                )
        finally:
            mlflow.set_tracking_uri(None)
    return out


def _monitor(model: Path | str, batch: Path, *flags: str) -> int:
    return monitor.main(["--model-uri", str(model), "--input", str(batch), *flags])


def _only_monitor_run():
    (run,) = all_runs("tags.entry_point = 'monitor'")
    return run


def _artifact_json(run, path: str):
    return json.loads(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/{path}"))


@pytest.mark.parametrize("task", TASKS)
def test_a_batch_like_the_training_table_is_no_drift(models, tables, task):
    assert _monitor(models[task], tables[f"{task}/same"]) == 0
    run = _only_monitor_run()
    assert run.info.status == "FINISHED"
    tags, values = run.data.tags, run.data.metrics
    assert tags["drift_detected"] == "false"
    assert tags["monitor_verdict"] == "ok"
    assert tags["performance_degraded"] == "unknown"  # no target given
    entries = _artifact_json(run, "drift.json")
    assert [e["column"] for e in entries] == ["income", "age", "city", "member", "signup"]
    assert not [e["column"] for e in entries if e["drifted"]]
    assert all(0 <= e["psi"] < 0.05 for e in entries), entries
    assert values["columns_drifted"] == 0
    assert values["batch_rows"] == 2000
    assert values["psi/income"] == pytest.approx(entries[0]["psi"])
    assert values["prediction_psi"] < 0.05
    artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/drift.png"}
    summary = _artifact_json(run, "monitoring.json")
    assert summary["verdict"] == "ok"
    assert summary["thresholds"]["psi_threshold"] == 0.1


@pytest.mark.parametrize("task", TASKS)
def test_a_shifted_number_and_a_changed_category_are_flagged_and_nothing_else(models, tables, task):
    assert _monitor(models[task], tables[f"{task}/drifted"]) == 0
    run = _only_monitor_run()
    entries = {e["column"]: e for e in _artifact_json(run, "drift.json")}
    flagged = {name for name, e in entries.items() if e["drifted"]}
    assert flagged == {drift_tables.SHIFTED, drift_tables.CHANGED}
    assert entries["income"]["psi"] > 0.5  # one standard deviation: a major shift
    assert entries["income"]["severity"] == "major"
    city = entries["city"]
    assert city["reference"][city["buckets"].index("east")] == pytest.approx(0.2, abs=0.03)
    assert city["batch"][city["buckets"].index("east")] == pytest.approx(0.5, abs=0.03)
    assert run.data.tags["drift_detected"] == "true"
    assert run.data.tags["drifted_columns"] == "income,city"
    assert run.data.tags["monitor_verdict"] == "retrain"


@pytest.mark.parametrize("task", TASKS)
def test_shuffled_labels_show_the_metric_drop_and_good_labels_do_not(models, tables, task):
    target = drift_tables.target_of(task)
    assert _monitor(models[task], tables[f"{task}/same"], "--target", target) == 0
    assert _monitor(models[task], tables[f"{task}/shuffled"], "--target", target) == 0
    good, shuffled = all_runs("tags.entry_point = 'monitor'")
    name = "roc_auc" if task == "classification" else "rmse"
    for run in (good, shuffled):
        values = run.data.metrics
        assert values[f"reference_test_{name}"] == pytest.approx(
            _artifact_json(run, "monitoring.json")["performance"]["test"]
        )
    assert good.data.metrics["metric_drop"] < 0.1
    assert good.data.tags["performance_degraded"] == "false"
    assert good.data.tags["monitor_verdict"] == "ok"
    assert shuffled.data.metrics["metric_drop"] > 0.2
    assert shuffled.data.tags["performance_degraded"] == "true"
    assert shuffled.data.tags["drift_detected"] == "false"  # the inputs did not move
    assert shuffled.data.tags["monitor_verdict"] == "retrain"
    if task == "classification":
        assert shuffled.data.metrics["batch_roc_auc"] == pytest.approx(0.5, abs=0.06)
        assert shuffled.data.metrics["baseline_batch_roc_auc"] == pytest.approx(0.5)
    performance = _artifact_json(shuffled, "monitoring.json")["performance"]
    assert performance["batch_metrics"][f"test_{name}"] == performance["batch"]


def test_a_registered_version_carries_its_latest_monitoring_verdict(models, tables):
    client = MlflowClient()
    client.create_registered_model("churn")
    source = str(models["classification"])
    version = client.create_model_version("churn", source).version
    client.set_registered_model_alias("churn", "champion", version)
    uri = "models:/churn@champion"
    assert _monitor(uri, tables["classification/drifted"]) == 0
    run = _only_monitor_run()
    assert run.info.run_name == "monitor_churn_v1"
    assert run.data.tags["model_name"] == "churn"
    assert run.data.tags["model_version"] == "1"
    tags = client.get_model_version("churn", version).tags
    assert tags["monitoring_run_id"] == run.info.run_id
    assert tags["monitoring_verdict"] == "retrain"
    assert tags["monitoring_drifted_columns"] == "income,city"
    assert _monitor(uri, tables["classification/same"]) == 0
    tags = client.get_model_version("churn", version).tags
    assert tags["monitoring_verdict"] == "ok"  # the latest run decides
    assert tags["monitoring_drifted_columns"] == ""


def test_fail_on_drift_ends_the_run_failed_naming_the_columns_after_logging(models, tables, capsys):
    code = _monitor(models["classification"], tables["classification/drifted"],
                    "--fail-on-drift", "true")  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: fail_on_drift: drift in 2 column(s)")
    assert "income (psi" in err[0]
    assert "city (psi" in err[0]
    run = _only_monitor_run()
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"].startswith("CheckFailed: fail_on_drift: drift in 2")
    assert {e["column"] for e in _artifact_json(run, "drift.json") if e["drifted"]} == {
        "income",
        "city",
    }
    # No drift: the same flag lets the run finish.
    assert _monitor(models["classification"], tables["classification/same"],
                    "--fail-on-drift", "true") == 0  # fmt: skip


def _bad_batches(tables, tmp_path) -> dict[str, tuple[Path, list[str], str]]:
    import pandas as pd

    same = pd.read_csv(tables["classification/same"])
    regression = pd.read_csv(tables["regression/same"])
    files = {
        "missing": same.drop(columns=["city"]),
        "empty": same.head(0),
        "classes": same.assign(churned=same["churned"].map({0: "no", 1: "yes"})),
        "text": regression.assign(spend="lots"),
        "word": same.assign(income=same["income"].astype(object).where(same.index != 3, "lots")),
    }
    paths = {k: drift_tables.write(v, tmp_path / f"{k}.csv") for k, v in files.items()}
    return {
        "missing": ("classification", paths["missing"], [],
                    "input is missing column(s) the model takes: 'city'"),
        "empty": ("classification", paths["empty"], [], "has no rows to monitor"),
        "classes": ("classification", paths["classes"], ["--target", "churned"],
                    "target 'churned' holds class(es) the model never saw: 'no', 'yes' "
                    "(its classes: '0', '1')"),
        "text": ("regression", paths["text"], ["--target", "spend"],
                 "target 'spend' holds 'lots', not a number"),
        "word": ("classification", paths["word"], [],
                 "a non-numeric value in a numeric column: column 'income' holds 'lots' (row 3)"),
        "no_target": ("classification", tables["classification/same"], ["--target", "label"],
                      "target 'label' is not a column of the input"),
    }  # fmt: skip


@pytest.mark.parametrize("case", ["missing", "empty", "classes", "text", "word", "no_target"])
def test_bad_batches_are_one_line_and_a_failed_run_with_nothing_logged(
    models, tables, tmp_path, capsys, case
):
    task, batch, flags, message = _bad_batches(tables, tmp_path)[case]
    assert _monitor(models[task], batch, *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert message in err[0]
    run = _only_monitor_run()
    assert run.info.status == "FAILED"
    assert message in run.data.tags["failure_reason"]
    assert MlflowClient().list_artifacts(run.info.run_id) == []  # no drift.json, no picture
    assert "drift_detected" not in run.data.tags


def test_a_model_logged_before_profiles_says_how_to_get_one(tmp_path, tables, capsys):
    with tarfile.open(OLD_MODEL) as archive:
        archive.extractall(tmp_path, filter="data")
    assert _monitor(tmp_path / "model", tables["classification/same"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "has no reference profile (artifacts/profile.json)" in line
    assert "retrain it with this code" in line
    assert _only_monitor_run().info.status == "FAILED"


def test_a_tampered_profile_is_refused_in_one_line(models, tables, tmp_path, capsys):
    import shutil

    copy = Path(shutil.copytree(models["classification"], tmp_path / "model"))
    path = copy / "artifacts" / profile.FILE_NAME
    data = json.loads(path.read_text())
    data["columns"][0]["edges"] = "__import__('os')"
    path.write_text(json.dumps(data))
    assert _monitor(copy, tables["classification/same"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "profile.json: edges is not a list" in line


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--psi-threshold", "0"], "--psi-threshold"),
        (["--psi-threshold", "-1"], "--psi-threshold"),
        (["--max-metric-drop", "0"], "--max-metric-drop"),
        (["--max-metric-drop", "nan"], "--max-metric-drop"),
        (["--metric", "test_rmse"], "metric 'test_rmse' does not apply to classification data"),
    ],
)
def test_thresholds_out_of_range_are_refused_in_one_line(models, tables, capsys, flags, message):
    assert _monitor(models["classification"], tables["classification/same"], *flags) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert message in line
    for run in all_runs():  # a run was opened only for a metric of the wrong task
        assert run.info.status == "FAILED"
        assert MlflowClient().list_artifacts(run.info.run_id) == []


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_spark_and_pandas_monitoring_agree(models, tables, tmp_path, task):
    import pandas as pd

    target = drift_tables.target_of(task)
    rows = pd.read_csv(tables[f"{task}/drifted"])
    rows.to_parquet(tmp_path / "drifted.parquet")  # the same types both ways
    folder = tmp_path / "drifted"  # Spark also reads a folder of parts
    folder.mkdir()
    rows.iloc[:1200].to_parquet(folder / "part-0.parquet", index=False)
    rows.iloc[1200:].to_parquet(folder / "part-1.parquet", index=False)
    for engine, batch in (("pandas", tmp_path / "drifted.parquet"), ("spark", folder)):
        assert _monitor(models[task], batch, "--target", target, "--engine", engine) == 0
    on_pandas, on_spark = all_runs("tags.entry_point = 'monitor'")
    assert on_spark.data.params["engine"] == "spark"
    left, right = _artifact_json(on_pandas, "drift.json"), _artifact_json(on_spark, "drift.json")
    assert [e["column"] for e in left] == [e["column"] for e in right]
    for a, b in zip(left, right, strict=True):
        assert a["batch"] == b["batch"], a["column"]  # the same counts per bucket
        assert a["psi"] == pytest.approx(b["psi"], abs=1e-9)
        assert a["drifted"] == b["drifted"]
    for name, value in on_pandas.data.metrics.items():
        assert on_spark.data.metrics[name] == pytest.approx(value, abs=1e-9), name
    assert on_spark.data.tags["drifted_columns"] == "income,city"

"""Training on Spark (``-P engine=spark``) through `mlflow run`, on local Spark with 2 workers:
the same servable model as single node, the same gate, and bad input refused in one line."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from tests.helpers.processes import BIN, mlflow_cli, one_error_line, predict_in_fresh_process
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import runs_in

pytestmark = pytest.mark.slow
EXPERIMENT = "tabular-training/train"
QUICK = ["-P", "n_estimators=80", "-P", "target=renewed"]
# ROC AUC of the Spark-trained and the single-node model on the same held-out rows: their
# training splits differ (hashed vs stratified), so the boosters differ a little.
AUC_TOLERANCE = 0.03


def _table(rows: int, seed: int) -> pd.DataFrame:
    """A customer table with an ID, a date, a boolean, missing values and a categorical."""
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 30.0, rows)
    plan = rng.choice(["basic", "plus", "pro", None], rows, p=[0.4, 0.3, 0.2, 0.1])
    days = rng.integers(0, 1500, rows)
    premium = rng.random(rows) < 0.3
    calls = rng.poisson(2.0, rows).astype("float64")
    calls[rng.random(rows) < 0.05] = np.nan
    score = 0.03 * spend - 0.6 * np.nan_to_num(calls, nan=2.0) + 1.2 * premium - days / 900
    score += np.where(plan == "pro", 1.0, 0.0) + rng.normal(0, 1.0, rows)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, rows + 1) + seed * 100_000,
            "signup_date": (pd.Timestamp("2020-01-01") + pd.to_timedelta(days, "D")).strftime(
                "%Y-%m-%d"
            ),
            "is_premium": premium,
            "monthly spend": spend.round(2),
            "plan": plan,
            "support calls": calls,
            "renewed": np.where(score > np.median(score), "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(training table as a Parquet folder of 3 files, the same rows as one file for single
    node, held-out rows as one Parquet file)."""
    folder = tmp_path_factory.mktemp("spark-data")
    train = folder / "customers"
    train.mkdir()
    frame = _table(2400, seed=1)
    for part in range(3):
        frame.iloc[part * 800 : (part + 1) * 800].to_parquet(train / f"part-{part}.parquet")
    frame.to_parquet(folder / "customers.parquet", index=False)
    _table(600, seed=2).to_parquet(folder / "holdout.parquet", index=False)
    return train, folder / "customers.parquet", folder / "holdout.parquet"


def _run(tmp_path: Path, entry_point: str, *params: str, experiment: str = EXPERIMENT):
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", entry_point, "--env-manager", "local",
        "--experiment-name", experiment, *params, cwd=tmp_path,
    )  # fmt: skip
    found = MlflowClient().get_experiment_by_name(experiment)
    runs = runs_in(experiment) if found else []
    return done, (runs[-1] if runs else None)


def _profiles_agree(spark_run: str, single_run: str) -> None:
    """The reference profile computed on Spark (aggregates only) describes the table as the
    single-node one does: the same columns, roles, missing and category shares; bin edges from
    approximate quantiles close to the exact ones."""
    import mlflow

    def read(run_id: str) -> dict:
        uri = f"runs:/{run_id}/model/artifacts/profile.json"
        return json.loads(mlflow.artifacts.load_text(uri))

    on_spark, single = read(spark_run), read(single_run)
    assert on_spark["rows"] == single["rows"] == 2400
    assert on_spark["target"] == single["target"]
    for a, b in zip(on_spark["columns"], single["columns"], strict=True):
        assert (a["column"], a["role"]) == (b["column"], b["role"])
        assert a["missing"] == b["missing"], a["column"]
        if a["role"] == "numeric":
            assert np.allclose(a["edges"], b["edges"], rtol=0.02), a["column"]
            assert sum(a["shares"]) + a["missing"] == pytest.approx(1.0, abs=1e-5)
        elif a["role"] == "datetime":
            assert (a["min"], a["max"]) == (b["min"], b["max"])
        else:
            assert a["top"] == b["top"], a["column"]
    assert set(on_spark["prediction"]["vocabulary"]) == {"no", "yes"}


def _holdout_auc(model_uri: str, holdout: pd.DataFrame, tmp_path: Path) -> float:
    served = predict_in_fresh_process(model_uri, holdout.drop(columns=["renewed"]), tmp_path)
    return roc_auc_score(holdout["renewed"] == "yes", served["probability_yes"])


def test_xgboost_on_spark_serves_gates_and_repeats_like_single_node(tables, tmp_path):
    train, single_file, holdout_path = tables
    spark = ["-P", f"data={train}", *QUICK, "-P", "engine=spark", "-P", "num_workers=2"]
    done, first = _run(tmp_path, "train_xgboost", *spark)
    assert done.returncode == 0, done.stderr[-3000:]
    assert first.info.status == "FINISHED"
    assert first.data.tags["engine"] == "spark"
    assert first.data.tags["suspected_leaks"] == ""  # the leak screen ran on the sample
    metrics = first.data.metrics
    assert metrics["table_rows"] == 2400
    assert metrics["test_rows"] == metrics["test_rows_scored"] > 300
    assert metrics["test_roc_auc"] > 0.8
    assert metrics["rounds_run"] > metrics["best_iteration"]
    history = MlflowClient().get_metric_history(first.info.run_id, "validation_logloss")
    assert len(history) == metrics["rounds_run"]
    plots = {a.path for a in MlflowClient().list_artifacts(first.info.run_id, "plots")}
    assert {"plots/learning_curve.png", "plots/roc_curve.png"} <= plots
    # autolog=true (the default) logs the booster's parameters, as single node's autologging
    params = first.data.params
    assert params["objective"] == "binary:logistic"
    assert params["tree_method"] == "hist"
    assert params["num_boost_round"] == params["n_estimators"] == "80"

    done, again = _run(tmp_path, "train_xgboost", *spark)  # the same seed: the same model
    assert done.returncode == 0, done.stderr[-3000:]
    assert again.data.metrics["test_log_loss"] == metrics["test_log_loss"]
    assert again.data.tags["data_digest"] == first.data.tags["data_digest"]

    done, single = _run(tmp_path, "train_xgboost", "-P", f"data={single_file}", *QUICK)
    assert done.returncode == 0, done.stderr[-3000:]
    _profiles_agree(first.info.run_id, single.info.run_id)
    holdout = pd.read_parquet(holdout_path)
    spark_auc = _holdout_auc(f"runs:/{first.info.run_id}/model", holdout, tmp_path)
    single_auc = _holdout_auc(f"runs:/{single.info.run_id}/model", holdout, tmp_path)
    assert spark_auc == pytest.approx(single_auc, abs=AUC_TOLERANCE)

    # The model loaded without Spark answers raw rows exactly as spark_udf does.
    _spark_udf_matches_fresh_process(
        f"runs:/{first.info.run_id}/model", _awkward_rows(holdout), tmp_path
    )

    # The gate rebuilds the Spark run's own test split: the candidate scores what training did.
    done, register = _run(
        tmp_path, "register", "-P", f"run_id={first.info.run_id}",
        experiment="tabular-training/register",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert register.data.tags["validation_status"] == "passed"
    candidate = register.data.metrics["candidate_test_roc_auc"]
    assert candidate == pytest.approx(metrics["test_roc_auc"], abs=1e-12)


def test_a_planted_leak_is_flagged_on_spark_from_the_sample(tmp_path):
    rng = np.random.default_rng(0)
    works = rng.random(600) < 0.55
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 65, 600),
            "hours_worked": np.where(works, rng.integers(5, 60, 600), 0),
            "works": np.where(works, "yes", "no"),
        }
    )
    frame.to_parquet(tmp_path / "labour.parquet", index=False)
    params = ["-P", f"data={tmp_path / 'labour.parquet'}", "-P", "target=works"]
    done, run = _run(tmp_path, "train_xgboost", *params, "-P", "n_estimators=10",
                     "-P", "engine=spark", "-P", "num_workers=1")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("features: "))
    assert lines[summary + 1] == "suspected leak: hours_worked (alone: roc_auc 1.000)"
    assert run.data.tags["suspected_leaks"] == "hours_worked"
    described = MlflowClient().download_artifacts(run.info.run_id, "features.json", str(tmp_path))
    entries = {c["name"]: c for c in json.loads(Path(described).read_text())["columns"]}
    assert entries["hours_worked"]["suspected_leak"] is True
    assert "suspected_leak" not in entries["age"]


def _spark_udf_matches_fresh_process(model_uri: str, rows: pd.DataFrame, tmp_path: Path) -> None:
    """``predict -P engine=spark`` (spark_udf) and the model loaded in a fresh process without
    Spark give the same answers on ``rows``."""
    rows.to_parquet(tmp_path / "rows.parquet", index=False)
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "predict", "--env-manager", "local",
        "--experiment-name", "tabular-training/predict", "-P", f"model_uri={model_uri}",
        "-P", f"input={tmp_path / 'rows.parquet'}",
        "-P", f"output={tmp_path / 'scored.parquet'}", "-P", "engine=spark", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    on_spark = pd.read_parquet(tmp_path / "scored.parquet").sort_values("customer_id")
    alone = predict_in_fresh_process(model_uri, rows, tmp_path)
    alone["customer_id"] = rows["customer_id"].to_numpy()
    alone = alone.sort_values("customer_id")
    assert on_spark["prediction"].tolist() == alone["prediction"].tolist()
    np.testing.assert_allclose(
        on_spark["probability_yes"].to_numpy(), alone["probability_yes"].to_numpy(), rtol=1e-12
    )


def _awkward_rows(holdout: pd.DataFrame) -> pd.DataFrame:
    """Raw rows with gaps, an unseen category and a missing date."""
    rows = holdout.drop(columns=["renewed"]).head(40).copy()
    rows.loc[0, "plan"] = "enterprise"
    rows.loc[1, "signup_date"] = None
    rows.loc[2, "monthly spend"] = np.nan
    return rows


def test_pytorch_on_spark_through_mlflow_run_serves_like_single_node(tables, tmp_path):
    train, single_file, holdout_path = tables
    quick = ["-P", "target=renewed", "-P", "epochs=8"]
    spark = ["-P", f"data={train}", *quick, "-P", "engine=spark", "-P", "num_processes=2"]
    done, run = _run(tmp_path, "train_pytorch", *spark)
    assert done.returncode == 0, done.stderr[-3000:]
    assert run.info.status == "FINISHED"
    assert run.data.tags["engine"] == "spark"
    history = MlflowClient().get_metric_history(run.info.run_id, "validation_loss")
    assert len(history) == run.data.metrics["epochs_run"]
    done, single = _run(tmp_path, "train_pytorch", "-P", f"data={single_file}", *quick)
    assert done.returncode == 0, done.stderr[-3000:]
    holdout = pd.read_parquet(holdout_path)
    spark_auc = _holdout_auc(f"runs:/{run.info.run_id}/model", holdout, tmp_path)
    single_auc = _holdout_auc(f"runs:/{single.info.run_id}/model", holdout, tmp_path)
    assert spark_auc > 0.8
    assert spark_auc == pytest.approx(single_auc, abs=0.05)  # other batches, other split
    _spark_udf_matches_fresh_process(
        f"runs:/{run.info.run_id}/model", _awkward_rows(holdout), tmp_path
    )


def _bad(kind: str, train: Path, tmp_path: Path) -> tuple[str, list[str], str]:
    """(entry point, -P params, what the error line says) for each bad input."""
    spark = ["-P", "engine=spark"]
    if kind == "no-such-table":
        return "train_xgboost", ["-P", "data=main.sales.nope", *QUICK, *spark], "main.sales.nope"
    if kind == "no-such-folder":
        missing = tmp_path / "nowhere"
        return "train_xgboost", ["-P", f"data={missing}", *QUICK, *spark], "no such file"
    if kind == "target-missing":
        params = ["-P", f"data={train}", "-P", "target=churned", *spark]
        return "train_xgboost", params, "target column 'churned' not found"
    if kind in ("zero-workers", "more-workers-than-slots"):
        count = "0" if kind == "zero-workers" else "64"
        params = ["-P", f"data={train}", *QUICK, *spark, "-P", f"num_workers={count}"]
        return "train_xgboost", params, f"num_workers={count}"
    if kind == "parquet-types-differ":
        folder = tmp_path / "mixed"
        folder.mkdir()
        frame = _table(200, seed=3)
        frame.iloc[:100].to_parquet(folder / "a.parquet", index=False)
        other = frame.iloc[100:].astype({"monthly spend": str})
        other.to_parquet(folder / "b.parquet", index=False)
        params = ["-P", f"data={folder}", *QUICK, *spark]
        return "train_xgboost", params, "disagree on the type of column 'monthly spend'"
    if kind == "sklearn":
        params = ["-P", f"data={train}", "-P", "target=renewed", *spark]
        return "train_sklearn", params, "train_sklearn has no Spark engine"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "no-such-table",
        "no-such-folder",
        "target-missing",
        "zero-workers",
        "more-workers-than-slots",
        "parquet-types-differ",
        "sklearn",
    ],
)
def test_bad_input_on_spark_is_one_error_line_and_a_failed_run(kind, tables, tmp_path, capsys):
    """Two cases through `mlflow run` (one refused before its run opens, whose launcher's run
    must end FAILED); the others call the entry point's ``main`` in process, sharing one local
    Spark session (a session per case cost ~15 s each)."""
    entry_point, params, message = _bad(kind, tables[0], tmp_path)
    if kind in ("target-missing", "sklearn"):
        done, run = _run(tmp_path, entry_point, *params)
        code, stderr = done.returncode, done.stderr
    else:
        argv = []
        for pair in params[1::2]:
            name, _, value = pair.partition("=")
            argv += [f"--{name.replace('_', '-')}", value]
        code = importlib.import_module(f"entrypoints.{entry_point}").main(argv)
        stderr = capsys.readouterr().err
        run = runs_in(EXPERIMENT)[-1]
    assert code != 0
    line = one_error_line(stderr)
    assert message in line, line
    assert run.info.status == "FAILED"
    assert message in run.data.tags["failure_reason"]
    assert not MlflowClient().search_registered_models()


def test_engine_spark_without_pyspark_is_one_error_line(tables, tmp_path):
    hidden = tmp_path / "no-pyspark"
    (hidden / "pyspark").mkdir(parents=True)
    (hidden / "pyspark" / "__init__.py").write_text("raise ImportError('No module named pyspark')")
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "train_xgboost", "--env-manager", "local",
        "--experiment-name", EXPERIMENT, "-P", f"data={tables[0]}", *QUICK, "-P", "engine=spark",
        cwd=tmp_path, env={"PYTHONPATH": str(hidden)},
    )  # fmt: skip
    assert done.returncode != 0
    assert "pyspark is not installed" in one_error_line(done.stderr)
    assert runs_in(EXPERIMENT)[-1].info.status == "FAILED"


def _ends_failed_in_one_line(process: subprocess.Popen, output: list[str], message: str) -> None:
    """The command exits 1 within 5 minutes (no hang) with one ``error:`` line saying
    ``message``, and its run is FAILED with it."""
    rest, _ = process.communicate(timeout=300)
    output.append(rest)
    _failed_in_one_line(process.returncode, output, message)


def _failed_in_one_line(returncode: int, output: list[str], message: str) -> None:
    assert returncode == 1, "".join(output)[-3000:]
    errors = [line for line in "".join(output).splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, "".join(output)[-3000:]
    assert message in errors[0]
    run = runs_in(EXPERIMENT)[-1]
    assert run.info.status == "FAILED"
    assert message in run.data.tags["failure_reason"]


def _spark_python_workers() -> list[int]:
    """Process ids of this machine's Spark Python workers (and their daemon)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        # `python -m common.spark.daemon` (the JVM's command line names it too: spared)
        if entry.name.isdigit() and argv[1:3] == [b"-m", b"common.spark.daemon"]:
            pids.append(int(entry.name))
    return pids


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (``[1]`` the parent, ``[11]``
    and ``[12]`` user and system CPU ticks); None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, ValueError):
        return None


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) that process ``pid`` has used; 0 when it is gone."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_worker_that_dies_fails_the_run_with_its_error_not_a_hang(tables, tmp_path):
    endless = ["-P", "n_estimators=1000000", "-P", "early_stopping_rounds=1000000"]
    process = subprocess.Popen(
        [str(BIN / "mlflow"), "run", str(PROJECT_ROOT), "-e", "train_xgboost",
         "--env-manager", "local", "--experiment-name", EXPERIMENT, "-P", f"data={tables[0]}",
         "-P", "target=renewed", "-P", "engine=spark", *endless],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: ended whole if the test fails
    )  # fmt: skip
    try:
        output = []
        for line in process.stdout:  # until the training stage is about to start
            output.append(line)
            if "training on Spark" in line:
                break
        # Read on while workers are killed: a full pipe would stop the command from exiting.
        reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
        reader.start()
        _kill_workers_once_training(process, output)
        process.wait(timeout=300)  # no hang
        reader.join(timeout=30)
        _failed_in_one_line(process.returncode, output, "a Spark worker failed")
    finally:
        _end_process_group(process)


def _kill_workers_once_training(process: subprocess.Popen, output: list[str]) -> None:
    """SIGKILL the Spark Python workers once one of them trains (has used a second of CPU
    since first seen), and every worker that appears after that, until the command exits.

    Python workers are forked per stage and reused, so workers of the preprocessing stages may
    sit idle beside the training ones, and on a loaded machine a training worker may start
    after the first kill: killing only the workers present at one moment can miss them.
    """
    started = {pid: _cpu_seconds(pid) for pid in _spark_python_workers()}
    training, deadline = False, time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        workers = {pid: _cpu_seconds(pid) for pid in _spark_python_workers()}
        training = training or any(
            cpu - started.setdefault(pid, cpu) >= 1.0 for pid, cpu in workers.items()
        )
        if training:
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    if not training:
        pytest.fail("no Spark Python worker started training:\n" + "".join(output)[-3000:])


def _end_process_group(process: subprocess.Popen) -> None:
    """End everything ``process`` started (launcher, entry point, JVM, Python workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def test_when_spark_itself_dies_the_run_ends_failed_not_running(tables, tmp_path):
    # Without the launcher, nothing else would end the run: the command must.
    endless = ["--n-estimators", "1000000", "--early-stopping-rounds", "1000000"]
    process = subprocess.Popen(
        [str(BIN / "python"), "-m", "entrypoints.train_xgboost", "--data", str(tables[0]),
         "--target", "renewed", "--engine", "spark", *endless],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "MLFLOW_EXPERIMENT_NAME": EXPERIMENT},
    )  # fmt: skip
    output = []
    for line in process.stdout:
        output.append(line)
        if "training on Spark" in line:
            break
    time.sleep(5)
    for pid in _children(process.pid):  # the JVM that spark-submit started
        os.kill(pid, signal.SIGKILL)
    _ends_failed_in_one_line(process, output, "Spark's JVM is gone")

"""Hostile or broken input gets one ``error:`` line naming the problem, never a traceback."""

from __future__ import annotations

import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import trainers
from entrypoints import main as pipeline
from entrypoints import register
from tests.helpers.processes import free_port
from tests.helpers.runs import all_runs, train_main

pytestmark = pytest.mark.adversarial
SKLEARN, PYTORCH = trainers.get("sklearn"), trainers.get("pytorch")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def _failed_run_says(message: str) -> None:
    (run,) = all_runs()
    assert run.info.status == "FAILED"
    assert message in run.data.tags["failure_reason"]


def _table(tmp_path: Path, name: str = "t.csv", **columns) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": ["a", "b"] * 30, **columns})
    path = tmp_path / name
    frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinite_feature_is_named(tmp_path, value, capsys):
    path = _table(tmp_path, z=[1.0] * 59 + [value])
    assert train_main(SKLEARN, "--data", str(path), "--target", "y") == 2
    line = _one_error_line(capsys)
    assert "column(s) z hold infinite values" in line
    _failed_run_says("hold infinite values")


@pytest.mark.parametrize("nested", [[[1, 2]] * 60, [{"a": 1}] * 60])
def test_nested_parquet_columns_are_named(tmp_path, nested, capsys):
    path = _table(tmp_path, "t.parquet", z=nested)
    assert train_main(SKLEARN, "--data", str(path), "--target", "y") == 2
    assert "column(s) z hold nested values" in _one_error_line(capsys)
    _failed_run_says("nested values")


@pytest.mark.parametrize("header", ["x,x,y", "x,y,y"])
def test_repeated_column_names_are_refused_not_renamed(tmp_path, header, capsys):
    path = tmp_path / "dup.csv"
    path.write_text(header + "\n" + "\n".join(f"{i},{i},{'ab'[i % 2]}" for i in range(40)))
    assert train_main(SKLEARN, "--data", str(path), "--target", "y") == 2
    repeated = "x" if header == "x,x,y" else "y"
    assert f"column name(s) repeated: {repeated}" in _one_error_line(capsys)


@pytest.mark.parametrize("seed", ["4294967296", "-1"])
def test_a_seed_outside_numpys_range_is_refused_before_a_run(seed, capsys):
    assert train_main(SKLEARN, "--seed", seed) == 2
    assert "expected an integer from 0 to 4294967295" in _one_error_line(capsys)
    assert all_runs() == []


@pytest.mark.parametrize("sizes", ["100000,100000", "50000,50000,50000"])
def test_a_network_too_big_for_the_machine_is_refused_up_front(sizes, capsys):
    assert train_main(PYTORCH, "--hidden-sizes", sizes, "--epochs", "1") == 2
    assert "weights need" in _one_error_line(capsys)
    _failed_run_says("use smaller layers")


def test_values_that_make_the_mlp_loss_never_finite_are_one_line(tmp_path, capsys):
    path = _table(tmp_path, z=[1e308, -1e308] * 30)
    assert train_main(PYTORCH, "--data", str(path), "--target", "y", "--batch-size", "8") == 2
    assert "the validation loss was never finite" in _one_error_line(capsys)


@pytest.mark.parametrize("text", ["n_estimators='5", 'max_depth="3'])
def test_an_unbalanced_quote_in_train_params_is_named(text, capsys):
    argv = ["--tune", "false", "--trainer", "sklearn", "--train-params", text]
    assert pipeline.main(argv) == 2
    assert "No closing quotation" in _one_error_line(capsys)
    assert all_runs() == []


@pytest.mark.parametrize("metric", ["test_roc_auc' or '1'='1", "metrics.x > 0"])
def test_a_best_metric_is_checked_before_it_reaches_a_search_filter(metric, capsys):
    assert register.main(["--run-id", "best", "--metric", metric]) == 2
    assert f"metric '{metric}': expected one of" in _one_error_line(capsys)


@pytest.mark.parametrize("what", ["artifacts", "weights"])
def test_a_champion_whose_files_are_gone_is_named_and_nothing_registers(what, capsys):
    for argv in ([], ["--n-estimators", "30"]):
        assert train_main(SKLEARN, "--autolog", "false", *argv) == 0
    first, second = (r.info.run_id for r in all_runs())
    assert register.main(["--run-id", first, "--model-name", "m", "--promote", "true"]) == 0
    champion = MlflowClient().get_model_version_by_alias("m", "champion")
    logged = mlflow.get_logged_model(champion.source.removeprefix("models:/"))
    location = Path(logged.artifact_location.removeprefix("file://"))
    if what == "artifacts":
        shutil.rmtree(location)
    else:
        (location / "artifacts" / "estimator.skops").unlink()
    capsys.readouterr()
    assert register.main(["--run-id", second, "--model-name", "m", "--promote", "true"]) == 2
    assert "the champion models:/m/1 could not be scored" in _one_error_line(capsys)
    assert len(MlflowClient().search_model_versions("name = 'm'")) == 1


@pytest.fixture
def http_server(churn_csv, tmp_path):
    """A plain HTTP server on 127.0.0.1 serving a folder with the churn table; its base URL."""
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copy(churn_csv, folder / "churn.csv")
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_reachable_http_table_trains(http_server):
    url = f"{http_server}/churn.csv"
    assert train_main(SKLEARN, "--data", url, "--target", "churn") == 0
    (run,) = all_runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["feature_set"].startswith("5cols-")


@pytest.mark.parametrize(
    ("path", "message"),
    [("missing.csv", "could not download it: HTTP Error 404"),
     ("table", "the URL's file name must end in one of")],
)  # fmt: skip
def test_an_http_table_that_cannot_be_had_is_named(http_server, path, message, capsys):
    url = f"{http_server}/{path}"
    assert train_main(SKLEARN, "--data", url, "--target", "churn") == 2
    assert message in _one_error_line(capsys)
    _failed_run_says(message)


def test_an_http_host_that_does_not_answer_is_named(capsys):
    url = f"http://127.0.0.1:{free_port()}/rows.csv"
    assert train_main(SKLEARN, "--data", url, "--target", "churn") == 2
    assert f"data '{url}': could not download it" in _one_error_line(capsys)


@pytest.mark.parametrize("name", ["../../escape", "team/../../../escape"])
def test_an_experiment_name_cannot_place_artifacts_outside_the_store(name, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    assert train_main(SKLEARN) == 2
    assert "would place its artifacts outside" in _one_error_line(capsys)
    assert mlflow.get_experiment_by_name(name) is None


@pytest.mark.parametrize("test_size", ["0.02", "0.03"])
def test_a_metric_undefined_on_the_test_split_never_passes_the_gate(tmp_path, test_size, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=100), "y": [1] * 98 + [0] * 2})
    path = tmp_path / "skew.csv"
    frame.to_csv(path, index=False)
    argv = ["--data", str(path), "--target", "y", "--test-size", test_size]
    assert train_main(SKLEARN, "--autolog", "false", *argv) == 0
    (run,) = all_runs()
    assert np.isnan(run.data.metrics["test_roc_auc"])  # one class in the test split
    argv = ["--run-id", run.info.run_id, "--model-name", "m", "--promote", "true"]
    assert register.main(argv) == 2
    assert "test_roc_auc=nan on the candidate's test split" in _one_error_line(capsys)
    assert MlflowClient().search_model_versions("name = 'm'") == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n-estimators", "\uff13"], "expected int in ASCII digits"),
        (["--max-features", "\u0660.5"], "expected float in ASCII digits"),
    ],
)
def test_numbers_in_other_scripts_are_refused(argv, message, capsys):
    assert train_main(SKLEARN, *argv) == 2
    assert message in _one_error_line(capsys)


def test_a_train_params_key_given_twice_is_refused(capsys):
    params = "n_estimators=3 n_estimators=4"
    assert pipeline.main(["--tune", "false", "--trainer", "sklearn", "--train-params", params]) == 2
    assert "'n_estimators' is given twice" in _one_error_line(capsys)


def test_a_parquet_table_with_repeated_columns_is_one_short_line(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [pa.array([1.0, 2.0] * 20), pa.array(["a", "b"] * 20), pa.array(["a", "b"] * 20)]
    pq.write_table(pa.table(columns, names=["x", "y", "y"]), tmp_path / "dup.parquet")
    assert train_main(SKLEARN, "--data", str(tmp_path / "dup.parquet"), "--target", "y") == 2
    line = _one_error_line(capsys)
    assert "dup.parquet" in line
    assert len(line) < 500


def test_a_column_name_holding_a_newline_stays_one_line(tmp_path, capsys):
    path = _table(tmp_path, "t.parquet", **{"a\nb": ["u", "v"] * 30})
    argv = ("--data", str(path), "--target", "y", "--numeric", "a\nb")
    assert train_main(SKLEARN, *argv) == 2
    line = _one_error_line(capsys)
    assert "numeric= names column 'a\\nb', but it holds text" in line
    _failed_run_says("'a\\nb'")
    assert "\n" not in all_runs()[0].data.tags["failure_reason"]


def test_an_override_names_a_column_whose_name_holds_a_comma(tmp_path, capsys):
    path = _table(tmp_path, **{"city,state": ["Boston,MA", "Austin,TX"] * 30})
    assert train_main(SKLEARN, "--data", str(path), "--target", "y", "--drop", "city\\,state") == 0
    (run,) = all_runs()
    assert run.info.status == "FINISHED"
    features = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/features.json")
    roles = {column["name"]: column["role"] for column in features["columns"]}
    assert roles == {"x": "numeric", "city,state": "dropped"}

"""`mlflow models serve` of the champion answers raw rows as the in-process model does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import mlflow
import pandas as pd
import pytest

import trainers
from entrypoints import register
from tests.helpers.processes import BIN, free_port, wait_for_http
from tests.helpers.runs import all_runs, train_main

pytestmark = pytest.mark.slow

NAME = "churn"


def _post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def server(churn_csv, tmp_path) -> Iterator[str]:
    """The churn champion served on a free 127.0.0.1 port; yields the base URL."""
    argv = ["--data", str(churn_csv), "--target", "churn", "--autolog", "false"]
    assert train_main(trainers.get("sklearn"), *argv) == 0
    (run,) = all_runs()
    run_id = run.info.run_id
    assert register.main(["--run-id", run_id, "--model-name", NAME, "--promote", "true"]) == 0
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{NAME}@champion",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(), start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", process, tmp_path / "serve.log")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_served_champion_answers_like_in_process_and_refuses_a_wrong_column(server, raw_rows):
    expected = mlflow.pyfunc.load_model(f"models:/{NAME}@champion").predict(raw_rows)
    split = json.loads(raw_rows.to_json(orient="split", index=False))
    records = json.loads(raw_rows.to_json(orient="records"))
    for payload in ({"dataframe_split": split}, {"dataframe_records": records}):
        status, body = _post(f"{server}/invocations", payload)
        assert status == 200, body
        served = pd.DataFrame(body["predictions"])
        assert list(served["prediction"]) == list(expected["prediction"])
        for column in ("probability_no", "probability_yes"):
            assert served[column].tolist() == pytest.approx(expected[column].tolist(), abs=1e-12)

    # A wrong column is the client's fault: a 400 with MLflow's schema message, not a 500.
    wrong = raw_rows.rename(columns={"region": "area"})
    split = json.loads(wrong.to_json(orient="split", index=False))
    status, body = _post(f"{server}/invocations", {"dataframe_split": split})
    assert status == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Model is missing inputs ['region']" in body["message"]

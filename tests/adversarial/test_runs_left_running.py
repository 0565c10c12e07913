"""No run is left RUNNING by what this project controls: signals, bad flags, missing files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.processes import BIN, mlflow_cli
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import QUICK_PARAMS, all_runs, logged_models

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]
# Long enough that only a signal ends it.
ENDLESS = {"epochs": "100000", "patience": "100000"}


def _wait_for_training(process: subprocess.Popen, timeout: float = 600):
    """The one run, once it is named (its data is loaded and training has begun)."""
    deadline = time.monotonic() + timeout  # generous: CI machines are slow when loaded
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode} before training"
        runs = all_runs() if MlflowClient().search_experiments() else []
        if runs and runs[0].data.tags.get("model_type"):
            time.sleep(3)  # some epochs in
            return runs[0]
        time.sleep(0.5)
    raise AssertionError("training did not start")


def _wait_for_status(run_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = MlflowClient().get_run(run_id).info.status
        if status != "RUNNING":
            return status
        time.sleep(0.5)
    return "RUNNING"


@pytest.mark.parametrize(
    ("signum", "message"),
    [
        (signal.SIGTERM, "error: stopped by signal SIGTERM"),
        (signal.SIGHUP, "error: stopped by signal SIGHUP"),  # a closed terminal or ssh session
        (signal.SIGINT, "error: interrupted (Ctrl-C)"),
    ],
)
def test_a_signal_to_a_training_process_ends_its_run_killed_with_its_steps_flushed(
    launch_dir, signum, message
):
    argv = [f"--{k.replace('_', '-')}={v}" for k, v in ENDLESS.items()]
    MlflowClient().search_experiments()  # the store exists before the command (see below)
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.train_pytorch", *argv],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run = _wait_for_training(process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    assert message in err
    assert "Traceback" not in err
    run = MlflowClient().get_run(run.info.run_id)
    assert run.info.status == "KILLED"
    assert message.removeprefix("error: ") in run.data.tags["failure_reason"]
    assert MlflowClient().get_metric_history(run.info.run_id, "validation_loss")
    assert not logged_models()


def test_sigterm_to_mlflow_run_stops_the_command_it_launched(launch_dir):
    params = [arg for k, v in ENDLESS.items() for arg in ("-P", f"{k}={v}")]
    # Create the store before the launcher does: MLflow migrates a fresh sqlite store without a
    # lock, and this test's polling would race the launcher's migration ("duplicate column").
    MlflowClient().search_experiments()
    launcher = subprocess.Popen(
        [str(BIN / "mlflow"), "run", str(PROJECT_ROOT), "-e", "train_pytorch",
         "--env-manager", "local", "--experiment-name", "tabular-training/train", *params],
        cwd=launch_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        run = _wait_for_training(launcher)
        launcher.send_signal(signal.SIGTERM)  # the launcher only, as a scheduler would
        launcher.wait(timeout=60)
        # The command notices its launcher is gone and ends the run instead of training on.
        assert _wait_for_status(run.info.run_id) == "KILLED"
        assert not logged_models()
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("n_estimators=abc", "argument --n-estimators: expected int, got 'abc'"),
        ("max_features=2", "argument --max-features: expected a number in (0.0, 1.0]"),
    ],
)
def test_a_bad_flag_under_mlflow_run_fails_the_run_with_its_reason(param, message, launch_dir):
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "train_sklearn", "--env-manager", "local",
        "--experiment-name", "tabular-training/train", "-P", param, cwd=launch_dir,
    )  # fmt: skip
    assert done.returncode != 0
    (run,) = all_runs()
    assert run.info.status == "FAILED"
    assert message in run.data.tags["failure_reason"]


@pytest.mark.parametrize("input_text", ["/nonexistent/rows.csv", "relative/rows.csv"])
def test_predict_with_a_missing_or_relative_input_fails_its_run_in_one_line(input_text, launch_dir):
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", "predict", "--env-manager", "local",
        "--experiment-name", "tabular-training/predict", "-P", f"input={input_text}",
        cwd=launch_dir,
    )  # fmt: skip
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-2000:]
    assert f"input '{input_text}'" in errors[0]
    (run,) = all_runs()
    assert run.info.status == "FAILED"
    assert f"input '{input_text}'" in run.data.tags["failure_reason"]


def test_quick_params_keep_a_trainer_quick():
    # Guards the fixture above: ENDLESS must really be endless next to the quick parameters.
    assert int(ENDLESS["epochs"]) > 1000 * int(QUICK_PARAMS["pytorch"]["epochs"])

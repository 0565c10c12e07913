"""Entry points against an authenticated tracking server (`mlflow server --app-name basic-auth`).

With a user's credentials in MLFLOW_TRACKING_USERNAME/PASSWORD every stage finishes, Spark's
trial workers included, and the password lands nowhere: params, tags, metrics, artifacts, logged
models, registered versions and console output are searched for it. Without credentials, with a
wrong password or without permission, each entry point stops in one `error:` line naming the
server and the status, and the server holds nothing new.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.entities import ViewType
from mlflow.server.auth.client import AuthServiceClient
from mlflow.tracking import MlflowClient

import trainers
from tests.helpers.processes import BIN, run_tree
from tests.helpers.project import CHURN_CSV, PROJECT_ROOT
from tests.helpers.runs import quick_mlflow_params

pytestmark = pytest.mark.slow

CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
STAGES = ("train", "tune", "register", "predict")
MODEL = "churn-auth"


def _env(home: Path, username: str | None = None, password: str | None = None) -> dict:
    """This environment with only the given credentials: none of the admin's, and a HOME
    without ~/.mlflow/credentials."""
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    env["HOME"] = str(home)
    if username is not None:
        env |= {"MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password}
    return env


def _user(url: str) -> tuple[str, str]:
    """A new user of the server (default permission READ); (name, password)."""
    password = f"pw-{secrets.token_hex(12)}"
    AuthServiceClient(url).create_user("alice", password)
    return "alice", password


def _mlflow(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """The `mlflow` CLI with exactly ``env`` (``mlflow_cli`` would add the admin's credentials)."""
    return run_tree(
        [str(BIN / "mlflow"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def _mlflow_run(entry_point: str, stage: str, *params: str, cwd: Path, env: dict):
    done = _mlflow(
        "run", str(PROJECT_ROOT), "-e", entry_point, "--env-manager", "local",
        "--experiment-name", f"tabular-training/{stage}", *params, cwd=cwd, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _start(command: list[str], env: dict) -> subprocess.Popen:
    """An entry point in a fresh interpreter, as `mlflow run` starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", f"entrypoints.{command[0]}", *command[1:]],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _everything_logged(client: MlflowClient, into: Path) -> list[str]:
    """Every param, tag and metric name of every run, logged model and registered version, and
    the text of every file they hold (downloaded into ``into``)."""
    texts = []
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    for run in client.search_runs(experiments, run_view_type=ViewType.ALL):
        texts += [*run.data.params.items(), *run.data.tags.items(), *run.data.metrics]
        run_id = run.info.run_id
        mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=_folder(into / run_id))
    for model in mlflow.search_logged_models(experiment_ids=experiments, output_format="list"):
        texts += [*model.params.items(), *model.tags.items()]
        uri, folder = f"models:/{model.model_id}", _folder(into / model.model_id)
        mlflow.artifacts.download_artifacts(uri, dst_path=folder)
    for version in client.search_model_versions():
        texts += [*version.tags.items(), version.source, version.description or ""]
    files = [p for p in into.rglob("*") if p.is_file()]
    assert len(files) > 20, files  # plots, reports, the models' files and code
    return [str(t) for t in texts] + [p.read_bytes().decode("latin-1") for p in files]


def _folder(path: Path) -> str:
    path.mkdir(parents=True)
    return str(path)


def test_every_stage_finishes_as_a_user_and_the_password_is_logged_nowhere(
    auth_server, launch_dir, tmp_path
):
    user, password = _user(auth_server)
    env = _env(tmp_path / "home", user, password)
    rows = tmp_path / "rows.csv"
    pd.read_csv(CHURN_CSV).drop(columns="churn").head(20).to_csv(rows, index=False)
    scored = tmp_path / "scored.csv"
    data = ("-P", f"data={CHURN_CSV}", "-P", "target=churn")

    trained = _mlflow_run(
        "train_sklearn", "train", *data, *quick_mlflow_params(trainers.get("sklearn")),
        cwd=launch_dir, env=env,
    )  # fmt: skip
    (train_run,) = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("tabular-training/train").experiment_id]
    )
    tuned = _mlflow_run(
        "tune", "tune", *data, "-P", "trainer=sklearn", "-P", "max_evals=2",
        "-P", "parallelism=2", cwd=launch_dir, env=env,
    )  # fmt: skip
    registered = _mlflow_run(
        "register", "register", "-P", f"run_id={train_run.info.run_id}",
        "-P", f"model_name={MODEL}", "-P", "promote=true", cwd=launch_dir, env=env,
    )  # fmt: skip
    predicted = _mlflow_run(
        "predict", "predict", "-P", f"model_uri=models:/{MODEL}@champion",
        "-P", f"input={rows}", "-P", f"output={scored}", "-P", "engine=pandas",
        cwd=launch_dir, env=env,
    )  # fmt: skip

    client = MlflowClient()
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], run_view_type=ViewType.ALL
    )
    assert {r.info.status for r in runs} == {"FINISHED"}
    entry_points = sorted(r.data.tags.get("mlflow.project.entryPoint", "trial") for r in runs)
    assert entry_points == ["predict", "register", "train_sklearn", "trial", "trial", "tune"]
    (tune_run,) = [r for r in runs if r.data.tags.get("mlflow.project.entryPoint") == "tune"]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == tune_run.info.run_id]
    assert len(trials) == 2  # recorded by Spark's workers, with the user's credentials
    assert "log4j" in tuned.stderr  # the trials did run on Spark
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.tags["source_run_id"] == train_run.info.run_id
    assert len(pd.read_csv(scored)) == 20

    logged = _everything_logged(client, tmp_path / "downloaded")
    console = [d.stdout + d.stderr for d in (trained, tuned, registered, predicted)]
    assert any(MODEL in text for text in logged)  # the search reads what was logged
    assert [text for text in logged + console if password in text] == []
    assert password not in scored.read_text()


def _entry_point_commands(tmp_path: Path) -> dict[str, list[str]]:
    """Each stage's entry point as the launcher runs it, with tiny parameters."""
    return {
        "train": ["train_sklearn", "--data", str(CHURN_CSV), "--target", "churn",
                  "--n-estimators", "20"],
        "tune": ["tune", "--trainer", "sklearn", "--max-evals", "2", "--parallelism", "2"],
        "register": ["register", "--run-id", "0" * 32, "--model-name", MODEL, "--promote", "true"],
        "predict": ["predict", "--model-uri", f"models:/{MODEL}@champion", "--input",
                    str(CHURN_CSV), "--output", str(tmp_path / "scored.csv")],
    }  # fmt: skip


def test_without_or_with_wrong_credentials_each_entry_point_stops_in_one_line_writing_nothing(
    auth_server, launch_dir, tmp_path
):
    client = MlflowClient()
    for stage in STAGES:  # the admin's: a user with READ may look but not create runs there
        client.create_experiment(f"tabular-training/{stage}")
    user, password = _user(auth_server)
    home = tmp_path / "home"
    cases = {
        "none": (_env(home), "401 Unauthorized", "no credentials; set MLFLOW_TRACKING_USERNAME"),
        "wrong": (_env(home, user, "not-" + password), "401 Unauthorized", "refused user 'alice'"),
        "read-only": (_env(home, user, password), "403 Forbidden", "user 'alice' lacks permission"),
    }
    started = {
        (case, stage): _start(command, env)
        for case, (env, _, _) in cases.items()
        for stage, command in _entry_point_commands(tmp_path).items()
    }
    launcher = _mlflow(
        "run", str(PROJECT_ROOT), "-e", "train_sklearn", "--env-manager", "local",
        "--experiment-name", "tabular-training/train", cwd=launch_dir, env=_env(home),
    )  # fmt: skip

    for (case, stage), process in started.items():
        stdout, stderr = process.communicate(timeout=300)
        _, status, advice = cases[case]
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert process.returncode == 2, (case, stage, stderr[-3000:])
        assert len(errors) == 1, (case, stage, stderr)
        assert errors[0].startswith(f"error: {auth_server}: {status} (/api/2.0/mlflow/"), errors
        assert advice in errors[0]
        assert "Traceback" not in stderr + stdout
        assert password not in stderr + stdout
    # MLflow's launcher asks the server before any project code runs, and prints its traceback.
    assert launcher.returncode != 0
    assert "401 != 200" in launcher.stderr

    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    assert client.search_runs(experiments, run_view_type=ViewType.ALL) == []
    assert client.search_registered_models() == []
    assert mlflow.search_logged_models(experiment_ids=experiments, output_format="list") == []
    assert not (tmp_path / "scored.csv").exists()

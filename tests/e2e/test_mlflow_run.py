"""The trainers through `mlflow run`, the path users take (local and uv env managers)."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pytest
from mlflow.projects import run as mlflow_run
from mlflow.tracking import MlflowClient

import trainers
from tests.helpers.processes import mlflow_cli, predict_in_fresh_process, run_tree
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import QUICK_PARAMS, quick_mlflow_params, runs_in

pytestmark = pytest.mark.slow
EXPERIMENT = "tabular-training/train"


def _elsewhere(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere"
    path.mkdir()
    return path


def _runs(status: str | None = None):
    return [r for r in runs_in(EXPERIMENT) if status is None or r.info.status == status]


def test_defaults_run_tracked_and_the_model_serves_in_a_fresh_process(trainer, tmp_path):
    entry_point = trainer.entry_point
    submitted = mlflow_run(
        str(PROJECT_ROOT), entry_point=entry_point, env_manager="local", experiment_name=EXPERIMENT
    )
    run = MlflowClient().get_run(submitted.run_id)
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["mlflow.project.entryPoint"] == entry_point
    assert tags["entry_point"] == entry_point
    assert tags["mlflow.runName"].endswith("_v1")
    assert tags["git_dirty"] in ("true", "false")
    assert len(tags["data_version"]) == 12
    assert run.data.params["seed"] == "42"
    metrics = run.data.metrics
    if tags["task"] == "classification":
        assert metrics["test_accuracy"] > 0.9
    else:
        assert 0.2 < metrics["test_r2"] < 1

    model_uri = f"runs:/{run.info.run_id}/model"
    rows = mlflow.pyfunc.load_model(model_uri).input_example
    rows.iloc[0, 0] = float("nan")
    fresh = predict_in_fresh_process(model_uri, rows, _elsewhere(tmp_path))
    assert len(fresh) == len(rows)
    assert fresh["prediction"].notna().all()


def test_user_csv_with_strings_and_missing_values_through_the_cli(
    tmp_path, churn_csv, raw_rows, launch_dir
):
    # One trainer here: every trainer trains on this CSV in process (tests/entrypoints) and
    # runs through `mlflow run` on its defaults above; the CLI path is the same for all.
    xgboost = trainers.get("xgboost")
    entry_point = xgboost.entry_point
    fast = [arg for k, v in QUICK_PARAMS[xgboost.name].items() for arg in ("-P", f"{k}={v}")]
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", entry_point, "--env-manager", "local",
        "--experiment-name", EXPERIMENT, "-P", f"data={churn_csv}", "-P", "target=churn", *fast,
        cwd=launch_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = _runs("FINISHED")
    assert run.data.tags["feature_set"].startswith("5cols-")
    model_uri = f"runs:/{run.info.run_id}/model"
    fresh = predict_in_fresh_process(model_uri, raw_rows, _elsewhere(tmp_path))
    in_process = mlflow.pyfunc.load_model(model_uri).predict(raw_rows)
    assert fresh["prediction"].tolist() == in_process["prediction"].tolist()
    assert fresh["probability_yes"].round(9).tolist() == (
        in_process["probability_yes"].round(9).tolist()
    )


@pytest.mark.parametrize(
    ("entry_point", "param", "message"),
    [
        ("train_sklearn", "max_dept=5", "unknown parameter(s): --max_dept 5"),
        ("train_sklearn", "n_estimators=abc", "argument --n-estimators: expected int, got 'abc'"),
        ("train_sklearn", "data=/nonexistent/table.csv", "no such file"),
        # Each trainer's own value checks are tested in process (tests/entrypoints).
    ],
)
def test_bad_parameters_exit_nonzero_with_the_reason_and_a_failed_run(
    entry_point, param, message, launch_dir
):
    target = "target=y" if "data=" in param else "target="
    done = mlflow_cli(
        "run", str(PROJECT_ROOT), "-e", entry_point, "--env-manager", "local",
        "--experiment-name", EXPERIMENT, "-P", param, "-P", target,
        cwd=launch_dir,
    )  # fmt: skip
    assert done.returncode != 0
    assert "error: " in done.stderr
    assert message in done.stderr
    (run,) = _runs()
    assert run.info.status == "FAILED"
    assert not MlflowClient().list_artifacts(run.info.run_id)


def test_relative_tracking_uri_the_command_cannot_reach_is_named(project_repo, launch_dir):
    # Like a git-URL run: the command runs in another directory (a copy of the project), so a
    # relative sqlite URI opens a different, empty store there.
    project_copy, _ = project_repo
    done = mlflow_cli(
        "run", str(project_copy), "-e", "train_sklearn", "--env-manager", "local",
        cwd=launch_dir, env={"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "The tracking URI 'sqlite:///mlflow.db' is relative" in done.stderr
    assert not (project_copy / "mlflow.db").exists()  # no stray store where the command ran
    mlflow.set_tracking_uri(f"sqlite:///{launch_dir / 'mlflow.db'}")
    (run,) = MlflowClient().search_runs(["0"])
    assert run.info.status == "FAILED"


def test_uv_and_virtualenv_build_python_env_offline_and_match_local_metrics(tmp_path, launch_dir):
    """The pinned python_env.yaml builds with uv and with virtualenv (pyenv's 3.11.7, pip and
    its find-links) here, and each trains to the same metrics as the local environment; a
    second virtualenv run reuses the environment MLflow cached by the project's hash."""
    if not (Path.home() / ".pyenv" / "versions" / "3.11.7").is_dir():
        pytest.skip("--env-manager virtualenv needs pyenv's Python 3.11.7")
    uv_env = {
        # uv reads neither pip's config nor its find-links (where this machine keeps the CPU
        # torch wheel): take them from pip. This machine also sets PYTHONDONTWRITEBYTECODE.
        **({"UV_FIND_LINKS": links} if (links := _pip_find_links()) else {}),
        "UV_COMPILE_BYTECODE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    params = [*quick_mlflow_params(trainers.get("sklearn")), "-P", "data=builtin:wine"]
    managers = ("local", "uv", "virtualenv", "virtualenv")
    outputs = []
    for manager in managers:
        done = mlflow_cli(
            "run", str(PROJECT_ROOT), "-e", "train_sklearn", "--env-manager", manager,
            "--experiment-name", EXPERIMENT, *params,
            # One folder per manager: MLflow names both kinds of environment by the same hash.
            cwd=launch_dir, env={**uv_env, "MLFLOW_ENV_ROOT": str(tmp_path / f"envs-{manager}")},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stderr)
    runs = sorted(_runs("FINISHED"), key=lambda r: r.info.start_time)
    assert [r.data.tags.get("mlflow.project.env") for r in runs] == [None, "uv", *managers[2:]]
    local, *others = (
        {k: v for k, v in r.data.metrics.items() if k.startswith("test_")} for r in runs
    )
    assert local
    assert all(other == local for other in others)
    assert "Creating a new environment" in outputs[2]
    assert "already exists" in outputs[3]
    assert "Creating a new environment" not in outputs[3]


def _pip_find_links() -> str:
    done = run_tree([shutil.which("pip") or "pip", "config", "list"], timeout=120)
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.endswith("find-links"):
            return value.strip().strip("'\"")
    return ""

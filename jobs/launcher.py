"""Launching this project's entry points as child runs, and reading what `mlflow run` recorded.

Used by the entry points that run others: ``main`` (its steps) and ``reproduce`` (the rerun).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

import mlflow
from mlflow.exceptions import ExecutionException
from mlflow.projects._project_spec import load_project
from mlflow.tracking import MlflowClient

from common.environment import PROJECT_ROOT
from common.errors import UserInputError, one_line


def entry_point_parameters(entry_point: str, project_dir: Path = PROJECT_ROOT) -> list[str]:
    """The parameters the MLproject in ``project_dir`` declares for ``entry_point``."""
    return list(load_project(str(project_dir)).get_entry_point(entry_point).parameters)


ENV_MANAGERS = ("local", "uv", "virtualenv")


def launched_value(logged: str) -> str:
    """A parameter value as the user gave it: the launcher logs the shell-quoted text it
    substituted into the command (``''`` for an empty value)."""
    try:
        return " ".join(shlex.split(logged))
    except ValueError as exc:  # not what the launcher writes: an edited or crafted run
        raise UserInputError(
            f"logged parameter value {logged!r} is not shell-quoted: {exc}"
        ) from None


def given_params(run) -> dict[str, str]:
    """A run's parameters as the user gave them: under ``mlflow run`` the launcher logged the
    shell-quoted text (``''`` for an empty value, quotes around a path with spaces)."""
    params = run.data.params
    if "mlflow.project.entryPoint" not in run.data.tags:
        return dict(params)
    return {name: launched_value(value) for name, value in params.items()}


def env_manager_of(tags: Mapping[str, str]) -> str:
    """The env manager a launcher run used: its ``mlflow.project.env`` tag (set only for
    virtualenv and uv), else local; refused unless it is one this project runs with."""
    manager = tags.get("mlflow.project.env", "local")
    if manager not in ENV_MANAGERS:
        raise UserInputError(
            f"mlflow.project.env tag {manager!r}: not an env manager this project runs with "
            f"({', '.join(ENV_MANAGERS)}); pass env_manager= to choose one"
        )
    return manager


def run_child(
    project_dir: Path, entry_point: str, parameters: Mapping[str, str], env_manager: str
) -> str:
    """``mlflow run`` an entry point as a child of the active run, in its experiment; run id.

    ``env_manager`` is passed explicitly: MLflow does not hand it down (issue #11849).

    Raises:
        UserInputError: the child failed; the message carries its ``failure_reason``.
    """
    parent = mlflow.active_run().info
    try:
        submitted = mlflow.projects.run(
            str(project_dir), entry_point=entry_point, parameters=dict(parameters),
            env_manager=env_manager, experiment_id=parent.experiment_id, synchronous=True,
        )  # fmt: skip
    except ExecutionException as exc:
        raise UserInputError(f"step {entry_point} failed: {_child_failure(entry_point)}") from exc
    except Exception as exc:  # MLflow refused before the command ran (e.g. an env manager)
        reason = one_line(exc, limit=500)
        _end_orphan(entry_point, reason)
        raise UserInputError(f"step {entry_point} could not start: {reason}") from exc
    return submitted.run_id


def _end_orphan(entry_point: str, reason: str) -> None:
    """Mark a child run MLflow created but never started FAILED instead of leaving it RUNNING."""
    parent = mlflow.active_run().info
    client = MlflowClient()
    for run in client.search_runs(
        [parent.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}' "
        f"and tags.`mlflow.project.entryPoint` = '{entry_point}' and attributes.status = 'RUNNING'",
    ):
        client.set_tag(run.info.run_id, "failure_reason", f"not started: {reason}")
        client.set_terminated(run.info.run_id, "FAILED")


def latest_child(entry_point: str):
    """The active run's newest child run of ``entry_point`` (finished, failed or running), or
    None."""
    parent = mlflow.active_run().info
    runs = MlflowClient().search_runs(
        [parent.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}' "
        f"and tags.`mlflow.project.entryPoint` = '{entry_point}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def _child_failure(entry_point: str) -> str:
    run = latest_child(entry_point)
    if run is None:
        return "the step's run was not created"
    return f"run {run.info.run_id}: {run.data.tags.get('failure_reason', 'see its log')}"

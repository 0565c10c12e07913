"""Experiment naming, the tracking store's experiments and the standard tags of every run.

Experiment convention: ``/Users/<user>/projects/<project>/<stage>`` on Databricks and
``<project>/<stage>`` elsewhere, ``<project>`` being the ``name`` in MLproject. It applies when an
entry point runs directly; under ``mlflow run`` the launcher has already chosen the experiment.
The run context that sets these tags is ``jobs.context``.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import yaml
from mlflow.tracking import MlflowClient

from common import locks
from common.environment import PROJECT_ROOT
from common.errors import UserInputError, one_line

log = logging.getLogger(__name__)


def project_name(project_root: Path = PROJECT_ROOT) -> str:
    """The ``name`` field of the project's MLproject file."""
    spec = yaml.safe_load((project_root / "MLproject").read_text())
    return str(spec["name"])


def is_databricks_uri(uri: str) -> bool:
    """True for ``databricks`` and ``databricks://profile`` tracking URIs."""
    return uri == "databricks" or uri.startswith("databricks:")


def current_user(tracking_uri: str) -> str:
    """The workspace user on Databricks (via the databricks-sdk), the OS user elsewhere."""
    if is_databricks_uri(tracking_uri):
        from databricks.sdk import WorkspaceClient

        profile = urlparse(tracking_uri).netloc or None
        return WorkspaceClient(profile=profile).current_user.me().user_name
    return getpass.getuser()


def experiment_name(stage: str, *, tracking_uri: str | None = None, user: str | None = None) -> str:
    """The conventional experiment for ``stage`` (``train``, ``tune``, ``register``, ...)."""
    uri = tracking_uri or mlflow.get_tracking_uri()
    if is_databricks_uri(uri):
        return f"/Users/{user or current_user(uri)}/projects/{project_name()}/{stage}"
    return f"{project_name()}/{stage}"


def is_relative_local_uri(uri: str) -> bool:
    """True when a tracking URI points at a store relative to the working directory."""
    if is_databricks_uri(uri):
        return False
    if uri.startswith("sqlite:///"):
        return not uri.removeprefix("sqlite:///").startswith("/")
    parsed = urlparse(uri)
    return parsed.scheme in ("", "file") and not Path(parsed.path or uri).is_absolute()


def _artifact_location(name: str) -> str | None:
    """Keep a local sqlite store's artifacts beside the database, not in the working directory.

    MLflow's default is ``./mlruns`` of whichever directory first creates the experiment, which
    under a git-URL run is a throwaway clone.
    """
    uri = mlflow.get_tracking_uri()
    if not uri.startswith("sqlite:///") or is_relative_local_uri(uri):
        return None
    root = Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts"
    parts = [part for part in name.split("/") if part]
    if not parts or any(part in (".", "..") for part in parts):
        raise UserInputError(
            f"experiment name '{name}': '.' and '..' would place its artifacts outside {root}"
        )
    return root.joinpath(*parts).as_uri()


def prepare_store() -> None:
    """Create (or migrate) a local sqlite store once, under a lock.

    MLflow migrates a fresh store's schema on first use without a lock: several processes
    starting at once fail with "table ... already exists". Other stores need nothing here.
    """
    uri = mlflow.get_tracking_uri()
    if not uri.startswith("sqlite:///") or is_relative_local_uri(uri):
        return
    key, what = f"store {locks.store_key(uri)}", f"opening the tracking store {uri}"
    with locks.held(key, what=what, uri=uri):
        MlflowClient().search_experiments(max_results=1)


def ensure_experiment(name: str) -> str:
    """Return the id of experiment ``name``, creating it (artifacts placed as above) if needed.

    On Databricks the experiment's workspace folder is created first: Databricks refuses an
    experiment whose parent folder is missing, which a fresh workspace's
    ``/Users/<you>/projects/<project>`` is.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    uri = mlflow.get_tracking_uri()
    if is_databricks_uri(uri) and name.startswith("/"):
        ensure_workspace_folder(name.rsplit("/", 1)[0] or "/", uri, experiment=name)
    return client.create_experiment(name, artifact_location=_artifact_location(name))


def ensure_workspace_folder(folder: str, tracking_uri: str, *, experiment: str = "") -> None:
    """Create a Databricks workspace folder and its parents (a no-op if they exist).

    Raises:
        UserInputError: the workspace refused (e.g. no permission there), naming the folder.
    """
    from databricks.sdk import WorkspaceClient

    profile = urlparse(tracking_uri).netloc or None
    try:
        WorkspaceClient(profile=profile).workspace.mkdirs(folder)
    except Exception as exc:  # the SDK's DatabricksError family, or a connection error
        purpose = f" for experiment '{experiment}'" if experiment else ""
        raise UserInputError(
            f"cannot create the Databricks folder '{folder}'{purpose}: {one_line(exc)}; "
            "create it in the workspace or choose a folder you can write to"
        ) from None


def git_state(path: Path = PROJECT_ROOT) -> tuple[str | None, str]:
    """(commit, dirty) of the checkout at ``path``; dirty is "true", "false" or "unknown".

    Dirty means tracked changes or untracked files that git does not ignore: either makes the
    commit alone insufficient to reproduce the run.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=path, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = "true" if git("status", "--porcelain") else "false"
    except (OSError, subprocess.SubprocessError):
        return None, "unknown"
    return commit, dirty


def git_location(path: Path = PROJECT_ROOT) -> tuple[str, str] | None:
    """(repository top folder, project subfolder inside it) of ``path``, or None outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "--show-prefix"],
            cwd=path, capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    top, _, prefix = done.stdout.partition("\n")
    return top.strip(), prefix.strip().rstrip("/")


def env_allows(variable: str) -> bool:
    """Whether the environment variable that opens a guard's way out is set to true."""
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes")


def slug(text: str) -> str:
    """``text`` as a lowercase part of a run or model name: letters, digits and single
    underscores, at most 60 characters (``Churn Data (2024)`` -> ``churn_data_2024``)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower())[:60].strip("_") or "data"


def standard_tags(entry_point: str, existing: Mapping[str, str]) -> dict[str, str]:
    """The tags every run of this project carries: its entry point, the git commit and whether
    the tree was dirty, and where ``reproduce`` finds the code again (repository, subfolder).

    Args:
        existing: The run's tags so far; a commit the launcher recorded is kept.
    """
    commit, dirty = git_state()
    tags = {"entry_point": entry_point, "git_dirty": dirty}
    if location := git_location():
        tags["project_repo"], tags["project_subdir"] = location
    if commit and "mlflow.source.git.commit" not in existing:
        tags["mlflow.source.git.commit"] = commit
    return tags

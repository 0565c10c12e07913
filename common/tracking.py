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
from dataclasses import dataclass
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


# A deployment's own experiment folder (databricks.yml sets one per target): experiments are
# <root>/<stage> instead of the per-user convention.
EXPERIMENT_ROOT = "TABULAR_EXPERIMENT_ROOT"


def experiment_name(stage: str, *, tracking_uri: str | None = None, user: str | None = None) -> str:
    """The conventional experiment for ``stage`` (``train``, ``tune``, ``register``, ...), or
    ``<root>/<stage>`` under ``TABULAR_EXPERIMENT_ROOT``."""
    if root := os.environ.get(EXPERIMENT_ROOT, "").strip().rstrip("/"):
        return f"{root}/{stage}"
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


# A deployment's own artifact location (databricks.yml: one per target, e.g. a volume of the
# target's schema): a new experiment's artifacts go to <root>/<experiment name>.
ARTIFACT_ROOT = "TABULAR_ARTIFACT_ROOT"


def _artifact_location(name: str) -> str | None:
    """Keep a local sqlite store's artifacts beside the database, not in the working directory;
    under ``TABULAR_ARTIFACT_ROOT``, there.

    MLflow's default is ``./mlruns`` of whichever directory first creates the experiment, which
    under a git-URL run is a throwaway clone.
    """
    if root := os.environ.get(ARTIFACT_ROOT, "").strip().rstrip("/"):
        return f"{root}/{name.strip('/')}"
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


# What a deployment that is not a checkout (a Databricks bundle deploys files, not .git) says
# about its code: databricks.yml sets these on every job cluster from ${bundle.git.*}.
DEPLOYED_COMMIT = "TABULAR_GIT_COMMIT"
DEPLOYED_ORIGIN = "TABULAR_GIT_ORIGIN"
DEPLOYED_BRANCH = "TABULAR_GIT_BRANCH"
DEPLOYED_DIRTY = "TABULAR_GIT_DIRTY"
DEPLOYED_SUBDIR = "TABULAR_PROJECT_SUBDIR"
DEPLOYED_TARGET = "TABULAR_BUNDLE_TARGET"
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class CodeIdentity:
    """Which code a run runs: its commit, whether the files differ from it (``dirty``: "true",
    "false" or "unknown"), and where that commit lives (a checkout's top folder, or the
    repository URL a deployment came from) with the project's subfolder in it."""

    commit: str | None
    dirty: str
    repo: str | None = None
    subdir: str = ""
    branch: str | None = None
    target: str | None = None  # the bundle target a deployment was made for
    deployed: bool = False  # read from TABULAR_GIT_*, not from a checkout


def code_identity(path: Path = PROJECT_ROOT) -> CodeIdentity:
    """The code at ``path``: its git checkout when it is one, else what the deployment recorded
    (``TABULAR_GIT_*``), else nothing known.

    A deployment counts as dirty unless it says it was made from a clean tree
    (``TABULAR_GIT_DIRTY=false``, which ``make deploy`` sets only after checking).

    Raises:
        UserInputError: ``TABULAR_GIT_COMMIT`` is set but is not a full commit sha (e.g. a
            bundle variable left unresolved).
    """
    commit, dirty = git_state(path)
    if commit is not None:
        top, subdir = git_location(path) or (None, "")
        return CodeIdentity(commit, dirty, top, subdir)
    deployed = os.environ.get(DEPLOYED_COMMIT, "").strip()
    if not deployed:
        return CodeIdentity(None, "unknown")
    if not _SHA.fullmatch(deployed):
        raise UserInputError(
            f"{DEPLOYED_COMMIT}={deployed[:60]!r} is not a full commit sha: deploy the bundle "
            "from a git checkout (databricks.yml passes ${bundle.git.commit})"
        )
    clean = os.environ.get(DEPLOYED_DIRTY, "").strip().lower() == "false"
    return CodeIdentity(
        deployed,
        "false" if clean else "true",
        os.environ.get(DEPLOYED_ORIGIN, "").strip() or None,
        os.environ.get(DEPLOYED_SUBDIR, "").strip().strip("/"),
        os.environ.get(DEPLOYED_BRANCH, "").strip() or None,
        os.environ.get(DEPLOYED_TARGET, "").strip() or None,
        deployed=True,
    )


def standard_tags(entry_point: str, existing: Mapping[str, str]) -> dict[str, str]:
    """The tags every run of this project carries: its entry point, the git commit and whether
    the tree was dirty, and where ``reproduce`` finds the code again (repository, subfolder);
    for a deployed bundle also its repository URL, branch and target.

    Args:
        existing: The run's tags so far; a commit the launcher recorded is kept.
    """
    code = code_identity()
    tags = {"entry_point": entry_point, "git_dirty": code.dirty}
    if code.repo:
        tags["project_repo"], tags["project_subdir"] = code.repo, code.subdir
    if code.commit and "mlflow.source.git.commit" not in existing:
        tags["mlflow.source.git.commit"] = code.commit
    if code.deployed:  # MLflow has no checkout to read these from
        if code.target:
            tags["bundle_target"] = code.target
        if code.repo:
            tags["mlflow.source.git.repoURL"] = code.repo
        if code.branch:
            tags["mlflow.source.git.branch"] = code.branch
    return tags

"""Experiment naming, standard tags and the run context every entry point uses.

Experiment convention: ``/Users/<user>/projects/<project>/<stage>`` on Databricks and
``<project>/<stage>`` elsewhere, ``<project>`` being the ``name`` in MLproject. It applies when an
entry point runs directly; under ``mlflow run`` the launcher has already chosen the experiment.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import logging
import os
import re
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import yaml
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from common import locks
from common.environment import PROJECT_ROOT
from common.errors import UserInputError, one_line

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT_ID = "0"
# The way out of the guard against runs in MLflow's Default experiment.
ALLOW_DEFAULT = "TABULAR_ALLOW_DEFAULT_EXPERIMENT"
# Names MLflow generates when nobody chose one, e.g. "gentle-owl-412".
_GENERATED_RUN_NAME = re.compile(r"[a-z]+-[a-z]+-\d{1,4}")


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


def _check_launcher_run(run_id: str, stage: str) -> None:
    uri = mlflow.get_tracking_uri()
    hint = ""
    if is_relative_local_uri(uri):
        hint = (
            f" The tracking URI '{uri}' is relative, and this command runs in "
            f"'{Path.cwd()}' (a temporary clone for git-URL runs), so it opened a different "
            "store than the launcher. Use an absolute URI, e.g. "
            "MLFLOW_TRACKING_URI=sqlite:////abs/path/mlflow.db."
        )
        db = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else None
        if db is not None and not Path(db).exists():  # refuse before sqlite creates a stray store
            raise UserInputError(f"run {run_id} started by 'mlflow run' is not in '{uri}'.{hint}")
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise UserInputError(
            f"run {run_id} started by 'mlflow run' is not in '{uri}'.{hint}"
        ) from exc
    if run.info.experiment_id == DEFAULT_EXPERIMENT_ID and not env_allows(ALLOW_DEFAULT):
        raise UserInputError(
            "this run landed in MLflow's 'Default' experiment, where runs of every project mix; "
            f"name one: mlflow run . --experiment-name {experiment_name(stage)} ... "
            f"(or set MLFLOW_EXPERIMENT_NAME; {ALLOW_DEFAULT}=true allows Default)"
        )


def env_allows(variable: str) -> bool:
    """Whether the environment variable that opens a guard's way out is set to true."""
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes")


@contextmanager
def tracked_run(
    *, entry_point: str, stage: str, params: Mapping[str, object], run_name: str = ""
) -> Iterator[mlflow.ActiveRun]:
    """Start (or, under ``mlflow run``, resume) a run with the standard tags and ``params``.

    The run ends FINISHED, or FAILED with the error in its ``failure_reason`` tag; nothing is left
    RUNNING.
    """
    launcher_run_id = os.environ.get("MLFLOW_RUN_ID")
    if launcher_run_id:
        _check_launcher_run(launcher_run_id, stage)
        run = mlflow.start_run(run_id=launcher_run_id)
    else:
        prepare_store()
        experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID") or ensure_experiment(
            os.environ.get("MLFLOW_EXPERIMENT_NAME") or experiment_name(stage)
        )
        if experiment_id == DEFAULT_EXPERIMENT_ID and not env_allows(ALLOW_DEFAULT):
            raise UserInputError(
                "MLFLOW_EXPERIMENT_ID/NAME point at MLflow's 'Default' experiment; unset them "
                f"(runs then go to {experiment_name(stage)}) or name another "
                f"({ALLOW_DEFAULT}=true allows Default)"
            )
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name or None)
    try:
        commit, dirty = git_state()
        tags = {"entry_point": entry_point, "git_dirty": dirty}
        if location := git_location():  # where `reproduce` finds the code again
            tags["project_repo"], tags["project_subdir"] = location
        existing = run.data.tags
        if commit and "mlflow.source.git.commit" not in existing:
            tags["mlflow.source.git.commit"] = commit
        if launcher_run_id and run_name:
            tags["mlflow.runName"] = run_name
        mlflow.set_tags(tags)
        log_params(params)
        yield run
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        reason = str(exc) or ("interrupted (Ctrl-C)" if status == "KILLED" else "no message")
        try:
            mlflow.set_tag("failure_reason", f"{type(exc).__name__}: {reason}"[:5000])
        finally:
            mlflow.end_run(status)
        raise
    else:
        mlflow.end_run("FINISHED")


@contextmanager
def entry_point_run(
    entry_point: str, args: argparse.Namespace, *, stage: str
) -> Iterator[mlflow.ActiveRun]:
    """``tracked_run`` for an entry point: every parsed flag but ``--run-name`` is a parameter,
    and ``--run-name`` names the run."""
    params = {k: v for k, v in vars(args).items() if k != "run_name"}
    with tracked_run(
        entry_point=entry_point, stage=stage, params=params, run_name=args.run_name
    ) as run:
        yield run


def record_child_run(
    client: MlflowClient,
    *,
    experiment_id: str,
    parent_run_id: str,
    run_name: str,
    start_ms: int,
    params: Mapping[str, object],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    status: str,
) -> str:
    """Record a finished nested run in three store calls; returns its run id.

    Used for tuning trials: nothing attaches to ``MLFLOW_RUN_ID`` or an active run, so it works
    the same in Spark workers (where that variable leaks in, MLflow issue #15713). Calls retry
    on sqlite's "database is locked" when trials in parallel share one store.
    """
    run = _retry_locked(
        lambda: client.create_run(
            experiment_id,
            start_time=start_ms,
            tags={"mlflow.parentRunId": parent_run_id, **tags},
            run_name=run_name,
        )
    )
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    _retry_locked(
        lambda: client.log_batch(
            run_id,
            params=[Param(k, "None" if v is None else str(v)) for k, v in params.items()],
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        )
    )
    _retry_locked(lambda: client.set_terminated(run_id, status=status, end_time=now))
    return run_id


def _retry_locked(call, attempts: int = 8):
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:  # MlflowException or SQLAlchemy's OperationalError
            if "database is locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def log_params(params: Mapping[str, object]) -> None:
    """Log ``params`` except those already on the run.

    ``mlflow run`` logs every entry-point parameter as the text the user typed; logging the same
    key again with other text (``1`` vs ``1.0``) raises "Changing param values is not allowed".
    """
    run = mlflow.active_run()
    existing = MlflowClient().get_run(run.info.run_id).data.params
    fresh = {k: ("None" if v is None else str(v)) for k, v in params.items() if k not in existing}
    if fresh:
        mlflow.log_params(fresh)


def slug(text: str) -> str:
    """``text`` as a lowercase part of a run or model name: letters, digits and single
    underscores, at most 60 characters (``Churn Data (2024)`` -> ``churn_data_2024``)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower())[:60].strip("_") or "data"


def _active_tags() -> dict[str, str]:
    return MlflowClient().get_run(mlflow.active_run().info.run_id).data.tags


def _user_named(tags: Mapping[str, str]) -> bool:
    current = tags.get("mlflow.runName", "")
    return bool(current) and not _GENERATED_RUN_NAME.fullmatch(current)


def title_run(name: str) -> str:
    """Call the active run ``name`` unless the user named it (``-P run_name=``, ``--run-name``);
    returns the run's name."""
    tags = _active_tags()
    if _user_named(tags):
        return tags["mlflow.runName"]
    mlflow.set_tag("mlflow.runName", name)
    return name


def number_run(series: str) -> str:
    """Call the active run ``<series>_v<N>`` unless the user named it; returns its name.

    N counts this experiment's runs of the series (tag ``run_series``), so names read as a
    history: ``pipeline_churn_sample_v1``, ``pipeline_churn_sample_v2``.
    """
    run = mlflow.active_run()
    mlflow.set_tag("run_series", series)
    earlier = mlflow.search_runs(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"tags.run_series = '{series}'",
        output_format="list",
    )
    return title_run(
        f"{series}_v{len([r for r in earlier if r.info.run_id != run.info.run_id]) + 1}"
    )


def name_run(model_type: str) -> str:
    """Tag ``model_type`` and, unless the user named the run, call it
    ``<model_type>_<dataset>_v<N>``, counted per model type and dataset (``log_dataset`` tags the
    dataset first). Runs of other entry points than trainers carry its name in front:
    ``tune_xgboost_classifier_churn_sample_v1``."""
    mlflow.set_tag("model_type", model_type)
    tags = _active_tags()
    entry_point = tags.get("entry_point", "")
    parts = [
        entry_point if entry_point and not entry_point.startswith("train_") else "",
        model_type,
    ]
    if tags.get("dataset"):
        parts.append(slug(tags["dataset"]))
    return number_run("_".join(filter(None, parts)))


@contextmanager
def autologging(flavor: str, enabled: bool) -> Iterator[Callable[[Any], None]]:
    """Log the framework's full parameter set for the fit inside the block; never models.

    Yields a function to call with the fitted estimator. sklearn: MLflow's autologging always
    adds training-set plots and ``estimator.html`` at the artifact root (no option turns them
    off) and costs ~3 s a run, so instead that function logs ``get_params()`` as
    ``model__<name>``, the names autologging gave them; a forest's training score (near 1 by
    construction) is left out. xgboost: ``mlflow.xgboost.autolog`` without its
    ``feature_importance_weight.*`` (ours carry the feature names), off again on exit. The
    custom pyfunc is the run's model and the dataset is logged with its source, so
    autologging's model, signature, example and dataset logging stay off.
    """
    if flavor == "sklearn":

        def log_params(estimator: Any) -> None:
            if enabled:
                params = estimator.get_params(deep=False)
                mlflow.log_params({f"model__{k}": v for k, v in params.items()})

        yield log_params
        return
    module = importlib.import_module(f"mlflow.{flavor}")
    options = {
        "log_models": False,
        "log_datasets": False,
        "log_input_examples": False,
        "log_model_signatures": False,
        "silent": True,
    }
    if flavor == "xgboost":
        options["importance_types"] = []
    module.autolog(disable=not enabled, **options)
    try:
        yield lambda estimator: None
    finally:
        module.autolog(disable=True)


def log_dataset(table, *, data_version: str = "", context: str = "training") -> None:
    """Log the table as an MLflow dataset input and tag ``data_version`` and ``feature_set``.

    Args:
        table: A ``common.data.TabularData``.
        data_version: The user's version label; defaults to the table's content digest.
        context: The dataset's role, shown in the UI.
    """
    source = table.source
    if source.startswith("builtin:"):
        # MLflow resolves only URI-like sources; a bundled set is described by its loader.
        loader = f"sklearn.datasets.load_{source.removeprefix('builtin:')}"
        source = CodeDatasetSource(tags={"mlflow.source.name": loader})
    with warnings.catch_warnings():
        # Both are noise here: the hint is about integer columns in the dataset's schema, and
        # MLflow registers its local-file source resolver twice.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_pandas(
            table.raw, source=source, targets=table.target, name=table.name
        )
        mlflow.log_input(dataset, context=context)  # the schema is inferred here, lazily
    mlflow.set_tags(
        {
            "dataset": table.name,  # runs, and registered models by default, are named after it
            "data_version": data_version or table.digest,
            "data_digest": table.digest,  # always the content, whatever data_version says
            "feature_set": table.feature_set,
            "task": table.task,
            # The resolved label column: the launcher logs an empty -P target as the text "''".
            "target": table.target,
        }
    )


def log_spark_dataset(frame, *, source: str, target: str, name: str, digest: str) -> None:
    """Log a Spark DataFrame as the run's training input: its schema and where it was read,
    with ``digest`` (computed on Spark) instead of MLflow's hash of the first rows."""
    table = source.removeprefix("table:")
    is_file = "/" in source or "://" in source or source.startswith(("dbfs:", "builtin:"))
    where = {"path": source} if is_file else {"table_name": table}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        dataset = mlflow.data.from_spark(frame, **where, targets=target, name=name, digest=digest)
        mlflow.log_input(dataset, context="training")

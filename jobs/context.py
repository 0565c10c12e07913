"""The run context every entry point opens: start or resume the run, tag it, end it honestly.

A run ends FINISHED, or FAILED (KILLED on Ctrl-C or SIGTERM) with the error as its
``failure_reason``; nothing is left RUNNING. Also here: the parameters and names a run gets, the
framework autologging around a fit, the table as the run's dataset input, and the nested runs
tuning records for its trials.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from common import tracking
from common.errors import UserInputError
from common.tracking import env_allows, experiment_name, is_relative_local_uri

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT_ID = "0"


# The way out of the guard against runs in MLflow's Default experiment.
ALLOW_DEFAULT = "TABULAR_ALLOW_DEFAULT_EXPERIMENT"


# Stages whose runs log MLflow's system metrics (CPU, memory, disk, network; GPU where one is
# and nvidia-ml-py sees it) unless MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING says otherwise: the
# runs that fit, which last minutes. Sampled every 10 s (MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL),
# so a run shorter than that logs none.
SYSTEM_METRICS_STAGES = ("train", "tune")
SYSTEM_METRICS_SWITCH = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"


def system_metrics_wanted(stage: str) -> bool:
    """MLflow's own switch where it is set, else on for the training and tuning stages."""
    if os.environ.get(SYSTEM_METRICS_SWITCH, "").strip():
        return env_allows(SYSTEM_METRICS_SWITCH)
    return stage in SYSTEM_METRICS_STAGES


# Names MLflow generates when nobody chose one, e.g. "gentle-owl-412".
_GENERATED_RUN_NAME = re.compile(r"[a-z]+-[a-z]+-\d{1,4}")


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


@contextmanager
def tracked_run(
    *, entry_point: str, stage: str, params: Mapping[str, object], run_name: str = ""
) -> Iterator[mlflow.ActiveRun]:
    """Start (or, under ``mlflow run``, resume) a run with the standard tags and ``params``.

    The run ends FINISHED, or FAILED with the error in its ``failure_reason`` tag; nothing is left
    RUNNING. Training and tuning runs log system metrics (``system_metrics_wanted``).
    """
    launcher_run_id = os.environ.get("MLFLOW_RUN_ID")
    system_metrics = system_metrics_wanted(stage)
    if launcher_run_id:
        _check_launcher_run(launcher_run_id, stage)
        run = mlflow.start_run(run_id=launcher_run_id, log_system_metrics=system_metrics)
    else:
        tracking.prepare_store()
        experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID") or tracking.ensure_experiment(
            os.environ.get("MLFLOW_EXPERIMENT_NAME") or experiment_name(stage)
        )
        if experiment_id == DEFAULT_EXPERIMENT_ID and not env_allows(ALLOW_DEFAULT):
            raise UserInputError(
                "MLFLOW_EXPERIMENT_ID/NAME point at MLflow's 'Default' experiment; unset them "
                f"(runs then go to {experiment_name(stage)}) or name another "
                f"({ALLOW_DEFAULT}=true allows Default)"
            )
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name or None,
            log_system_metrics=system_metrics,
        )
    try:
        tags = tracking.standard_tags(entry_point, run.data.tags)
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
        parts.append(tracking.slug(tags["dataset"]))
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
        # Our content digest of every row, instead of MLflow's, which maps type() over every
        # cell (1M rows x 20 columns: ~3 s), and the schema inferred from a sample of rows, not
        # all of them (~10 s at 1M rows; python -m benchmarks.scale). schema is MLflow's
        # cached_property: set, it is not inferred again (unset, it is, on the whole table).
        dataset = mlflow.data.from_pandas(
            table.raw, source=source, targets=table.target, name=table.name, digest=table.digest
        )
        dataset.__dict__["schema"] = mlflow.models.infer_signature(schema_rows(table.raw)).inputs
        mlflow.log_input(dataset, context=context)
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


def schema_rows(frame, head: int = 10_000):
    """The first ``head`` rows, and for each column missing in all of them its first value
    elsewhere: what a column's type is inferred from."""
    rows = frame.iloc[:head]
    empty = rows.columns[rows.isna().all()]
    if len(empty):
        # A column missing everywhere has argmax 0, inside the head: nothing to add for it.
        first = frame[empty].notna().to_numpy().argmax(axis=0)
        extra = sorted({int(i) for i in first if i >= head})
        rows = frame.iloc[[*range(len(rows)), *extra]]
    return rows


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

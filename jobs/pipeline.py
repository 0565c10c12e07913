"""The run of ``main``: the pipeline, and the default entry point: tune (or train once), then
register with the gate.

Its command line is ``entrypoints/main.py``. Each step is its own ``mlflow run`` of this
project, a child run of the pipeline's run in the same experiment, launched with the pipeline's
environment manager (MLflow does not pass it on: issue #11849). A training step that already
FINISHED with the same entry point, parameters and git commit, from a clean tree, on the table's
current content (its ``data_digest``), is reused, so a rerun after a failure resumes instead of
retraining and a rerun on new rows retrains. ``register`` always runs: its verdict depends on
the registry's current champion. ``retrain=if_drift`` first asks the champion's latest
``monitor`` verdict (``skip_reason``) and ends without training when it found no drift. The
pipeline's run is named ``pipeline_<dataset>_v<N>`` and carries the chosen model's test
metrics, the model name and version, and the gate's verdict and scores (also when the gate
refused).
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Sequence

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import trainers
from common import business, data, tracking
from common.columns import OVERRIDES
from common.environment import PROJECT_ROOT
from common.errors import UserInputError
from jobs import context, launcher, monitor_tags, registration

ENTRY_POINT = "main"


ENV_MANAGERS = ("auto", "local", "uv", "virtualenv")
RETRAIN = ("always", "if_drift")
# tune's --backend choices (jobs/tuning.py's BACKENDS, not imported: it loads the training stack).
TUNE_BACKENDS = ("hyperopt", "optuna")


# Forwarded to the training step as they are: the data, its columns' roles, the business metric.
DATA_PARAMS = (
    "data", "target", "task", "test_size", "seed", "data_version", *OVERRIDES,
    *(spec.name for spec in dataclasses.fields(business.Settings)),
)  # fmt: skip


def parse_train_params(text: str, entry_point: str) -> dict[str, str]:
    """``"n_estimators=50 max_depth=4"`` -> a dict, refusing keys ``entry_point`` lacks."""
    allowed = set(launcher.entry_point_parameters(entry_point)) - {*DATA_PARAMS, "run_name"}
    params = {}
    try:
        items = shlex.split(text)
    except ValueError as exc:  # an unbalanced quote
        raise UserInputError(f"train_params {text!r}: {exc}") from None
    for item in items:
        key, sep, value = item.partition("=")
        if key in params:
            raise UserInputError(f"train_params: '{key}' is given twice")
        if not sep or key not in allowed:
            raise UserInputError(
                f"train_params: '{item}' is not key=value with a parameter of {entry_point} "
                f"({', '.join(sorted(allowed))})"
            )
        params[key] = value
    return params


def already_ran(
    entry_point: str,
    params: dict[str, str],
    experiment_id: str,
    digest: Callable[[], str | None] = lambda: None,
) -> str | None:
    """A FINISHED run of ``entry_point`` with ``params`` at this clean commit, trained on the
    table as it is now (``digest``: its content digest, asked only once a run matches; None: a
    builtin set, which cannot change), or None."""
    code = tracking.code_identity()  # a checkout, or what a deployed bundle recorded
    commit = code.commit
    if commit is None or code.dirty != "false":
        what = (
            f"the deployment is not known to be a clean commit ({tracking.DEPLOYED_DIRTY})"
            if code.deployed
            else "the working tree is not a clean commit"
        )
        print(f"step {entry_point}: not reusing earlier runs: {what}")
        return None  # uncommitted code: an earlier run may have trained something else
    runs = MlflowClient().search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`mlflow.project.entryPoint` = '{entry_point}' "
            f"and tags.`mlflow.source.git.commit` = '{commit}' "
            "and tags.git_dirty = 'false' and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time DESC"],
    )
    for run in runs:
        logged = run.data.params
        if not all(
            k in logged and launcher.launched_value(logged[k]) == v for k, v in params.items()
        ):
            continue
        now = digest()  # the newest matching run decides: the table is read once at most
        trained_on = run.data.tags.get("data_digest")
        if now is None or trained_on == now:
            return run.info.run_id
        print(
            f"step {entry_point}: not reusing run {run.info.run_id}: the table changed since it "
            f"trained (content digest {trained_on}, now {now})"
        )
        return None
    return None


def table_digest(source: str) -> str | None:
    """The content digest of ``source`` as the training step will read it; None for a builtin
    set (fixed by the pinned scikit-learn)."""
    if source.startswith("builtin:"):
        return None
    frame, _, _ = data.read_table(source)
    return data.content_digest(frame)


def run_step(
    entry_point: str,
    params: dict[str, str],
    env_manager: str,
    *,
    reuse: bool,
    digest: Callable[[], str | None] = lambda: None,
) -> str:
    """Launch one step with ``mlflow run`` (or reuse an earlier one trained on the same table,
    see ``already_ran``); returns its run id."""
    experiment_id = mlflow.active_run().info.experiment_id
    if reuse and (found := already_ran(entry_point, params, experiment_id, digest)):
        print(f"step {entry_point}: reusing FINISHED run {found} (same parameters, commit, data)")
        return found
    print(f"step {entry_point}: mlflow run -e {entry_point} --env-manager {env_manager}")
    return launcher.run_child(PROJECT_ROOT, entry_point, params, env_manager)


def record_step(run_id: str, *, prefixes: tuple[str, ...], tags: Sequence[str]) -> None:
    """Copy a step's metrics starting with ``prefixes`` and its ``tags`` onto the pipeline's run."""
    child = MlflowClient().get_run(run_id).data
    scores = {k: v for k, v in child.metrics.items() if k.startswith(prefixes)}
    if scores:
        mlflow.log_metrics(scores)
    if found := {k: child.tags[k] for k in tags if k in child.tags}:
        mlflow.set_tags(found)


def default_model_name(source: str) -> str:
    """``register``'s default name for a model of ``source``: ``tabular-<dataset>``."""
    return f"tabular-{tracking.slug(data.table_name(source))}"


def skip_reason(model_name: str) -> str | None:
    """Why ``retrain=if_drift`` does not train now, or None to train: the champion's latest
    ``monitor`` run (its version's tags) found no drift, or none has watched it yet. No model
    or no champion yet: train (there is nothing to watch)."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(model_name, "champion")
    except MlflowException:  # no such model, or no champion alias
        print(f"pipeline: {model_name} has no champion yet: training")
        return None
    verdict = version.tags.get(monitor_tags.VERDICT_TAG)
    watched_by = version.tags.get(monitor_tags.RUN_TAG, "")
    where = f"{model_name} version {version.version} (champion)"
    if verdict is None:
        return (
            f"{where} has no monitoring run yet; run monitor on a recent batch first, or "
            "retrain=always"
        )
    if verdict == monitor_tags.RETRAIN:
        columns = version.tags.get(monitor_tags.COLUMNS_TAG, "")
        found = f"drift in {columns}" if columns else "a metric drop"
        print(f"pipeline: {where}: monitor run {watched_by} found {found}: retraining")
        return None
    return f"{where}: its latest monitor run {watched_by} found no drift ({verdict})"


def run(args) -> int:
    train_entry = "tune" if args.tune else trainers.get(args.trainer).entry_point
    if args.tune and args.train_params:
        raise UserInputError("train_params applies to tune=false; tune searches its own space")
    extra = parse_train_params(args.train_params, train_entry) if not args.tune else {}
    registration.check_namespace(args.model_name)  # before training, not after it
    with context.entry_point_run(ENTRY_POINT, args, stage="pipeline") as run:
        context.number_run(f"pipeline_{tracking.slug(data.table_name(args.data))}")
        if args.retrain == "if_drift":
            reason = skip_reason(args.model_name or default_model_name(args.data))
            mlflow.set_tag("retrain_decision", "skipped" if reason else "retrain")
            if reason:
                print(f"pipeline: not retraining: {reason}")
                mlflow.set_tag("retrain_reason", reason[:5000])
                return 0
        env_manager = args.env_manager
        if env_manager == "auto":
            env_manager = launcher.env_manager_of(run.data.tags)
        train_params = {k: str(getattr(args, k)) for k in DATA_PARAMS}
        if args.tune:
            train_params |= {"trainer": args.trainer, "max_evals": str(args.max_evals),
                             "backend": args.backend}  # fmt: skip
            train_params["metric"] = args.metric
        train_params |= extra
        trained = run_step(
            train_entry, train_params, env_manager, reuse=True,
            digest=lambda: table_digest(args.data),
        )  # fmt: skip
        mlflow.set_tag("train_run_id", trained)
        record_step(trained, prefixes=("test_",), tags=("dataset", "data_version", "model_type"))
        register_params = {
            "run_id": trained, "model_name": args.model_name, "metric": args.metric,
            "threshold": str(args.threshold), "margin": str(args.margin),
            "promote": str(args.promote).lower(), "mode": "enabled",
            "schema_change": args.schema_change,
        }  # fmt: skip
        try:
            registered = run_step("register", register_params, env_manager, reuse=False)
        finally:  # a refusal is a verdict too: the pipeline's run says which
            if step := launcher.latest_child("register"):
                mlflow.set_tag("register_run_id", step.info.run_id)
                record_step(
                    step.info.run_id, prefixes=("candidate_", "champion_", "baseline_"),
                    tags=("model_name", "model_version", "validation_status"),
                )  # fmt: skip
        tags = MlflowClient().get_run(registered).data.tags
        print(
            f"pipeline done: {tags.get('model_name')} version {tags.get('model_version')} "
            f"from run {trained}"
        )
    return 0

"""The run of ``register``: validate a trained run's model against gates, then register it and move
aliases.

Its command line is ``entrypoints/register.py``. The model name defaults to
``tabular-<dataset>`` (the candidate's table: ``tabular-churn_sample``, ``tabular-
breast_cancer``), so each table has its own champion. Gates (``jobs/gate.py``): the candidate
must beat a naive baseline, pass ``threshold`` and beat the current ``champion`` (within
``margin``), all scored on the candidate run's own test split; a champion trained on other data
(task, target, input columns) is a refusal, never a comparison. On pass the version gets the
``challenger`` alias (``champion`` too with ``promote``); on fail nothing is registered
(``mode=enabled``); ``dry_run`` records the verdict and registers anyway; ``disabled`` skips the
scores (the champion's data is still checked).

``run_id=best`` takes the best FINISHED run by ``metric`` among the runs of one table: those
with the ``data_version`` and target of the experiment's newest run, or of
``data_version=<label>``; ``data_version=any`` ranks every run.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import logging
import os
import re
import warnings

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from common import locks, metrics, tracking
from common.errors import UserInputError
from jobs import comparison, context, gate, model_card

ENTRY_POINT = "register"


MODES = ("enabled", "dry_run", "disabled")


UC_NAME = re.compile(r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+")


ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")


# The way out of the signature guard (not for Unity Catalog, which refuses such models itself).
ALLOW_NO_SIGNATURE = "TABULAR_ALLOW_NO_SIGNATURE"


WORKSPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


ANY_DATA = "any"


def validate_name(name: str, registry_uri: str) -> None:
    """Refuse a model name the registry would reject, before anything is created."""
    if registry_uri.startswith("databricks-uc"):
        if not UC_NAME.fullmatch(name):
            raise UserInputError(
                f"model_name '{name}': Unity Catalog names are catalog.schema.model "
                "(letters, digits, underscores)"
            )
    elif not WORKSPACE_NAME.fullmatch(name):
        raise UserInputError(
            f"model_name '{name}': use letters, digits, '_', '.' and '-', starting with a "
            "letter or digit"
        )


# Set by databricks.yml on a target's job clusters (catalog.schema): the one place its jobs may
# register models and move aliases, so a dev job cannot touch prod's champion.
MODEL_NAMESPACE = "TABULAR_MODEL_NAMESPACE"


def check_namespace(name: str) -> None:
    """Refuse a model outside the deployment's namespace (``TABULAR_MODEL_NAMESPACE``), if any."""
    namespace = os.environ.get(MODEL_NAMESPACE, "").strip().rstrip(".")
    if namespace and not name:
        raise UserInputError(
            f"model_name: this deployment registers only in {namespace} ({MODEL_NAMESPACE}); "
            f"name the model {namespace}.<model>"
        )
    if namespace and not name.startswith(f"{namespace}."):
        target = os.environ.get("TABULAR_BUNDLE_TARGET") or "this deployment"
        raise UserInputError(
            f"model_name '{name}' is outside {namespace}, the only namespace {target}'s jobs "
            f"register in ({MODEL_NAMESPACE}): another target's models and aliases are not "
            "this deployment's to move"
        )


def validate_alias(alias: str) -> None:
    """Refuse aliases MLflow reserves (``latest``, ``v<N>``) or would reject, and ``champion``,
    which only a passed gate moves (``promote``), up front."""
    if not ALIAS.fullmatch(alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise UserInputError(
            f"alias '{alias}': use letters, digits, '_' and '-' (not 'latest' or 'v<number>', "
            "which MLflow reserves)"
        )
    if alias.lower() == "champion":
        raise UserInputError(
            f"alias '{alias}': the champion alias moves only with promote=true, once the gate "
            "passed; name another alias"
        )


def check_signature(info, registry_uri: str) -> None:
    """Register only models whose signature has inputs and outputs: serving, ``spark_udf`` and
    the gate's schema comparison rely on it, and Unity Catalog refuses models without one.
    Outside Unity Catalog, ``ALLOW_NO_SIGNATURE=true`` in the environment lets one through."""
    signature = info.signature
    if signature is not None and signature.inputs is not None and signature.outputs is not None:
        return
    if registry_uri.startswith("databricks-uc"):
        raise UserInputError(
            f"model {info.model_uri}: Unity Catalog needs a signature with inputs and outputs"
        )
    if not tracking.env_allows(ALLOW_NO_SIGNATURE):
        raise UserInputError(
            f"model {info.model_uri} has no signature with inputs and outputs; log it with "
            f"signature=... (every trainer here does), or set {ALLOW_NO_SIGNATURE}=true"
        )


def resolve_run(
    client: MlflowClient, run_id: str, experiment: str, metric: str, data_version: str = ""
):
    """The candidate run: by id, or the best FINISHED run by ``metric`` among one table's runs of
    ``experiment`` (see the module docstring), printed with its score."""
    if run_id != "best":
        if data_version:
            raise UserInputError("data_version chooses among runs for run_id=best only")
        try:
            return client.get_run(run_id)
        except MlflowException as exc:
            raise UserInputError(f"run_id '{run_id}': no such run") from exc
    name = experiment or tracking.experiment_name("train")
    found = client.get_experiment_by_name(name)
    if found is None:
        raise UserInputError(f"experiment '{name}' does not exist (needed for run_id=best)")
    if "'" in data_version or "\\" in data_version:
        raise UserInputError(f"data_version {data_version!r}: quotes and backslashes not allowed")
    where = f"attributes.status = 'FINISHED' and metrics.{metric} > -1e308"
    newest = client.search_runs(
        [found.experiment_id],
        filter_string=where
        + (
            f" and tags.data_version = '{data_version}'"
            if data_version not in ("", ANY_DATA)
            else ""
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not newest:
        data = f" and data_version '{data_version}'" if data_version not in ("", ANY_DATA) else ""
        raise UserInputError(f"no FINISHED run with metric {metric}{data} in experiment '{name}'")
    same = {}
    if data_version != ANY_DATA:
        same = {k: newest[0].data.tags.get(k) for k in ("data_version", "target")}
    order = "DESC" if metrics.GREATER_IS_BETTER.get(metric, True) else "ASC"
    runs = [
        run
        for run in client.search_runs(
            [found.experiment_id], filter_string=where, order_by=[f"metrics.{metric} {order}"]
        )
        if all(run.data.tags.get(k) == v for k, v in same.items())
    ]
    best = runs[0]
    among = ", ".join(f"{k}={v}" for k, v in same.items()) or "any data"
    print(
        f"run_id=best: run {best.info.run_id} ({best.info.run_name}), {metric}="
        f"{best.data.metrics[metric]:.6g}, best of {len(runs)} FINISHED run(s) with {among} "
        f"in experiment '{name}'"
    )
    return best


def register_version(client, name: str, run_id: str, tags: dict, description: str, aliases: list):
    """Register ``runs:/<run_id>/model`` once; a version never exists without tags and aliases."""
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        version, created = existing[0], False
    else:
        # MLflow 3 keeps a logged model outside the run's artifacts: registering runs:/ resolves
        # it to the run's model and warns that the run has no artifacts there, on every run. Its
        # "Successfully registered" / "Created version" lines repeat what register prints.
        resolver = logging.getLogger("mlflow.tracking._model_registry.fluent")
        level = resolver.level
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            resolver.setLevel(logging.ERROR)
            try:
                version, created = mlflow.register_model(f"runs:/{run_id}/model", name), True
            finally:
                resolver.setLevel(level)
    try:
        for key, value in tags.items():
            client.set_model_version_tag(name, version.version, key, value)
        client.update_model_version(name, version.version, description=description)
        for alias in aliases:
            client.set_registered_model_alias(name, alias, version.version)
    except Exception:
        if created:
            client.delete_model_version(name, version.version)
        raise
    return version


def run(args) -> int:
    registry_uri = args.registry_uri or mlflow.get_registry_uri()
    if args.model_name:
        validate_name(args.model_name, registry_uri)  # before any registry is contacted
        check_namespace(args.model_name)
    elif registry_uri.startswith("databricks-uc"):
        raise UserInputError(
            "model_name: Unity Catalog needs catalog.schema.model; name it with -P model_name="
        )
    validate_alias(args.alias)
    if args.promote and args.mode != "enabled":
        raise UserInputError(
            f"promote=true needs mode=enabled: a model that was not gated (mode={args.mode}) "
            "cannot become champion"
        )
    if args.registry_uri:
        mlflow.set_registry_uri(args.registry_uri)
    template = model_card.check_template()  # a fork's template, refused before any work
    with context.entry_point_run(ENTRY_POINT, args, stage="register"):
        client = MlflowClient()
        run, metric, info = _candidate(client, args)
        name = args.model_name or default_model_name(run)
        check_namespace(name)
        mlflow.set_tags({"model_name": name, "candidate_run_id": run.info.run_id})
        if leaks := run.data.tags.get("suspected_leaks"):  # the gate does not refuse them
            print(
                f"warning: run {run.info.run_id} has suspected leaks ({leaks}): columns that "
                "alone predict the target almost perfectly; check them before trusting its "
                "scores (features.json has each column's score alone)"
            )
        # Champion lookup, gate, registration and alias move as one step per model name, so
        # registrations started together cannot promote a candidate a sequential order refuses.
        what = f"registering model '{name}'"
        key = f"register {locks.store_key(registry_uri)} {name}"
        try:
            check_signature(info, registry_uri)
            with locks.held(key, what=what, uri=registry_uri):
                verdict = _gate(client, run, metric, name, args)
                mlflow.set_tag("validation_status", verdict.status)
                compared = comparison.log(verdict.outputs) if verdict.outputs else None
                card = model_card.safe_render(
                    run, verdict, model_name=name, template=template, args=args,
                    compared=compared, register_run_id=mlflow.active_run().info.run_id,
                )  # fmt: skip
                model_card.log(card)  # a refused candidate's card says why, on this run
                if verdict.failures and args.mode == "enabled":
                    raise UserInputError(
                        f"model refused by the validation gate: {verdict.describe()}"
                    )
                promoted = args.promote and not verdict.failures
                aliases = [args.alias] + (["champion"] if promoted else [])
                tags = _version_tags(run.info.run_id, verdict, args.mode)
                described = model_card.description(card, mlflow.active_run().info.run_id)
                version = register_version(client, name, run.info.run_id, tags, described, aliases)
        except UserInputError:
            context.title_run(f"register_{name}_refused")
            raise
        context.title_run(f"register_{name}_v{version.version}")
        if args.stage:
            _legacy_stage(client, name, version.version, args.stage, registry_uri)
        mlflow.set_tag("model_version", version.version)
        print(f"registered {name} version {version.version} ({verdict.status}); aliases {aliases}")
    return 0


def default_model_name(run) -> str:
    """``tabular-<dataset>``: the name of the run's table (its ``dataset`` tag, else its logged
    dataset input), so models of different tables never share a name and a champion."""
    dataset = run.data.tags.get("dataset") or next(
        (i.dataset.name for i in run.inputs.dataset_inputs if i.dataset.name), ""
    )
    if not dataset:
        raise UserInputError(
            f"run {run.info.run_id} records no dataset to name the model after; pass -P model_name="
        )
    return f"tabular-{tracking.slug(dataset)}"


def _gate(client: MlflowClient, run, metric: str, name: str, args) -> gate.Verdict:
    """Judge the candidate against the champion of the moment; judged again if the champion
    moved meanwhile (another machine's registration: the lock serialises only this one's)."""
    for _ in range(5):
        champion = _champion(client, name)
        if args.mode == "disabled":  # no scores, but never another table's model under this name
            replaced = gate.refuse_other_data(run, champion, schema_change=args.schema_change)
            verdict = gate.Verdict("skipped", metric, schema_change=replaced)
        else:
            verdict = gate.judge(
                run, metric, champion=champion, threshold=args.threshold, margin=args.margin,
                baseline=args.baseline, schema_change=args.schema_change,
            )  # fmt: skip
        now = _champion(client, name)
        if (now and now.version) == (champion and champion.version):
            break
    else:
        raise UserInputError(f"model '{name}': its champion kept moving while judging")
    _log_scores(client, run, verdict)
    if verdict.schema_change:
        print(f"gate: schema_change=replace: the champion is not compared: {verdict.schema_change}")
        mlflow.set_tag("schema_change", verdict.schema_change[:5000])
    return verdict


def _default_ranking(client: MlflowClient, experiment: str) -> str:
    """``metric=auto`` for ``run_id=best``: the default metric of the task of the experiment's
    newest FINISHED run (``test_roc_auc`` or ``test_rmse``)."""
    name = experiment or tracking.experiment_name("train")
    found = client.get_experiment_by_name(name)
    if found is None:
        raise UserInputError(f"experiment '{name}' does not exist (needed for run_id=best)")
    newest = client.search_runs(
        [found.experiment_id], filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=1,
    )  # fmt: skip
    task = newest[0].data.tags.get("task", "") if newest else ""
    if task not in metrics.DEFAULT_METRIC:
        raise UserInputError(
            f"run_id=best: no FINISHED run with a task in experiment '{name}' to choose the metric "
            "by; name one, e.g. metric=test_roc_auc"
        )
    metric = metrics.DEFAULT_METRIC[task]
    print(f"run_id=best: ranking by {metric}, the default for {task} (the newest run's task)")
    return metric


def _candidate(client: MlflowClient, args):
    """(the candidate run, the metric it is judged on, its model's info), refused when either
    cannot be used."""
    if args.metric != "auto" and args.metric not in metrics.GREATER_IS_BETTER:
        raise UserInputError(
            f"metric '{args.metric}': expected one of {', '.join(metrics.GREATER_IS_BETTER)}"
        )
    ranking = args.metric
    if args.run_id == "best" and ranking == "auto":
        ranking = _default_ranking(client, args.experiment)
    run = resolve_run(client, args.run_id, args.experiment, ranking, args.data_version)
    task = run.data.tags.get("task", "classification")
    if task not in metrics.DEFAULT_METRIC:
        raise UserInputError(
            f"run {run.info.run_id} has task tag {task[:60]!r}; expected one of "
            f"{', '.join(metrics.DEFAULT_METRIC)} (a run this project logged says which)"
        )
    metric = metrics.DEFAULT_METRIC[task] if args.metric == "auto" else args.metric
    if metric not in run.data.metrics:
        raise UserInputError(
            f"metric '{metric}' is not on run {run.info.run_id}; it has "
            + ", ".join(sorted(run.data.metrics))
        )
    try:
        info = mlflow.models.get_model_info(f"runs:/{run.info.run_id}/model")
    except Exception as exc:
        raise UserInputError(f"run {run.info.run_id} has no model named 'model'") from exc
    return run, metric, info


def _log_scores(client: MlflowClient, run, verdict: gate.Verdict) -> None:
    """The gate's scores on this run; the baseline's also on the candidate's run, beside its
    test metrics."""
    if verdict.candidate is None:
        return
    scores = {f"candidate_{verdict.metric}": verdict.candidate}
    if verdict.champion is not None:
        scores[f"champion_{verdict.metric}"] = verdict.champion
    if verdict.baseline is not None:
        scores[f"baseline_{verdict.metric}"] = verdict.baseline
        client.log_metric(run.info.run_id, f"baseline_{verdict.metric}", verdict.baseline)
    mlflow.log_metrics(scores)


def _version_tags(run_id: str, verdict: gate.Verdict, mode: str) -> dict[str, str]:
    """The model version's record of where it came from and how it was judged."""
    tags = {
        "source_run_id": run_id,
        "validation_status": verdict.status if mode == "enabled" else f"{verdict.status} ({mode})",
        "validation_metric": verdict.metric,
        "deployed_by": f"{getpass.getuser()} via {ENTRY_POINT}",
    }
    if verdict.candidate is not None:
        tags[f"candidate_{verdict.metric}"] = f"{verdict.candidate:.6g}"
    if verdict.champion is not None:
        tags[f"champion_{verdict.metric}"] = f"{verdict.champion:.6g}"
    if verdict.baseline is not None:
        tags[f"baseline_{verdict.metric}"] = f"{verdict.baseline:.6g}"
    if verdict.schema_change:  # it replaced a champion it was not compared with
        tags["schema_change"] = verdict.schema_change[:5000]
    return tags


def _champion(client, name: str):
    try:
        return client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None  # no model or no champion yet: the first registration has nothing to beat


def _legacy_stage(client, name: str, version: str, stage: str, registry_uri: str) -> None:
    if registry_uri.startswith("databricks-uc"):
        raise UserInputError("stage transitions do not exist on Unity Catalog; use aliases")
    print("warning: model registry stages are deprecated since MLflow 2.9; prefer aliases")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(name, version, stage)

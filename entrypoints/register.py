"""Validate a trained run's model against gates, then register it and move aliases.

    mlflow run . -e register --env-manager local -P run_id=<run id> -P model_name=churn
    python -m entrypoints.register --run-id best --model-name churn --threshold 0.9 --promote true

Gates (``common/gate.py``): the candidate's metric must pass ``threshold`` (direction known per
metric) and must not be worse than the current ``champion`` by more than ``margin``, both models
scored on the same held-out rows (the candidate run's own test split). On pass
the version gets the ``challenger`` alias (``champion`` too with ``promote``); on fail nothing is
registered (``mode=enabled``); ``dry_run`` records the verdict and registers anyway;
``disabled`` skips validation.
"""

from __future__ import annotations

import getpass
import re
import warnings
from collections.abc import Sequence

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from common import cli, gate, locks, metrics, tracking
from common.errors import UserInputError

ENTRY_POINT = "register"
MODES = ("enabled", "dry_run", "disabled")
UC_NAME = re.compile(r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+")
ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")
WORKSPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


def build_parser() -> cli.StrictParser:
    parser = cli.StrictParser(description=__doc__)
    parser.add_argument("--run-id", required=True, help="a run id, or 'best' (see --experiment)")
    parser.add_argument(
        "--experiment", default="", help="for run_id=best; default: the train stage's"
    )
    parser.add_argument(
        "--model-name", default="tabular-training", help="catalog.schema.model on Unity Catalog"
    )
    parser.add_argument(
        "--metric", default="auto", help="default: test_roc_auc or test_rmse by task"
    )
    parser.add_argument(
        "--threshold", type=cli.optional_float, default=None, help="None = no absolute gate"
    )
    parser.add_argument(
        "--margin", type=cli.non_negative_float, default=0.0, help="tolerated loss vs the champion"
    )
    parser.add_argument("--mode", choices=MODES, default="enabled")
    parser.add_argument("--alias", default="challenger")
    parser.add_argument("--promote", type=cli.boolean, default=False, help="also move 'champion'")
    parser.add_argument("--registry-uri", default="", help="e.g. databricks-uc; default: tracking")
    parser.add_argument(
        "--stage", default="", help="legacy stage transition (deprecated, workspace registry only)"
    )
    parser.add_argument("--run-name", default="")
    return parser


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


def check_uc_signature(info) -> None:
    """Unity Catalog registers only models whose signature has inputs and outputs."""
    signature = info.signature
    if signature is None or signature.inputs is None or signature.outputs is None:
        raise UserInputError(
            f"model {info.model_uri}: Unity Catalog needs a signature with inputs and outputs"
        )


def resolve_run(client: MlflowClient, run_id: str, experiment: str, metric: str):
    """The candidate run: by id, or the best FINISHED run of ``experiment`` by ``metric``."""
    if run_id != "best":
        try:
            return client.get_run(run_id)
        except MlflowException as exc:
            raise UserInputError(f"run_id '{run_id}': no such run") from exc
    name = experiment or tracking.experiment_name("train")
    found = client.get_experiment_by_name(name)
    if found is None:
        raise UserInputError(f"experiment '{name}' does not exist (needed for run_id=best)")
    order = "DESC" if metrics.GREATER_IS_BETTER.get(metric, True) else "ASC"
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"attributes.status = 'FINISHED' and metrics.{metric} > -1e308",
        order_by=[f"metrics.{metric} {order}"],
        max_results=1,
    )
    if not runs:
        raise UserInputError(f"no FINISHED run with metric {metric} in experiment '{name}'")
    return runs[0]


def register_version(client, name: str, run_id: str, tags: dict, description: str, aliases: list):
    """Register ``runs:/<run_id>/model`` once; a version never exists without tags and aliases."""
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        version, created = existing[0], False
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version, created = mlflow.register_model(f"runs:/{run_id}/model", name), True
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


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    registry_uri = args.registry_uri or mlflow.get_registry_uri()
    validate_name(args.model_name, registry_uri)  # before any registry is contacted
    validate_alias(args.alias)
    if args.promote and args.mode != "enabled":
        raise UserInputError(
            f"promote=true needs mode=enabled: a model that was not gated (mode={args.mode}) "
            "cannot become champion"
        )
    if args.registry_uri:
        mlflow.set_registry_uri(args.registry_uri)
    with tracking.entry_point_run(ENTRY_POINT, args, stage="register"):
        client = MlflowClient()
        run, metric = _candidate(client, args, registry_uri)
        # Champion lookup, gate, registration and alias move as one step per model name, so
        # registrations started together cannot promote a candidate a sequential order refuses.
        name = args.model_name
        what = f"registering model '{name}'"
        key = f"register {locks.store_key(registry_uri)} {name}"
        with locks.held(key, what=what, uri=registry_uri):
            verdict = _gate(client, run, metric, args)
            mlflow.set_tags(
                {"validation_status": verdict.status, "candidate_run_id": run.info.run_id}
            )
            if verdict.failures and args.mode == "enabled":
                raise UserInputError(f"model refused by the validation gate: {verdict.describe()}")
            aliases = [args.alias] + (["champion"] if args.promote and not verdict.failures else [])
            tags = _version_tags(run.info.run_id, verdict, args.mode)
            version = register_version(
                client, name, run.info.run_id, tags, verdict.describe(), aliases
            )
        if args.stage:
            _legacy_stage(client, name, version.version, args.stage, registry_uri)
        mlflow.set_tag("model_version", version.version)
        print(f"registered {name} version {version.version} ({verdict.status}); aliases {aliases}")
    return 0


def _gate(client: MlflowClient, run, metric: str, args) -> gate.Verdict:
    """Judge the candidate against the champion of the moment; judged again if the champion
    moved meanwhile (another machine's registration: the lock serialises only this one's)."""
    if args.mode == "disabled":
        return gate.Verdict("skipped", metric)
    for _ in range(5):
        champion = _champion(client, args.model_name)
        verdict = gate.judge(
            run, metric, threshold=args.threshold, margin=args.margin,
            champion_uri=f"models:/{args.model_name}/{champion.version}" if champion else None,
        )  # fmt: skip
        now = _champion(client, args.model_name)
        if (now and now.version) == (champion and champion.version):
            break
    else:
        raise UserInputError(f"model '{args.model_name}': its champion kept moving while judging")
    _log_scores(verdict)
    return verdict


def _candidate(client: MlflowClient, args, registry_uri: str):
    """(the candidate run, the metric it is judged on), refused when either cannot be used."""
    if args.run_id == "best" and args.metric == "auto":
        raise UserInputError("run_id=best needs a metric to rank runs by, e.g. metric=test_roc_auc")
    if args.metric != "auto" and args.metric not in metrics.GREATER_IS_BETTER:
        raise UserInputError(
            f"metric '{args.metric}': expected one of {', '.join(metrics.GREATER_IS_BETTER)}"
        )
    run = resolve_run(client, args.run_id, args.experiment, args.metric)
    task = run.data.tags.get("task", "classification")
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
    if registry_uri.startswith("databricks-uc"):
        check_uc_signature(info)
    return run, metric


def _log_scores(verdict: gate.Verdict) -> None:
    scores = {f"candidate_{verdict.metric}": verdict.candidate}
    if verdict.champion is not None:
        scores[f"champion_{verdict.metric}"] = verdict.champion
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


if __name__ == "__main__":
    raise SystemExit(main())

"""The run of ``deploy``: point a Databricks Model Serving endpoint at a registered model's
version (the champion, by default), and wait until it serves it.

Its command line is ``entrypoints/deploy.py``. The version is resolved from its alias in the
registry, refused without a signature (Model Serving needs one to take raw rows), and handed to
the workspace with databricks-sdk: ``serving_endpoints.create`` for a new endpoint (only with
``create=true``), else ``update_config`` with the one served entity taking all traffic. The SDK's
own waiter then polls until the endpoint is no longer updating, up to ``timeout`` seconds.

A rollout that fails leaves the endpoint's previous configuration serving (Databricks keeps it
until a new one is ready): the run ends FAILED with one line naming the endpoint, the version
that failed, its reason and the version still serving. An endpoint already serving the version
is left alone. The run and the model version are tagged ``serving_endpoint``; the run also
``served_version`` and ``previous_served_version``.
"""

from __future__ import annotations

import re
from datetime import timedelta

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from common import tracking
from common.errors import UserInputError, WorkerError, one_line
from jobs import context, registration

ENTRY_POINT = "deploy"
# Databricks' rule for endpoint names: letters, digits, '-' and '_', at most 63 characters.
ENDPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
WORKLOAD_SIZES = ("Small", "Medium", "Large")


def default_endpoint(model_name: str) -> str:
    """``main.ml_dev.tabular_training`` -> ``tabular_training-ml_dev``: the model and its schema,
    so each target's endpoint is its own."""
    parts = model_name.split(".")
    name = parts[-1] if len(parts) < 2 else f"{parts[-1]}-{parts[-2]}"
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name)[:63].strip("-_") or "tabular-training"


def resolve_version(model_name: str, alias: str):
    """The registered version ``alias`` points at, with a signature."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        raise UserInputError(
            f"model '{model_name}' has no version with alias '{alias}' ({one_line(exc)})"
        ) from None
    uri = f"models:/{model_name}/{version.version}"
    try:
        signature = mlflow.models.get_model_info(uri).signature
    except Exception as exc:  # MlflowException, or the artifact store's own errors
        raise UserInputError(f"{uri}: its model cannot be read ({one_line(exc)})") from None
    if signature is None or signature.inputs is None:
        raise UserInputError(
            f"{uri} has no signature: Model Serving needs one to know the rows it takes; "
            "register a model logged with a signature (every model this project logs has one)"
        )
    return version


def workspace_client():
    """The workspace the endpoint lives in: databricks-sdk's default authentication."""
    from databricks.sdk import WorkspaceClient

    try:
        return WorkspaceClient()
    except ValueError as exc:  # "default auth: cannot configure default credentials"
        raise UserInputError(
            f"no Databricks workspace to deploy to: {one_line(exc)}; set DATABRICKS_HOST and "
            "DATABRICKS_TOKEN or a profile in ~/.databrickscfg"
        ) from None


def served_version(endpoint, model_name: str) -> str | None:
    """The version of ``model_name`` the endpoint's live configuration serves, if any."""
    config = getattr(endpoint, "config", None)
    for entity in (config.served_entities or []) if config else []:
        if entity.entity_name == model_name:
            return str(entity.entity_version)
    return None


def _failure_reason(endpoint) -> str:
    """What the workspace says about a failed rollout (the pending entity's state message)."""
    pending = getattr(endpoint, "pending_config", None)
    for entity in (pending.served_entities or []) if pending else []:
        if entity.state and entity.state.deployment_state_message:
            return entity.state.deployment_state_message
    return "the workspace gave no reason; see the endpoint's events and build logs"


def run(args) -> int:
    from databricks.sdk.errors import NotFound, OperationFailed
    from databricks.sdk.service.serving import (
        EndpointCoreConfigInput,
        EndpointStateConfigUpdate,
        Route,
        ServedEntityInput,
        TrafficConfig,
    )

    registration.check_namespace(args.model_name)
    endpoint_name = args.endpoint_name or default_endpoint(args.model_name)
    if not ENDPOINT_NAME.fullmatch(endpoint_name):
        raise UserInputError(
            f"endpoint_name '{endpoint_name}': use letters, digits, '-' and '_', at most 63"
        )
    with context.entry_point_run(ENTRY_POINT, args, stage="deploy"):
        version = resolve_version(args.model_name, args.alias)
        number = str(version.version)
        context.title_run(f"deploy_{tracking.slug(args.model_name)}_v{number}")
        mlflow.set_tags({"model_name": args.model_name, "model_version": number})
        client = workspace_client()
        endpoints = client.serving_endpoints
        served_name = f"{args.model_name.split('.')[-1]}-{number}"[:63]
        entity = ServedEntityInput(
            name=served_name,
            entity_name=args.model_name,
            entity_version=number,
            workload_size=args.workload_size,
            scale_to_zero_enabled=args.scale_to_zero,
        )
        traffic = TrafficConfig(
            routes=[Route(served_entity_name=served_name, traffic_percentage=100)]
        )
        wait = timedelta(seconds=args.timeout)
        try:
            current = endpoints.get(endpoint_name)
        except NotFound:
            current = None
        previous = served_version(current, args.model_name) if current else None
        mlflow.set_tags(
            {"serving_endpoint": endpoint_name, "previous_served_version": previous or ""}
        )
        if current is None:
            if not args.create:
                raise UserInputError(
                    f"endpoint '{endpoint_name}' does not exist; pass -P create=true to create "
                    "it, or name an existing one with -P endpoint_name="
                )
            print(
                f"deploy: creating endpoint '{endpoint_name}' serving {args.model_name} v{number}"
            )
            config = EndpointCoreConfigInput(
                name=endpoint_name, served_entities=[entity], traffic_config=traffic
            )
            waiter = endpoints.create(name=endpoint_name, config=config)
        elif previous == number and current.state.config_update != (
            EndpointStateConfigUpdate.IN_PROGRESS
        ):
            print(f"deploy: endpoint '{endpoint_name}' already serves {args.model_name} v{number}")
            _record(args.model_name, number, endpoint_name)
            return 0
        else:
            if current.state.config_update == EndpointStateConfigUpdate.IN_PROGRESS:
                print(f"deploy: endpoint '{endpoint_name}' is updating; waiting for it first")
                endpoints.wait_get_serving_endpoint_not_updating(endpoint_name, timeout=wait)
            print(
                f"deploy: endpoint '{endpoint_name}': {args.model_name} v{previous or '-'} -> "
                f"v{number}"
            )
            waiter = endpoints.update_config(
                name=endpoint_name, served_entities=[entity], traffic_config=traffic
            )
        still = f"version {previous} still serves" if previous else "nothing serves on it"
        try:
            done = waiter.result(timeout=wait)
        except OperationFailed:
            reason = _failure_reason(endpoints.get(endpoint_name))
            raise WorkerError(
                f"endpoint '{endpoint_name}': the rollout of {args.model_name} version {number} "
                f"failed ({one_line(reason)}); {still}"
            ) from None
        except TimeoutError:
            raise WorkerError(
                f"endpoint '{endpoint_name}': the rollout of {args.model_name} version {number} "
                f"did not finish within timeout={args.timeout} s; Databricks goes on with it "
                f"and {still} until it is ready"
            ) from None
        if served_version(done, args.model_name) != number:
            raise WorkerError(
                f"endpoint '{endpoint_name}' finished updating but serves version "
                f"{served_version(done, args.model_name)}, not {number}; {still}"
            )
        _record(args.model_name, number, endpoint_name)
        print(f"deploy: endpoint '{endpoint_name}' serves {args.model_name} v{number}")
    return 0


def _record(model_name: str, number: str, endpoint_name: str) -> None:
    mlflow.set_tag("served_version", number)
    MlflowClient().set_model_version_tag(model_name, number, "serving_endpoint", endpoint_name)

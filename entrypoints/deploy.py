"""Point a Databricks Model Serving endpoint at a registered model's champion; wait until it serves.

    mlflow run . -e deploy --env-manager local -P model_name=main.ml.tabular_training \
        -P endpoint_name=tabular-training -P create=true
    python -m entrypoints.deploy --model-name main.ml.tabular_training --alias champion

The workspace is databricks-sdk's default (DATABRICKS_HOST and DATABRICKS_TOKEN, or a profile);
the version is resolved in the MLflow registry (``databricks-uc`` on Databricks). A failed
rollout leaves the previous version serving and fails the run in one line (``jobs/serving.py``).
The run is named ``deploy_<model>_v<version>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from jobs import cli, serving


def build_parser() -> cli.StrictParser:
    parser = cli.StrictParser(description=__doc__)
    parser.add_argument(
        "--model-name", required=True, help="registered model (catalog.schema.model)"
    )
    parser.add_argument("--alias", default="champion", help="the alias whose version is served")
    parser.add_argument(
        "--endpoint-name", default="", help="serving endpoint; default: <model>-<schema>"
    )
    parser.add_argument(
        "--create", type=cli.boolean, default=False, help="create the endpoint if it is missing"
    )
    parser.add_argument("--workload-size", choices=serving.WORKLOAD_SIZES, default="Small")
    parser.add_argument("--scale-to-zero", type=cli.boolean, default=True)
    parser.add_argument(
        "--timeout", type=cli.positive_int, default=1800, help="seconds to wait for the rollout"
    )
    parser.add_argument("--run-name", default="")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: serving.run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

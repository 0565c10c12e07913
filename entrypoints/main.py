"""The pipeline, and the default entry point: tune (or train once), then register with the gate.

    mlflow run . --env-manager local --experiment-name tabular-training/pipeline
    python -m entrypoints.main --trainer sklearn --tune false --train-params "n_estimators=50"

Each step is its own ``mlflow run`` of this project, a child run of the pipeline's run in the same
experiment, launched with the pipeline's environment manager (MLflow does not pass it on: issue
#11849). A training step that already FINISHED with the same entry point, parameters and git
commit, from a clean tree, is reused, so a rerun after a failure resumes instead of retraining.
``register`` always runs: its verdict depends on the registry's current champion. With
``retrain=if_drift`` the pipeline trains only when the champion's latest ``monitor`` run found
drift or a metric drop (or there is no champion yet), else it ends at once, saying why. The
pipeline's run is named ``pipeline_<dataset>_v<N>`` and carries the chosen model's test metrics,
the model name and version, and the gate's verdict and scores (also when the gate refused).
"""

from __future__ import annotations

from collections.abc import Sequence

import trainers
from common import metrics
from jobs import cli, gate, pipeline


def build_parser() -> cli.StrictParser:
    parser = cli.build_parser(__doc__, default_data="builtin:breast_cancer")
    steps = parser.add_argument_group("pipeline")
    steps.add_argument("--trainer", choices=sorted(trainers.TRAINERS), default="xgboost")
    steps.add_argument("--tune", type=cli.boolean, default=True, help="false: train once")
    steps.add_argument(
        "--backend", choices=pipeline.TUNE_BACKENDS, default="hyperopt",
        help="tune's tuner (default: %(default)s)",
    )  # fmt: skip
    steps.add_argument("--max-evals", type=cli.positive_int, default=10, help="tuning trials")
    steps.add_argument(
        "--train-params", default="", help="trainer parameters when tune=false, 'k=v k=v'"
    )
    steps.add_argument("--metric", choices=["auto", *metrics.GREATER_IS_BETTER], default="auto")
    steps.add_argument("--model-name", default="", help="default: tabular-<dataset>")
    steps.add_argument(
        "--threshold", type=cli.optional_float, default=None, help="None = no absolute gate"
    )
    steps.add_argument("--margin", type=cli.non_negative_float, default=0.0)
    steps.add_argument("--promote", type=cli.boolean, default=True, help="move 'champion'")
    steps.add_argument(
        "--schema-change", choices=gate.SCHEMA_CHANGES, default="refuse",
        help="register's: refuse a champion of another schema, or replace it",
    )  # fmt: skip
    steps.add_argument(
        "--env-manager",
        choices=pipeline.ENV_MANAGERS,
        default="auto",
        help="auto: the pipeline's own",
    )
    steps.add_argument(
        "--retrain", choices=pipeline.RETRAIN, default="always",
        help="if_drift: train only when the champion's latest monitor run said retrain",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: pipeline.run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

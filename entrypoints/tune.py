"""Search a trainer's hyperparameters (hyperopt or Optuna), one nested run per trial, then log
the best.

    mlflow run . -e tune --env-manager local -P trainer=xgboost -P max_evals=20
    mlflow run . -e tune --env-manager local -P backend=optuna -P parallelism=2
    python -m entrypoints.tune --trainer xgboost --max-evals 20 --parallelism 2

Trials train on part of the training split and are scored on the rest (the validation split),
so the test split stays unseen until the tuned model is retrained on the whole training split
and evaluated on it. ``backend`` is the tuner, hyperopt (default) or Optuna, searching the same
declared space and leaving the same record. ``parallelism > 1`` runs trials concurrently on
Spark (local Spark here, the cluster on Databricks); 1 runs them in this process without Spark.
"""

from __future__ import annotations

from collections.abc import Sequence

import trainers
from common import metrics
from jobs import cli, tuning


def build_parser() -> cli.StrictParser:
    parser = cli.build_parser(__doc__, default_data="builtin:breast_cancer")
    search = parser.add_argument_group("search")
    search.add_argument(
        "--trainer",
        choices=sorted(trainers.TRAINERS),
        default="xgboost",
        help="default: %(default)s",
    )
    search.add_argument(
        "--backend",
        choices=list(tuning.BACKENDS),
        default="hyperopt",
        help="the tuner, TPE either way (default: %(default)s)",
    )
    search.add_argument(
        "--max-evals", type=cli.positive_int, default=20, help="trials (default: %(default)s)"
    )
    search.add_argument(
        "--metric",
        choices=["auto", *metrics.GREATER_IS_BETTER],
        default="auto",
        help="what to optimise, scored on the validation split; auto: test_roc_auc or test_rmse",
    )
    search.add_argument(
        "--parallelism",
        type=cli.positive_int,
        default=1,
        help="concurrent trials; > 1 uses Spark (default: 1)",
    )
    search.add_argument(
        "--validation-fraction",
        type=cli.float_in(0.0, 1.0),
        default=0.25,
        help="of the training split, for scoring trials (default: %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: tuning.run(tuning.parse(build_parser(), argv)))


if __name__ == "__main__":
    raise SystemExit(main())

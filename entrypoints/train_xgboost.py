"""Train a gradient-boosted tree model with XGBoost and log it to MLflow as a servable model.

mlflow run . -e train_xgboost --env-manager local -P max_depth=4 -P learning_rate=0.05
python -m entrypoints.train_xgboost --max-depth 4 --learning-rate 0.05

Each boosting round's train and validation metrics are logged as step metrics and drawn as a
learning curve with the best round marked; training stops early_stopping_rounds after the best
round. The booster is in ``trainers/boosted_trees.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import trainers
from jobs import cli, training

TRAINER = trainers.get("xgboost")


def build_parser() -> cli.StrictParser:
    return cli.trainer_parser(__doc__, TRAINER)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: training.run_trainer(TRAINER, build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

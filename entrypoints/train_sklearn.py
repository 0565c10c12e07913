"""Train a scikit-learn random forest on a table and log it to MLflow as a servable model.

mlflow run . -e train_sklearn --env-manager local -P n_estimators=300 -P max_depth=8
python -m entrypoints.train_sklearn --n-estimators 300 --max-depth 8

The forest and its hyperparameters are in ``trainers/random_forest.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import trainers
from jobs import cli, training

TRAINER = trainers.get("sklearn")


def build_parser() -> cli.StrictParser:
    return cli.trainer_parser(__doc__, TRAINER)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: training.run_trainer(TRAINER, build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

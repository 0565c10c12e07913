"""Train a tabular MLP with PyTorch and log it to MLflow as a servable model.

    mlflow run . -e train_pytorch --env-manager local -P hidden_sizes=128,64 -P epochs=50
    python -m entrypoints.train_pytorch --hidden-sizes 128,64 --epochs 50

Runs on the GPU when one is present (``--device auto``) and on the CPU otherwise; on the CPU a
fixed seed gives bit-identical metrics. Each epoch's losses are logged as step metrics and drawn
as a learning curve. The network and its training loop are in ``trainers/mlp*.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import trainers
from jobs import cli, training

TRAINER = trainers.get("pytorch")


def build_parser() -> cli.StrictParser:
    return cli.trainer_parser(__doc__, TRAINER)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: training.run_trainer(TRAINER, build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

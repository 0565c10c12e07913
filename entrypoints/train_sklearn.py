"""Train a scikit-learn random forest on a table and log it to MLflow as a servable model.

mlflow run . -e train_sklearn --env-manager local -P n_estimators=300 -P max_depth=8
python -m entrypoints.train_sklearn --n-estimators 300 --max-depth 8
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import Pipeline

from common import cli, data, evaluation, tracking, training
from common.preprocessing import build_preprocessor, split_columns

ENTRY_POINT = "train_sklearn"
ESTIMATOR_FILE = "estimator.skops"
# skops refuses to load anything not trusted by default or listed here.
ESTIMATOR_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


def build_parser() -> cli.StrictParser:
    parser = cli.build_parser(__doc__, default_data="builtin:breast_cancer")
    cli.add_autolog_flag(parser)
    forest = parser.add_argument_group("random forest")
    forest.add_argument(
        "--n-estimators", type=cli.positive_int, default=200, help="default: %(default)s"
    )
    forest.add_argument(
        "--max-depth",
        type=cli.optional_positive_int,
        default=None,
        help="None = unlimited (default)",
    )
    forest.add_argument(
        "--min-samples-leaf", type=cli.positive_int, default=1, help="default: %(default)s"
    )
    forest.add_argument(
        "--max-features",
        type=cli.float_in(0.0, 1.0, high_open=False),
        default=0.5,
        help="fraction of features tried per split (default: %(default)s)",
    )
    return parser


def search_space() -> dict:
    """Hyperopt search space over ``train``'s keyword arguments (used by ``tune``)."""
    from hyperopt import hp
    from hyperopt.pyll import scope

    return {
        "n_estimators": scope.int(hp.quniform("n_estimators", 50, 400, 25)),
        "max_depth": hp.choice("max_depth", [None, 4, 8, 16]),
        "min_samples_leaf": scope.int(hp.quniform("min_samples_leaf", 1, 10, 1)),
        "max_features": hp.uniform("max_features", 0.1, 1.0),
    }


def model_type(task: str) -> str:
    return "random_forest_classifier" if task == "classification" else "random_forest_regressor"


def train(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    seed: int,
    n_estimators: int = 200,
    max_depth: int | None = None,
    min_samples_leaf: int = 1,
    max_features: float = 0.5,
    n_jobs: int = -1,
):
    """Fit preprocessor + random forest as one Pipeline (one autologged fit).

    Returns:
        (preprocessor, forest)
    """
    forest_cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    forest = forest_cls(
        n_estimators=n_estimators,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        max_features=max_features,
        random_state=seed,
        n_jobs=n_jobs,
    )
    pipeline = Pipeline([("preprocess", build_preprocessor(*split_columns(X))), ("model", forest)])
    pipeline.fit(X, y)
    return pipeline.named_steps["preprocess"], forest


def save_estimator(estimator, path: Path) -> None:
    import skops.io

    skops.io.dump(estimator, path)


def load_estimator(path: str, task: str):
    """Loader named in the model's config; trusts only ESTIMATOR_TRUSTED_TYPES beyond defaults."""
    import skops.io

    return skops.io.load(path, trusted=ESTIMATOR_TRUSTED_TYPES)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: _run(build_parser().parse_args(argv)))


def log_model(table: data.TabularData, split: data.Split, preprocessor, forest) -> dict[str, float]:
    """Evaluate and log the fitted forest as the run's model (used by ``tune`` too)."""
    evaluation.log_feature_importance(preprocessor, forest.feature_importances_)
    return training.log_trained_model(
        table,
        split,
        preprocessor=preprocessor,
        estimator=forest,
        loader=f"entrypoints.{ENTRY_POINT}:load_estimator",
        estimator_file=ESTIMATOR_FILE,
        save_estimator=save_estimator,
    )


def _run(args) -> int:
    with training.entry_point_run(ENTRY_POINT, args):
        table, split = training.load_data(args, model_type)
        with tracking.autologging("sklearn", args.autolog):
            preprocessor, forest = train(
                split.X_train,
                split.y_train,
                task=table.task,
                seed=args.seed,
                **training.hyperparameters(train, args),
            )
        log_model(table, split, preprocessor, forest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

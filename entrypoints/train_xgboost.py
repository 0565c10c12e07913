"""Train a gradient-boosted tree model with XGBoost and log it to MLflow as a servable model.

mlflow run . -e train_xgboost --env-manager local -P max_depth=4 -P learning_rate=0.05
python -m entrypoints.train_xgboost --max-depth 4 --learning-rate 0.05
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb

from common import cli, data, evaluation, tracking, training
from common.preprocessing import build_preprocessor, split_columns
from common.step_metrics import StepMetricsLogger

ENTRY_POINT = "train_xgboost"
ESTIMATOR_FILE = "estimator.json"  # XGBoost's own JSON model format, no pickle
EVAL_NAMES = ("train", "validation")


def build_parser() -> cli.StrictParser:
    parser = cli.build_parser(__doc__, default_data="builtin:diabetes")
    cli.add_autolog_flag(parser)
    boost = parser.add_argument_group("boosting")
    boost.add_argument(
        "--n-estimators",
        type=cli.positive_int,
        default=500,
        help="max rounds (default: %(default)s)",
    )
    boost.add_argument("--max-depth", type=cli.positive_int, default=6, help="default: %(default)s")
    boost.add_argument(
        "--learning-rate",
        type=cli.float_in(0.0, 1.0, high_open=False),
        default=0.1,
        help="default: %(default)s",
    )
    boost.add_argument(
        "--subsample",
        type=cli.float_in(0.0, 1.0, high_open=False),
        default=0.8,
        help="default: %(default)s",
    )
    boost.add_argument(
        "--colsample-bytree",
        type=cli.float_in(0.0, 1.0, high_open=False),
        default=0.8,
        help="default: %(default)s",
    )
    boost.add_argument(
        "--min-child-weight",
        type=cli.float_in(0.0, float("inf"), low_open=False),
        default=1.0,
        help="default: %(default)s",
    )
    boost.add_argument(
        "--reg-lambda",
        type=cli.float_in(0.0, float("inf"), low_open=False),
        default=1.0,
        help="L2 penalty (default: %(default)s)",
    )
    boost.add_argument(
        "--early-stopping-rounds", type=cli.positive_int, default=30, help="default: %(default)s"
    )
    boost.add_argument(
        "--validation-fraction",
        type=cli.float_in(0.0, 1.0),
        default=0.15,
        help="of the training split, for early stopping (default: %(default)s)",
    )
    return parser  # fmt: skip


def search_space() -> dict:
    """Hyperopt search space over ``train``'s keyword arguments (used by ``tune``)."""
    from hyperopt import hp
    from hyperopt.pyll import scope

    return {
        "max_depth": scope.int(hp.quniform("max_depth", 2, 10, 1)),
        "learning_rate": hp.loguniform("learning_rate", np.log(0.01), np.log(0.3)),
        "subsample": hp.uniform("subsample", 0.5, 1.0),
        "colsample_bytree": hp.uniform("colsample_bytree", 0.5, 1.0),
        "min_child_weight": hp.loguniform("min_child_weight", np.log(0.5), np.log(20)),
        "reg_lambda": hp.loguniform("reg_lambda", np.log(0.1), np.log(10)),
    }


def model_type(task: str) -> str:
    return "xgboost_classifier" if task == "classification" else "xgboost_regressor"


class _RoundReporter(xgb.callback.TrainingCallback):
    """Hands each round's train/validation metrics to ``on_round`` (step, {name: value})."""

    def __init__(self, on_round: Callable[[int, Mapping[str, float]], None]):
        super().__init__()
        self.on_round = on_round

    def after_iteration(self, model, epoch: int, evals_log) -> bool:
        values = {
            f"{EVAL_NAMES[i]}_{metric}": history[-1]
            for i, (_, metrics) in enumerate(evals_log.items())
            for metric, history in metrics.items()
        }
        self.on_round(epoch, values)
        return False


def train(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    seed: int,
    n_estimators: int = 500,
    max_depth: int = 6,
    learning_rate: float = 0.1,
    subsample: float = 0.8,
    colsample_bytree: float = 0.8,
    min_child_weight: float = 1.0,
    reg_lambda: float = 1.0,
    early_stopping_rounds: int = 30,
    validation_fraction: float = 0.15,
    n_jobs: int | None = None,
    on_round: Callable[[int, Mapping[str, float]], None] | None = None,
):
    """Fit the preprocessor, then boost with early stopping on a validation split of ``X``.

    Returns:
        (preprocessor, model); the model predicts with its best iteration.
    """
    part = data.holdout(X, y, fraction=validation_fraction, seed=seed, stratify=task)
    preprocessor = build_preprocessor(*split_columns(X)).fit(part.X_train)
    model_cls = xgb.XGBClassifier if task == "classification" else xgb.XGBRegressor
    model = model_cls(
        n_estimators=n_estimators,
        max_depth=max_depth,
        learning_rate=learning_rate,
        subsample=subsample,
        colsample_bytree=colsample_bytree,
        min_child_weight=min_child_weight,
        reg_lambda=reg_lambda,
        early_stopping_rounds=early_stopping_rounds,
        tree_method="hist",
        random_state=seed,
        n_jobs=n_jobs,
        callbacks=[_RoundReporter(on_round)] if on_round else None,
    )
    train_encoded = preprocessor.transform(part.X_train)
    eval_set = [(train_encoded, part.y_train), (preprocessor.transform(part.X_test), part.y_test)]
    model.fit(train_encoded, part.y_train, eval_set=eval_set, verbose=False)
    return preprocessor, model


def save_estimator(model, path: Path) -> None:
    model.save_model(path)


def load_estimator(path: str, task: str):
    """Loader named in the model's config: XGBoost JSON into the matching sklearn wrapper."""
    model = xgb.XGBClassifier() if task == "classification" else xgb.XGBRegressor()
    model.load_model(path)
    return model


def log_model(table: data.TabularData, split: data.Split, preprocessor, model) -> dict[str, float]:
    """Evaluate and log the fitted booster as the run's model (used by ``tune`` too)."""
    evaluation.log_feature_importance(
        preprocessor, model.feature_importances_, title="XGBoost feature importance (gain)"
    )
    return training.log_trained_model(
        table,
        split,
        preprocessor=preprocessor,
        estimator=model,
        loader=f"entrypoints.{ENTRY_POINT}:load_estimator",
        estimator_file=ESTIMATOR_FILE,
        save_estimator=save_estimator,
        extra_requirements=("xgboost-cpu",),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    with training.entry_point_run(ENTRY_POINT, args) as run:
        table, split = training.load_data(args, model_type)
        steps = StepMetricsLogger(run.info.run_id, total_steps=args.n_estimators, label="round")
        with tracking.autologging("xgboost", args.autolog), steps:
            preprocessor, model = train(
                split.X_train, split.y_train, task=table.task, seed=args.seed, on_round=steps,
                **training.hyperparameters(train, args),
            )  # fmt: skip
        rounds = len(next(iter(model.evals_result()["validation_1"].values())))
        mlflow.log_metrics({"best_iteration": model.best_iteration, "rounds_run": rounds})
        print(f"stopped after {rounds} rounds; best round {model.best_iteration + 1}")
        log_model(table, split, preprocessor, model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Gradient-boosted trees (XGBoost) with early stopping on a validation split.

The booster gets the columns as XGBoost takes them natively (``common.preprocessing.NATIVE``):
numbers with their gaps (it learns where missing values go), each categorical column one feature
of codes that it splits on as categories: a fifth of the one-hot width on a table with a
1,000-level column, and no imputing or scaling to fit. Saved in XGBoost's own JSON model format
(the feature types with it): no pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb

from common import data, preprocessing
from common.params import float_in, hyperparameter, positive_int
from trainers.contract import FitRequest, History, LearningCurve, StepCallback
from trainers.search_space import Integer, Space, Uniform

EVAL_NAMES = ("train", "validation")
_FRACTION = float_in(0.0, 1.0, high_open=False)
# XGBoost keeps these as float32: a larger value is its own traceback, not a clear refusal.
_NON_NEGATIVE = float_in(0.0, float(np.finfo(np.float32).max), low_open=False, high_open=False)


@dataclass(frozen=True)
class Params:
    """The booster's hyperparameters and its early stopping."""

    n_estimators: int = hyperparameter(500, positive_int, "max rounds")
    max_depth: int = hyperparameter(6, positive_int)
    learning_rate: float = hyperparameter(0.1, _FRACTION)
    subsample: float = hyperparameter(0.8, _FRACTION)
    colsample_bytree: float = hyperparameter(0.8, _FRACTION)
    min_child_weight: float = hyperparameter(1.0, _NON_NEGATIVE)
    reg_lambda: float = hyperparameter(1.0, _NON_NEGATIVE, "L2 penalty")
    early_stopping_rounds: int = hyperparameter(30, positive_int)
    validation_fraction: float = hyperparameter(
        0.15, float_in(0.0, 1.0), "of the training split, for early stopping"
    )


def model_type(task: str) -> str:
    return "xgboost_classifier" if task == "classification" else "xgboost_regressor"


def search_space() -> Space:
    """What ``tune`` searches over ``Params``' fields (trainers/search_space.py)."""
    return {
        "max_depth": Integer(2, 10),
        "learning_rate": Uniform(0.01, 0.3, log=True),
        "subsample": Uniform(0.5, 1.0),
        "colsample_bytree": Uniform(0.5, 1.0),
        "min_child_weight": Uniform(0.5, 20, log=True),
        "reg_lambda": Uniform(0.1, 10, log=True),
    }


class _RoundReporter(xgb.callback.TrainingCallback):
    """Hands each round's train/validation metrics to ``on_round`` (step, {name: value})."""

    def __init__(self, on_round: StepCallback):
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


def train(request: FitRequest, params: Params) -> tuple:
    """Fit the preprocessor, then boost with early stopping on a validation split of the rows.

    ``request.on_step`` gets each round's train and validation metrics.

    Returns:
        (preprocessor, model); the model predicts with its best iteration.
    """
    task, on_step = request.task, request.on_step
    part = data.holdout(
        request.X, request.y, fraction=params.validation_fraction, seed=request.seed, stratify=task
    )
    preprocessor = request.preprocessor(preprocessing.NATIVE)
    # Fitting transforms the rows anyway (ColumnTransformer.fit is fit_transform): keep them.
    train_encoded = preprocessor.fit_transform(part.X_train)
    model_cls = xgb.XGBClassifier if task == "classification" else xgb.XGBRegressor
    booster = asdict(params)  # XGBoost's keywords of the same names, but for the split above
    del booster["validation_fraction"]
    model = model_cls(
        **booster,
        tree_method="hist",
        random_state=request.seed,
        n_jobs=request.threads,
        enable_categorical=True,
        feature_types=preprocessing.feature_types(preprocessor),
        callbacks=[_RoundReporter(on_step)] if on_step else None,
    )
    validation = (preprocessing.encode(preprocessor, part.X_test), part.y_test)
    y_train = part.y_train
    del part  # the split's frames: the booster needs only their encoding
    eval_set = [(train_encoded, y_train), validation]
    model.fit(train_encoded, y_train, eval_set=eval_set, verbose=False)
    return preprocessor, model


def fit_report(model, history: History | None = None) -> tuple[dict[str, float], str]:
    """Rounds run and the best round (0-based, as XGBoost counts), and a summary line."""
    rounds = len(next(iter(model.evals_result()["validation_1"].values())))
    summary = f"stopped after {rounds} rounds; best round {model.best_iteration + 1}"
    return {"best_iteration": model.best_iteration, "rounds_run": rounds}, summary


def learning_curve(model) -> LearningCurve:
    """Every round's train and validation metric, the best (kept) round marked."""
    return LearningCurve(best_step=model.best_iteration)


def run_tags(params: Params) -> dict[str, str]:
    return {}


def importances(model) -> tuple[np.ndarray, str]:
    return model.feature_importances_, "XGBoost feature importance (gain)"


def contributions(model, encoded: np.ndarray) -> np.ndarray:
    """|SHAP value| of each encoded feature per row, as XGBoost computes them (TreeSHAP,
    ``pred_contribs``), summed over the classes of a multi-class model."""
    booster = model.get_booster()
    matrix = xgb.DMatrix(
        np.asarray(encoded, dtype="float32"), feature_names=booster.feature_names,
        feature_types=booster.feature_types, enable_categorical=True,
    )  # fmt: skip
    values = np.abs(booster.predict(matrix, pred_contribs=True))[..., :-1]  # without the bias
    return values.sum(axis=1) if values.ndim == 3 else values


def save_estimator(model, path: Path) -> None:
    model.save_model(path)


def load_estimator(path: str, task: str):
    """XGBoost JSON into the matching scikit-learn wrapper."""
    model = xgb.XGBClassifier() if task == "classification" else xgb.XGBRegressor()
    model.load_model(path)
    return model

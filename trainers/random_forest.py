"""Random forests (scikit-learn): the preprocessor and the forest fitted as one Pipeline.

Saved with skops, which loads only types it trusts by default or that ``TRUSTED_TYPES`` lists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import Pipeline

from common.params import float_in, hyperparameter, optional_positive_int, positive_int
from common.skops_import import skops_io
from trainers.contract import FitRequest, History
from trainers.search_space import Choice, Integer, Space, Uniform

TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


@dataclass(frozen=True)
class Params:
    """The forest's hyperparameters."""

    n_estimators: int = hyperparameter(200, positive_int, "trees")
    max_depth: int | None = hyperparameter(None, optional_positive_int, "None = unlimited")
    min_samples_leaf: int = hyperparameter(1, positive_int)
    max_features: float = hyperparameter(
        0.5, float_in(0.0, 1.0, high_open=False), "fraction of features tried per split"
    )


def model_type(task: str) -> str:
    return "random_forest_classifier" if task == "classification" else "random_forest_regressor"


def search_space() -> Space:
    """What ``tune`` searches over ``Params``' fields (trainers/search_space.py)."""
    return {
        "n_estimators": Integer(50, 400, step=25),
        "max_depth": Choice((None, 4, 8, 16)),
        "min_samples_leaf": Integer(1, 10),
        "max_features": Uniform(0.1, 1.0),
    }


def train(request: FitRequest, params: Params) -> tuple:
    """Fit preprocessor + forest as one Pipeline (one fit, so autologging sees it whole).

    Uses all cores unless ``request.threads`` says otherwise; a forest has no steps to report.

    Returns:
        (preprocessor, forest)
    """
    classify = request.task == "classification"
    forest = (RandomForestClassifier if classify else RandomForestRegressor)(
        **asdict(params),  # each field is the forest's keyword of the same name
        random_state=request.seed,
        n_jobs=-1 if request.threads is None else request.threads,
    )
    preprocessor = request.preprocessor()
    pipeline = Pipeline([("preprocess", preprocessor), ("model", forest)])
    pipeline.fit(request.X, request.y)
    return pipeline.named_steps["preprocess"], forest


def fit_report(forest, history: History | None = None) -> tuple[dict[str, float], str]:
    """A forest grows every tree it is asked for: nothing to report."""
    return {}, ""


def learning_curve(forest) -> None:
    """A forest has no steps to draw."""
    return None


def run_tags(params: Params) -> dict[str, str]:
    return {}


def importances(forest) -> tuple[np.ndarray, str]:
    return forest.feature_importances_, ""


def contributions(forest, encoded: np.ndarray) -> None:
    """No per-row contributions of its own (the permutation importances cover it)."""
    return None


def save_estimator(forest, path: Path) -> None:
    skops = skops_io()

    skops.dump(forest, path)


def load_estimator(path: str, task: str):
    skops = skops_io()

    return skops.load(path, trusted=TRUSTED_TYPES)

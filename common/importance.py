"""Permutation importance over the raw input columns, through the served model.

Each column of the model's input (its signature's columns, as a client sends them) is shuffled
in turn on a sample of the test split, and the model's default metric (``test_roc_auc`` or
``test_rmse``) is measured again: how much worse it gets is the column's importance. The model
is scored as it serves (``common.pyfunc.TabularModel``: the same normalization, preprocessing
and estimator), so the figures compare across scikit-learn, XGBoost and PyTorch, unlike each
framework's own importances over one-hot encoded columns.

Cost: ``columns x REPEATS`` predictions on at most ``MAX_ROWS`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from common import metrics

MAX_ROWS = 1000
REPEATS = 2
SEED = 0  # a fixed seed: the same model and rows give the same importances


def output_of(model, rows: pd.DataFrame, task: str, classes: Sequence | None) -> np.ndarray:
    """Class probabilities (n, K) in ``classes`` order, or predicted values."""
    scored = model.predict(None, rows)
    if task == "classification":
        return scored[[f"probability_{c}" for c in classes]].to_numpy("float64")
    return scored["prediction"].to_numpy("float64")


def permutation_importance(
    model, rows: pd.DataFrame, y: np.ndarray, *, task: str, classes: Sequence | None
) -> tuple[pd.DataFrame, str, int]:
    """(one row per input column, ``importance`` = mean loss of the metric when the column is
    shuffled and ``std`` over ``REPEATS``, largest first; the metric; rows used).

    Args:
        model: A ``TabularModel`` (``predict(None, rows)``).
        rows: Raw test rows with the model's input columns; y: their label codes or values.
    """
    rng = np.random.default_rng(SEED)
    if len(rows) > MAX_ROWS:
        keep = np.sort(rng.choice(len(rows), MAX_ROWS, replace=False))
        rows, y = rows.iloc[keep], np.asarray(y)[keep]
    metric = metrics.DEFAULT_METRIC[task]
    sign = 1.0 if metrics.GREATER_IS_BETTER[metric] else -1.0

    def score(frame: pd.DataFrame) -> float:
        return metrics.task_metrics(task, y, output_of(model, frame, task, classes))[metric]

    base = score(rows)
    found = []
    for column in rows.columns:
        losses = []
        for _ in range(REPEATS):
            shuffled = rows.copy()
            shuffled[column] = rows[column].to_numpy()[rng.permutation(len(rows))]
            losses.append(sign * (base - score(shuffled)))
        found.append({"column": str(column), "importance": float(np.mean(losses)),
                      "std": float(np.std(losses))})  # fmt: skip
    table = pd.DataFrame(found).sort_values("importance", ascending=False, kind="stable")
    return table.reset_index(drop=True), metric, len(rows)

"""The fixed metric names every trainer logs, how to compute them, and which way is better."""

from __future__ import annotations

import numpy as np

from common import business
from common.errors import UserInputError

CLASSIFICATION_METRICS = ("test_accuracy", "test_f1_macro", "test_roc_auc", "test_log_loss")
REGRESSION_METRICS = ("test_rmse", "test_mae", "test_r2")
# What tune optimises and register gates on unless the user names a metric.
DEFAULT_METRIC = {"classification": "test_roc_auc", "regression": "test_rmse"}
GREATER_IS_BETTER = {
    "test_accuracy": True,
    "test_f1_macro": True,
    "test_roc_auc": True,
    "test_log_loss": False,
    "test_rmse": False,
    "test_mae": False,
    "test_r2": True,
    **business.GREATER_IS_BETTER,
}


# What a run measures about itself rather than about its model: timings, and MLflow's system
# metrics (system/cpu_utilization_percentage, ...). Never judged when runs are compared.
TIMINGS = ("_seconds", "_per_second")
SYSTEM_PREFIX = "system/"


def is_measurement(name: str) -> bool:
    """Whether metric ``name`` is a timing or a system figure, which vary from run to run."""
    return name.endswith(TIMINGS) or name.startswith(SYSTEM_PREFIX)


def metric_names(task: str) -> tuple[str, ...]:
    """The metric names logged for ``task`` ("classification" or "regression"), the business
    metric's included (logged where it applies, e.g. for two classes only)."""
    fixed = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    return (*fixed, *(name for name, applies in business.TASK.items() if applies == task))


def resolve(metric: str, task: str) -> str:
    """The metric to optimise or judge: ``auto`` is the task's default; refuses one that does
    not belong to the data's task."""
    if metric == "auto":
        return DEFAULT_METRIC[task]
    if metric not in metric_names(task):
        raise UserInputError(
            f"metric '{metric}' does not apply to {task} data; choose one of "
            + ", ".join(metric_names(task))
        )
    return metric


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """float64 rows that sum to exactly one (frameworks return float32 that drift by ~1e-7)."""
    proba = np.asarray(scores, dtype="float64")
    return proba / proba.sum(axis=1, keepdims=True)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, macro F1, ROC AUC (one-vs-rest for several classes) and log loss.

    Args:
        y_true: Encoded labels 0..K-1.
        proba: Class probabilities, shape (n, K).
    """
    from sklearn import metrics as skm  # not for commands that only name the metrics

    n_classes = proba.shape[1]
    labels = np.arange(n_classes)
    y_pred = proba.argmax(axis=1)
    if len(np.unique(y_true)) < 2:
        roc_auc = float("nan")  # undefined on a one-class test set; NaN says so honestly
    elif n_classes == 2:
        roc_auc = skm.roc_auc_score(y_true, proba[:, 1])
    else:
        roc_auc = skm.roc_auc_score(
            y_true, proba, multi_class="ovr", average="macro", labels=labels
        )
    return {
        "test_accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "test_f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", labels=labels)),
        "test_roc_auc": float(roc_auc),
        "test_log_loss": float(skm.log_loss(y_true, proba, labels=labels)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Root mean squared error, mean absolute error and R²."""
    from sklearn import metrics as skm

    return {
        "test_rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "test_mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "test_r2": float(skm.r2_score(y_true, y_pred)),
    }


def task_metrics(
    task: str, y_true: np.ndarray, output, settings: business.Settings | None = None
) -> dict[str, float]:
    """Every metric of ``task`` for ``output``: class probabilities (n, K) in classification,
    predictions in regression; plus the business metric (``common.business``) when ``settings``
    are given. Trainers, tuning trials and the gate's candidate, champion and baseline all score
    through here, so a metric added here or there is computed the same way for all of them."""
    output = np.asarray(output, dtype="float64")
    if task == "classification":
        results = classification_metrics(y_true, output)
    else:
        results = regression_metrics(y_true, output)
    if settings is not None:
        results |= business.compute(task, y_true, output, settings)
    return results

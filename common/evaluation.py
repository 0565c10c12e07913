"""Scoring a fitted preprocessor + estimator on the test split and logging the outcome."""

from __future__ import annotations

import mlflow
import numpy as np

from common import metrics, plots
from common.data import Split, TabularData


def score(
    task: str, preprocessor, estimator, X, y: np.ndarray
) -> tuple[dict[str, float], np.ndarray]:
    """The task's fixed metrics for ``estimator`` on raw rows ``X``; also the predictions.

    Classifiers are scored through ``predict_proba`` (predictions are class codes), regressors
    through ``predict``.
    """
    encoded = preprocessor.transform(X)
    if task == "classification":
        proba = metrics.as_probabilities(estimator.predict_proba(encoded))
        return metrics.classification_metrics(y, proba), proba.argmax(axis=1)
    prediction = np.asarray(estimator.predict(encoded), dtype="float64").ravel()
    return metrics.regression_metrics(y, prediction), prediction


def evaluate(table: TabularData, split: Split, preprocessor, estimator) -> dict[str, float]:
    """Score on the test split, log the metrics, and log the confusion matrix (classifiers)."""
    results, predicted = score(table.task, preprocessor, estimator, split.X_test, split.y_test)
    if table.task == "classification":
        figure = plots.confusion_matrix_figure(split.y_test, predicted, table.classes)
        mlflow.log_figure(figure, "plots/confusion_matrix.png")
    mlflow.log_metrics(results)
    return results


def log_feature_importance(preprocessor, importances, *, title: str = "") -> None:
    """Log a bar chart and a CSV of importances per encoded feature (after one-hot encoding)."""
    names = [str(n) for n in preprocessor.get_feature_names_out()]
    values = np.asarray(importances, dtype="float64")
    if len(names) != len(values):
        raise ValueError(f"{len(values)} importances for {len(names)} encoded features")
    mlflow.log_figure(
        plots.feature_importance_figure(names, values, title=title), "plots/feature_importance.png"
    )
    order = np.argsort(values)[::-1]
    rows = "\n".join(f"{names[i]},{values[i]:.8g}" for i in order)
    mlflow.log_text(f"feature,importance\n{rows}\n", "feature_importance.csv")

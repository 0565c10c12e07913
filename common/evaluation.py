"""Scoring a fitted preprocessor + estimator on the test split and logging the outcome."""

from __future__ import annotations

import mlflow
import numpy as np

from common import metrics, plots
from common.data import Split, TabularData


def evaluate(table: TabularData, split: Split, preprocessor, estimator) -> dict[str, float]:
    """Compute the task's fixed test metrics, log them, and log the confusion matrix.

    The estimator is scored on ``preprocessor.transform(X_test)``: classifiers through
    ``predict_proba``, regressors through ``predict``.
    """
    encoded = preprocessor.transform(split.X_test)
    if table.task == "classification":
        proba = metrics.as_probabilities(estimator.predict_proba(encoded))
        results = metrics.classification_metrics(split.y_test, proba)
        figure = plots.confusion_matrix_figure(split.y_test, proba.argmax(axis=1), table.classes)
        mlflow.log_figure(figure, "plots/confusion_matrix.png")
    else:
        prediction = np.asarray(estimator.predict(encoded), dtype="float64").ravel()
        results = metrics.regression_metrics(split.y_test, prediction)
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

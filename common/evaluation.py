"""Scoring a fitted preprocessor + estimator on the test split and logging the outcome."""

from __future__ import annotations

from collections.abc import Sequence

import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from common import metrics, plots
from common.business import Settings
from common.data import Split, TabularData
from common.preprocessing import encode, feature_names

CLASSIFICATION_REPORT = "evaluation/classification_report.json"


def predict_output(task: str, preprocessor, estimator, X) -> np.ndarray:
    """Class probabilities (classifiers, shape (n, K)) or predicted values (regressors)."""
    encoded = encode(preprocessor, X)
    if task == "classification":
        return metrics.as_probabilities(estimator.predict_proba(encoded))
    return np.asarray(estimator.predict(encoded), dtype="float64").ravel()


def score(
    task: str, preprocessor, estimator, X, y: np.ndarray, settings: Settings | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """The task's metrics for ``estimator`` on rows ``X``; also the predictions.

    Classifiers are scored through ``predict_proba`` (predictions are class codes), regressors
    through ``predict``. ``settings`` add the business metric (``common.business``).
    """
    output = predict_output(task, preprocessor, estimator, X)
    results = metrics.task_metrics(task, y, output, settings)
    return results, (output.argmax(axis=1) if task == "classification" else output)


def evaluate(
    table: TabularData, split: Split, preprocessor, estimator, settings: Settings | None = None
) -> dict[str, float]:
    """Score on the test split and log the metrics, the plots and (classifiers) the report.

    ``settings`` add the business metric (``common.business``) to the metrics.

    Classifiers: ``plots/`` confusion matrix, ROC, precision-recall and calibration curves, and
    ``evaluation/classification_report.json``. Regressors: ``plots/`` predicted vs actual and
    residuals.
    """
    output = predict_output(table.task, preprocessor, estimator, split.X_test)
    return log_evaluation(table.task, table.classes, split.y_test, output, settings)


def log_evaluation(
    task: str,
    classes: Sequence | None,
    y: np.ndarray,
    output: np.ndarray,
    settings: Settings | None,
) -> dict[str, float]:
    """``evaluate`` from the test labels and the model's output (probabilities or values): the
    metrics, plots and report, logged; also for outputs computed elsewhere (on Spark)."""
    results = metrics.task_metrics(task, y, output, settings)
    if task == "classification":
        _log_classifier_evaluation(y, output, classes)
    else:
        mlflow.log_figure(
            plots.predicted_vs_actual_figure(y, output), "plots/predicted_vs_actual.png"
        )
        mlflow.log_figure(plots.residuals_figure(y, output), "plots/residuals.png")
    mlflow.log_metrics(results)
    return results


def _log_classifier_evaluation(y: np.ndarray, proba: np.ndarray, classes: Sequence) -> None:
    predicted = proba.argmax(axis=1)
    figures = {
        "confusion_matrix": plots.confusion_matrix_figure(y, predicted, classes),
        "roc_curve": plots.roc_curve_figure(y, proba, classes),
        "precision_recall_curve": plots.precision_recall_figure(y, proba, classes),
        "calibration_curve": plots.calibration_figure(y, proba, classes),
    }
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}.png")
    mlflow.log_table(classification_report(y, predicted, classes), CLASSIFICATION_REPORT)


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence
) -> pd.DataFrame:
    """Precision, recall, F1 and support per original class label, then macro and weighted rows.

    Logged with ``mlflow.log_table`` rather than as CSV: the UI shows the JSON as a table, and
    ``mlflow.load_table(path, run_ids=[...], extra_columns=["run_id"])`` stacks the reports of
    many runs into one frame for comparing per-class recall across runs.
    """
    codes = np.arange(len(classes))
    per_class = precision_recall_fscore_support(y_true, y_pred, labels=codes, zero_division=0)
    rows = [
        {"class": str(label), "precision": p, "recall": r, "f1": f, "support": int(s)}
        for label, p, r, f, s in zip(classes, *per_class, strict=True)
    ]
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=codes, average=average, zero_division=0
        )
        rows.append(
            {
                "class": f"{average} avg",
                "precision": p,
                "recall": r,
                "f1": f,
                "support": len(y_true),
            }
        )
    # object, not pandas 3's str: log_table's object-column scan warns about str columns.
    return pd.DataFrame(rows).astype({"class": object})


def log_feature_importance(preprocessor, importances, *, title: str = "") -> None:
    """Log a bar chart and a CSV of importances per encoded feature (after one-hot encoding),
    named as ``features.json`` names them."""
    names = feature_names(preprocessor)
    values = np.asarray(importances, dtype="float64")
    if len(names) != len(values):
        raise ValueError(f"{len(values)} importances for {len(names)} encoded features")
    mlflow.log_figure(
        plots.feature_importance_figure(names, values, title=title), "plots/feature_importance.png"
    )
    order = np.argsort(values)[::-1]
    table = pd.DataFrame({"feature": np.asarray(names)[order], "importance": values[order]})
    # Quoted where needed: a category value may hold a comma.
    mlflow.log_text(table.to_csv(index=False, float_format="%.8g"), "feature_importance.csv")

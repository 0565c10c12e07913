"""evaluate() against a real tracking store: the metrics, plots and report a run ends up with."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from common import data, evaluation
from common.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

CLASSIFIER_PLOTS = {
    "plots/confusion_matrix.png",
    "plots/roc_curve.png",
    "plots/precision_recall_curve.png",
    "plots/calibration_curve.png",
}
REGRESSOR_PLOTS = {"plots/predicted_vs_actual.png", "plots/residuals.png"}


def _table(tmp_path, frame: pd.DataFrame, task: str):
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    table = data.load(str(path), target="y", task=task)
    return table, data.split(table, test_size=0.3, seed=0)


def _animals(rows: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    codes = np.arange(rows) % 3
    x = rng.normal(size=(rows, 2)) + codes[:, None]
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": np.array(["cat", "dog", "eel"])[codes]})


def _evaluate(table, split, estimator) -> tuple[str, dict[str, float]]:
    identity = FunctionTransformer()
    estimator.fit(split.X_train, split.y_train)
    with mlflow.start_run() as run:
        results = evaluation.evaluate(table, split, identity, estimator)
    return run.info.run_id, results


def _artifacts(run_id: str, folder: str | None = None) -> set[str]:
    return {a.path for a in MlflowClient().list_artifacts(run_id, folder)}


def test_a_multiclass_run_gets_curves_and_a_report_per_original_label(tmp_path):
    table, split = _table(tmp_path, _animals(), "classification")

    run_id, results = _evaluate(table, split, LogisticRegression())

    assert set(results) == set(CLASSIFICATION_METRICS)
    assert MlflowClient().get_run(run_id).data.metrics == results
    assert _artifacts(run_id, "plots") == CLASSIFIER_PLOTS
    report = mlflow.load_table(evaluation.CLASSIFICATION_REPORT, run_ids=[run_id])
    assert report["class"].tolist() == ["cat", "dog", "eel", "macro avg", "weighted avg"]
    per_class = report.set_index("class").loc[["cat", "dog", "eel"]]
    assert per_class["support"].tolist() == np.bincount(split.y_test).tolist()
    assert report.set_index("class").loc["weighted avg", "support"] == len(split.y_test)
    assert report[["precision", "recall", "f1"]].stack().between(0, 1).all()
    assert report.set_index("class").loc["macro avg", "recall"] == pytest.approx(
        per_class["recall"].mean()
    )


def test_a_regression_run_gets_predicted_vs_actual_and_residuals_and_no_report(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=120)
    frame = pd.DataFrame({"x": x, "y": 3 * x + rng.normal(scale=0.1, size=120)})
    table, split = _table(tmp_path, frame, "regression")

    run_id, results = _evaluate(table, split, LinearRegression())

    assert set(results) == set(REGRESSION_METRICS)
    assert results["test_r2"] > 0.99
    assert _artifacts(run_id, "plots") == REGRESSOR_PLOTS
    assert "evaluation" not in _artifacts(run_id)


def test_classification_report_counts_per_class_and_averages():
    y_true = np.array([0, 0, 1, 2])
    y_pred = np.array([0, 1, 1, 2])

    report = evaluation.classification_report(y_true, y_pred, ["cat", "dog", "eel"])

    rows = report.set_index("class")
    assert rows.loc["cat"].tolist() == pytest.approx([1.0, 0.5, 2 / 3, 2])
    assert rows.loc["dog"].tolist() == pytest.approx([0.5, 1.0, 2 / 3, 1])
    assert rows.loc["eel"].tolist() == pytest.approx([1.0, 1.0, 1.0, 1])
    assert rows.loc["macro avg", "precision"] == pytest.approx(2.5 / 3)
    assert rows.loc["weighted avg", "recall"] == pytest.approx(0.75)
    assert rows.loc["weighted avg", "support"] == 4


def test_a_class_never_predicted_scores_zero_without_a_warning(recwarn):
    report = evaluation.classification_report(np.array([0, 1]), np.array([0, 0]), ["a", "b"])
    assert report.set_index("class").loc["b", "precision"] == 0.0
    assert not [w for w in recwarn if "ill-defined" in str(w.message)]

from __future__ import annotations

import math

import numpy as np
import pytest

from common import metrics


def test_perfect_binary_classifier_scores_perfectly():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.7, 0.3]])
    result = metrics.classification_metrics(y, proba)
    assert set(result) == set(metrics.CLASSIFICATION_METRICS)
    assert result["test_accuracy"] == 1.0
    assert result["test_f1_macro"] == 1.0
    assert result["test_roc_auc"] == 1.0
    assert 0 < result["test_log_loss"] < 0.4


def test_multiclass_auc_is_one_vs_rest_and_handles_classes_absent_from_the_test_set():
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.35, 0.05]])
    result = metrics.classification_metrics(y, proba)
    assert result["test_accuracy"] == 0.75
    assert result["test_roc_auc"] == pytest.approx((1 + 1 + 0.5) / 3)


@pytest.mark.filterwarnings("ignore:F-score is ill-defined")
def test_one_class_test_set_gives_nan_auc_not_a_crash():
    result = metrics.classification_metrics(np.array([1, 1]), np.array([[0.2, 0.8], [0.4, 0.6]]))
    assert math.isnan(result["test_roc_auc"])


def test_regression_metrics():
    result = metrics.regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert set(result) == set(metrics.REGRESSION_METRICS)
    assert result["test_mae"] == pytest.approx(2 / 3)
    assert result["test_rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert result["test_r2"] == pytest.approx(1 - 4 / 2)


def test_every_metric_has_a_direction():
    assert set(metrics.GREATER_IS_BETTER) == {
        *metrics.metric_names("classification"),
        *metrics.metric_names("regression"),
    }
    assert metrics.metric_names("regression") == metrics.REGRESSION_METRICS
    assert metrics.metric_names("classification")[-1] == "test_expected_cost"

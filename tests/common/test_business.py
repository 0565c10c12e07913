"""The business metric hook: the shipped expected-cost example and how it reaches the metrics."""

from __future__ import annotations

import argparse
from dataclasses import fields

import numpy as np
import pytest

from common import business, metrics
from common.params import ParameterValueError


def test_expected_cost_charges_each_kind_of_error_its_own_cost_per_row():
    y_true = np.array([0, 0, 1, 1, 1])
    # Decisions: FP on row 1, FN on rows 3 and 4.
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4]])
    settings = business.Settings(cost_fp=5.0, cost_fn=1.0)
    assert business.compute("classification", y_true, proba, settings) == {
        "test_expected_cost": pytest.approx((5.0 * 1 + 1.0 * 2) / 5)
    }
    everything = metrics.task_metrics("classification", y_true, proba, settings)
    assert everything["test_expected_cost"] == pytest.approx(1.4)
    # With unit costs it is the error rate.
    unit = metrics.task_metrics("classification", y_true, proba, business.Settings())
    assert unit["test_expected_cost"] == pytest.approx(1 - unit["test_accuracy"])
    assert metrics.GREATER_IS_BETTER["test_expected_cost"] is False


def test_it_applies_to_binary_classification_only():
    three = np.full((4, 3), 1 / 3)
    assert business.compute("classification", np.arange(4) % 3, three, business.Settings()) == {}
    regression = metrics.task_metrics("regression", np.ones(3), np.ones(3), business.Settings())
    assert set(regression) == set(metrics.REGRESSION_METRICS)


def test_settings_come_from_flags_or_from_a_runs_text_params():
    assert business.settings_of(argparse.Namespace(cost_fp=2.0, cost_fn=3.0)) == business.Settings(
        2.0, 3.0
    )
    assert business.settings_of({"cost_fp": "4", "other": "x"}) == business.Settings(4.0, 1.0)
    assert business.settings_of({}) == business.Settings()


def test_a_cost_whose_expected_value_could_overflow_is_refused_naming_the_bound():
    parse = {f.name: f.metadata["parse"] for f in fields(business.Settings)}
    assert parse["cost_fp"]("1e12") == 1e12
    with pytest.raises(ParameterValueError, match=r"expected a number in \[0.0, 1000000000000.0\]"):
        parse["cost_fp"]("1e308")
    with pytest.raises(ParameterValueError, match="got '-1'"):
        parse["cost_fn"]("-1")

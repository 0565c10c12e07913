"""The candidate beside the champion: where they disagree, per class or by value."""

from __future__ import annotations

import numpy as np
import pytest

from jobs import comparison


def test_classifiers_disagree_where_their_predicted_classes_differ():
    y = np.array([0, 1, 1, 0])
    candidate = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.6, 0.4]])
    champion = np.array([[0.8, 0.2], [0.7, 0.3], [0.3, 0.7], [0.3, 0.7]])
    found = comparison.summarize("classification", ["no", "yes"], y, candidate, champion)
    assert found["rows"] == 4
    assert found["rows_disagreeing"] == 2
    yes = found["per_class"][1]
    assert yes == {
        "class": "yes", "support": 2,
        "candidate_precision": 1.0, "candidate_recall": 1.0, "candidate_f1": 1.0,
        "champion_precision": 0.5, "champion_recall": 0.5, "champion_f1": 0.5,
    }  # fmt: skip
    assert comparison.figure("classification", ["no", "yes"], y, candidate, champion)


def test_regressors_disagree_beyond_a_tenth_of_the_targets_spread():
    y = np.array([0.0, 10.0, 20.0, 30.0])  # std 11.18: disagreement above 1.118
    found = comparison.summarize(
        "regression", None, y, np.array([0.0, 10.0, 20.0, 30.0]), np.array([0.5, 12.0, 20.0, 25.0])
    )
    assert found["rows_disagreeing"] == 2
    assert found["candidate_mae"] == 0.0
    assert found["champion_mae"] == pytest.approx((0.5 + 2 + 0 + 5) / 4)
    assert comparison.figure("regression", None, y, y, y + 1)

"""PSI, the chance floor that keeps small batches from false alarms, and the metric drop."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from common import drift, profile


def test_psi_of_identical_shares_is_zero_and_grows_with_the_shift():
    assert drift.psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    expected = (0.9 - 0.5) * math.log(0.9 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5)
    assert drift.psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(expected)
    # An empty bucket counts (floored), without dividing by zero.
    assert math.isfinite(drift.psi([1.0, 0.0], [0.9, 0.1]))
    assert drift.psi([1.0, 0.0], [0.9, 0.1]) > 0.1


def _entry(rng, rows=5000):
    return profile.number_entry("x", rng.normal(size=rows))


@pytest.mark.parametrize("batch_rows", [100, 500, 5000])
def test_batches_of_the_training_distribution_are_not_flagged_by_chance(batch_rows):
    rng = np.random.default_rng(batch_rows)
    entry = _entry(rng)
    flagged = 0
    for _ in range(200):
        counts = profile._count_entry(entry, pd.Series(rng.normal(size=batch_rows)))
        judged = drift.compare_entry(entry, counts, reference_rows=5000, threshold=0.1)
        flagged += judged["drifted"]
    assert flagged <= 2  # the floor is the 99.9th percentile of chance


def test_the_chance_floor_shrinks_as_the_batch_grows():
    floors = [drift.noise_floor(11, n, 10_000) for n in (100, 1000, 10_000)]
    assert floors == sorted(floors, reverse=True)
    assert floors[0] > 0.1 > floors[1]


def test_a_shift_of_a_standard_deviation_is_a_major_drift():
    rng = np.random.default_rng(1)
    entry = _entry(rng)
    counts = profile._count_entry(entry, pd.Series(rng.normal(loc=1.0, size=1000)))
    judged = drift.compare_entry(entry, counts, reference_rows=5000, threshold=0.1)
    assert judged["drifted"]
    assert judged["severity"] == "major"
    assert judged["psi"] > 0.5


def test_blanks_from_a_sensor_are_drift():
    rng = np.random.default_rng(2)
    entry = _entry(rng)
    values = rng.normal(size=1000)
    values[:300] = np.nan
    judged = drift.compare_entry(entry, profile._count_entry(entry, pd.Series(values)),
                                 reference_rows=5000, threshold=0.1)  # fmt: skip
    assert judged["drifted"]
    assert judged["missing_change"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("metric", "reference", "batch", "drop"),
    [
        ("test_roc_auc", 0.9, 0.45, 0.5),  # greater is better: lower is worse
        ("test_rmse", 10.0, 12.0, 0.2),  # lower is better: higher is worse
        ("test_rmse", 10.0, 8.0, -0.2),  # better than at test time
    ],
)
def test_the_metric_drop_is_a_fraction_of_the_test_value_positive_when_worse(
    metric, reference, batch, drop
):
    assert drift.metric_drop(metric, reference, batch) == pytest.approx(drop)

"""The reference profile: buckets a batch is counted into, kept small, read back strictly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from common import columns, profile
from common.preprocessing import normalize_features
from tests.helpers import drift_tables


def _profiled(frame: pd.DataFrame, target: str = "churned"):
    features = frame.drop(columns=[target])
    roles = columns.decide(features)
    normalized = normalize_features(features, roles)
    y = frame[target].to_numpy()
    output = np.column_stack([1 - y, y]).astype(float)
    built = profile.build(
        normalized, roles, task="classification", y=y, classes=[0, 1], test_output=output,
        metrics={},
    )  # fmt: skip
    return built, features


def test_the_training_table_counts_into_its_own_reference_shares():
    built, features = _profiled(drift_tables.table(3000, 0))
    assert [e.role for e in built.columns] == [
        "numeric", "numeric", "categorical", "boolean", "datetime",
    ]  # fmt: skip
    y = drift_tables.table(3000, 0)["churned"]
    counts = profile.split_counts(built, profile.count(features, built, predictions=y))
    for entry in built.entries:
        shares = counts[entry.column] / counts[entry.column].sum()
        np.testing.assert_allclose(shares, entry.reference, atol=1e-6, err_msg=entry.column)
    income = built.columns[0]
    assert len(income.edges) == 9
    assert len(income.shares) == 10
    assert all(s == pytest.approx(0.1, abs=0.001) for s in income.shares)
    age = built.columns[1]
    assert age.missing == pytest.approx(0.05, abs=0.01)
    assert built.prediction.vocabulary == ("0", "1")
    assert built.target["classes"] == ["0", "1"]
    assert built.columns[4].date_format == "%d/%m/%Y"


def test_a_value_on_an_edge_falls_in_the_bin_below_and_gaps_count_as_missing():
    entry = profile.number_entry("x", np.array([1.0, 2.0, 3.0, 4.0]), edges=[2.0, 3.0])
    assert entry.buckets == ["<= 2", "(2, 3]", "> 3", "missing"]
    counted = profile._count_entry(entry, pd.Series([2.0, 2.5, 3.0, 9.0, np.nan, -5.0]))
    assert counted.tolist() == [2, 2, 1, 1]


def test_unseen_categories_have_their_own_bucket_while_the_vocabulary_is_complete():
    entry = profile.category_entry("city", "categorical", {"a": 60, "b": 30, "c": 10}, missing=0)
    counted = profile._count_entry(entry, pd.Series(["a", "c", "mars", None, "b"], dtype=object))
    assert entry.buckets == ["a", "b", "c", "other", "unseen", "missing"]
    assert counted.tolist() == [1, 1, 1, 0, 1, 1]
    many = {f"v{i:04d}": 1000 - i for i in range(profile.VOCABULARY + 50)}
    wide = profile.category_entry("code", "categorical", many, missing=0)
    assert len(wide.top) == profile.TOP
    assert wide.vocabulary is None
    counted = profile._count_entry(wide, pd.Series(["v0000", "v0100", "never"], dtype=object))
    # Without the whole vocabulary a value never seen cannot be told from a rare one: "other".
    assert counted.tolist()[-3:] == [2, 0, 0]


def test_dates_before_and_after_the_training_range_are_counted():
    dates = pd.Series(pd.to_datetime(["2025-01-01", "2025-06-30"], utc=True))
    entry = profile.date_entry("when", dates, "ISO8601")
    batch = pd.Series(pd.to_datetime(["2024-12-31", "2025-03-01", "2026-01-01", None], utc=True))
    assert profile._count_entry(entry, batch).tolist() == [1, 1, 1, 1]


def test_a_thousand_columns_cost_a_bounded_profile():
    rng = np.random.default_rng(0)
    rows = 2000
    numbers = pd.DataFrame(rng.normal(size=(rows, 1000)), columns=[f"n{i}" for i in range(1000)])
    words = rng.choice([f"category_{i}" for i in range(30)], size=(rows, 1000))
    categories = pd.DataFrame(words, columns=[f"c{i}" for i in range(1000)], dtype=object)
    for frame, role in ((numbers, "numeric"), (categories, "categorical")):
        roles = columns.Roles(**{role: tuple(frame.columns)})
        built = profile.build(frame, roles, task="regression", y=np.zeros(rows), classes=None,
                              test_output=np.zeros(rows), metrics={})  # fmt: skip
        size = len(built.dumps())
        # ~0.5 kB per number column, ~1.3 kB per category column of 30 values
        assert size < (600_000 if role == "numeric" else 1_500_000), (role, size)


def test_a_profile_reads_back_as_written():
    built, _ = _profiled(drift_tables.table(500, 0))
    assert profile.read(built.dumps()) == built


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format=2), "format 2; this code reads 1"),
        (lambda d: d["columns"][0].update(edges="__import__('os')"), "edges is not a list"),
        (lambda d: d["columns"][0].update(edges=[3.0, 1.0, 2.0]), "do not fit together"),
        (lambda d: d["columns"][0].update(role="pickle"), "role 'pickle' is not one of"),
        (lambda d: d["columns"][2].update(top=[[1, 0.5]]), "category value 1 is not text"),
        (lambda d: d.pop("columns"), "'columns'"),
        (lambda d: d["columns"].append(dict(d["columns"][0])), "a column appears twice"),
    ],
)
def test_a_profile_that_this_code_did_not_write_is_refused(change, message):
    built, _ = _profiled(drift_tables.table(500, 0))
    data = json.loads(built.dumps())
    change(data)
    with pytest.raises(profile.ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        profile.read(json.dumps(data))
    with pytest.raises(profile.ProfileError, match="not JSON"):
        profile.read("{not json")

"""Leak screening: a planted leak is flagged, honest tables are not, and the screen is seeded."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from common import data, leakage
from common.columns import Roles
from tests.helpers.project import PROJECT_ROOT


def _screen(frame: pd.DataFrame, target: str, *, seed: int = 42, test_size: float = 0.2):
    table = data.prepare(frame, target=target, task="auto", source="test", name="test")
    split = data.split(table, test_size=test_size, seed=seed)
    return leakage.screen(split.X_train, split.y_train, task=table.task, roles=table.roles,
                          seed=seed)  # fmt: skip


def _people(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A labour table: ``works`` with honest features and hours worked, 0 for non-workers."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 65, n)
    schooling = rng.integers(8, 20, n)
    region = rng.choice(["north", "south", "east", "west"], n)
    works = rng.random(n) < 1 / (1 + np.exp(-(0.3 * (schooling - 12) + (region == "north"))))
    return pd.DataFrame(
        {
            "age": age,
            "schooling": schooling,
            "region": region,
            "hours_worked": np.where(works, rng.integers(5, 60, n), 0),
            "works": np.where(works, "yes", "no"),
        }
    )


def test_a_numeric_leak_is_flagged_and_honest_columns_are_not():
    screen = _screen(_people(), "works")
    assert screen.metric == "roc_auc"
    assert screen.suspects == ["hours_worked"]
    assert screen.scores["hours_worked"] == pytest.approx(1.0)
    assert max(screen.scores[c] for c in ("age", "schooling", "region")) < 0.8
    assert screen.tag() == "hours_worked"
    assert screen.line() == "suspected leak: hours_worked (alone: roc_auc 1.000)"


def test_a_categorical_leak_is_flagged_for_several_classes():
    rng = np.random.default_rng(1)
    n = 1500
    outcome = rng.choice(["employed", "unemployed", "inactive"], n)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 65, n),
            # Recorded with the outcome: one code per class, a few spellings each.
            "benefit_code": [f"{o[:3]}-{i % 3}" for i, o in enumerate(outcome)],
            "region": rng.choice(["north", "south"], n),
            "status": outcome,
        }
    )
    screen = _screen(frame, "status")
    assert screen.suspects == ["benefit_code"]
    assert screen.scores["benefit_code"] == pytest.approx(1.0)
    assert screen.scores["region"] < 0.6


def test_a_threshold_inside_a_numeric_column_is_a_leak():
    rng = np.random.default_rng(2)
    n = 3000
    income = rng.lognormal(10, 1, n)
    frame = pd.DataFrame({"income": income, "noise": rng.normal(size=n)})
    frame["taxed"] = income > np.quantile(income, 0.37)  # a cut between two quantile bins
    screen = _screen(frame, "taxed")
    assert screen.suspects == ["income"]
    assert screen.scores["income"] > 0.999


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_a_regression_leak_is_flagged(kind):
    rng = np.random.default_rng(3)
    n = 2000
    frame = pd.DataFrame({"age": rng.integers(18, 65, n), "region": rng.choice(list("abc"), n)})
    if kind == "numeric":  # the target in other units, heavy-tailed
        wage = rng.lognormal(3, 0.5, n)
        frame["monthly_pay"] = wage * 160 + rng.normal(0, 1, n)
    else:  # the pay grade that fixes the wage, up to cents
        grade = rng.integers(1, 16, n)
        frame["pay_band"] = [f"G{g:02d}" for g in grade]
        wage = 12.0 * 1.1**grade + rng.normal(0, 0.1, n)
    frame["hourly_wage"] = wage
    screen = _screen(frame, "hourly_wage")
    leak = "monthly_pay" if kind == "numeric" else "pay_band"
    assert screen.metric == "r2"
    assert screen.suspects == [leak]
    assert screen.scores[leak] > 0.98
    assert max(screen.scores["age"], screen.scores["region"]) < 0.05


def test_missing_exactly_when_the_outcome_is_known_is_a_leak():
    rng = np.random.default_rng(4)
    n = 2000
    churned = rng.random(n) < 0.3
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 60, n),
            "cancelled_on": np.where(churned, dates.strftime("%Y-%m-%d"), None),
            "churn": churned,
        }
    )
    screen = _screen(frame, "churn")
    assert screen.suspects == ["cancelled_on"]


def test_a_perfect_column_on_a_tiny_table_is_chance_not_a_leak():
    people = _people(n=120)  # ~40 rows of the rarer class in the training split
    screen = _screen(people, "works")
    assert screen.scores["hours_worked"] == pytest.approx(1.0)
    assert screen.suspects == []
    assert screen.tag() == ""
    assert screen.line() is None


BUILTIN = [f"builtin:{name}" for name in data.BUILTIN_DATASETS]
TABLES = [(str(PROJECT_ROOT / "data/churn_sample.csv"), "churn"),
          (str(PROJECT_ROOT / "data/renewals_sample.csv"), "renewed")]  # fmt: skip


@pytest.mark.parametrize(("source", "target"), [*((b, "") for b in BUILTIN), *TABLES])
@pytest.mark.parametrize("seed", [42, 0, 7])
def test_no_builtin_or_sample_table_is_flagged(source, target, seed):
    table = data.load(source, target=target)
    split = data.split(table, test_size=0.2, seed=seed)
    screen = leakage.screen(split.X_train, split.y_train, task=table.task, roles=table.roles,
                            seed=seed)  # fmt: skip
    assert set(screen.scores) == set(table.roles.used)
    assert screen.suspects == [], {k: round(v, 4) for k, v in screen.scores.items()}
    assert screen.tag() == ""


def test_iris_petals_stay_unflagged_whatever_the_seed():
    """The strongest honest single feature of the builtins (~0.98, up to 1.0 by chance on 120
    rows): never a suspect."""
    table = data.load("builtin:iris", target="")
    for seed in range(40):
        split = data.split(table, test_size=0.2, seed=seed)
        screen = leakage.screen(split.X_train, split.y_train, task=table.task,
                                roles=table.roles, seed=seed)  # fmt: skip
        assert screen.suspects == [], (seed, screen.scores)


def test_the_same_rows_and_seed_give_the_same_scores_and_another_seed_other_scores():
    frame = _people(n=3000)
    first, again = _screen(frame, "works", seed=5), _screen(frame, "works", seed=5)
    assert first == again
    other = _screen(frame, "works", seed=6)
    assert other.suspects == first.suspects
    assert other.scores["age"] != first.scores["age"]


def test_a_big_table_is_scored_on_a_bounded_sample(monkeypatch):
    monkeypatch.setattr(leakage, "MAX_ROWS", 500)
    screen = _screen(_people(n=3000), "works")
    assert screen.rows == 500
    assert screen.suspects == ["hours_worked"]


def test_annotate_marks_the_suspect_and_scores_every_used_column():
    screen = leakage.Screen(
        "roc_auc", {"hours": 0.99987, "age": 0.61}, {"hours": 0.998, "age": 0.55}, 800, 42
    )
    described = {
        "columns": [
            {"name": "id", "role": "dropped", "dtype": "int64", "reason": "identifier"},
            {"name": "hours", "role": "numeric", "dtype": "float64"},
            {"name": "age", "role": "numeric", "dtype": "int64"},
        ],
        "encoded_features": ["hours", "age"],
    }
    annotated = screen.annotate(described)
    entries = {c["name"]: c for c in annotated["columns"]}
    assert entries["hours"] == {"name": "hours", "role": "numeric", "dtype": "float64",
                                "alone_score": 0.9999, "suspected_leak": True}  # fmt: skip
    assert entries["age"] == {"name": "age", "role": "numeric", "dtype": "int64",
                              "alone_score": 0.61}  # fmt: skip
    assert "alone_score" not in entries["id"]
    assert annotated["encoded_features"] == ["hours", "age"]
    assert annotated["leak_screen"]["metric"] == "roc_auc"
    assert annotated["leak_screen"]["rows"] == 800
    assert described["columns"][1] == {"name": "hours", "role": "numeric", "dtype": "float64"}


def test_several_suspects_strongest_first_and_the_tag_stays_bounded(monkeypatch):
    screen = leakage.Screen("r2", {"a": 0.985, "b": 0.999, "c": 0.2}, {"a": 0.982, "b": 0.998})
    assert screen.suspects == ["b", "a"]
    assert screen.tag() == "b,a"
    assert screen.line() == "suspected leaks: b (alone: r2 0.999), a (alone: r2 0.985)"
    monkeypatch.setattr(leakage, "TAG_CHARS", 2)
    assert screen.tag() == "b"


def test_too_few_rows_are_not_scored():
    rng = np.random.default_rng(5)
    x = rng.normal(size=40)
    screen = leakage.screen(pd.DataFrame({"x": x}), (x > 0).astype("int64"), task="classification",
                            roles=Roles(numeric=("x",)), seed=1)  # fmt: skip
    assert screen.scores == {}
    assert screen.suspects == []


def test_dates_beyond_2262_are_scored():
    rng = np.random.default_rng(6)
    n = 400
    ends = np.where(rng.random(n) < 0.5, "9999-12-31", "2300-06-01")  # "never", far off
    frame = pd.DataFrame({"x": rng.normal(size=n), "contract_end": ends})
    frame["open_ended"] = ends == "9999-12-31"
    screen = _screen(frame, "open_ended")
    assert screen.suspects == ["contract_end"]


def test_values_near_the_float_limit_score_without_overflow():
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "huge": rng.choice([1e308, -1e308, 0.0, 1.0], n) * rng.random(n),
            "y": rng.normal(size=n) * 1e300,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warning on the way
        screen = _screen(frame, "y")
    assert np.isfinite(screen.scores["huge"])
    assert screen.suspects == []

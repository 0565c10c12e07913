"""Column roles: what the rules decide on a realistic table, and what users can override."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common import columns, data
from common.errors import UserInputError


def _orders(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "order_id": np.arange(1000, 1000 + n),  # consecutive whole numbers
            "customer key": [f"K{i:05d}" for i in rng.permutation(n)],  # distinct text
            "placed": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "gift": rng.choice(["yes", "no"], n),
            "express": rng.random(n) < 0.3,
            "amount": rng.gamma(2.0, 10.0, n),
            "items": rng.integers(1, 6, n),  # whole numbers, repeated: a count, not an id
            "channel": rng.choice(["web", "app", "store"], n),
            "note": [
                f"free-text note {i % 7} written by a customer service agent, long"
                for i in range(n)
            ],
            "currency": "EUR",
            "coupon": None,
            "returned": rng.choice(["y", "n"], n),
        }
    )


def test_every_column_gets_a_role_with_the_reason_for_each_drop():
    roles = columns.decide(_orders().drop(columns=["returned"]))
    assert roles.numeric == ("amount", "items")
    assert roles.categorical == ("channel",)
    assert roles.boolean == ("gift", "express")
    assert roles.datetime == ("placed",)
    assert {k: v.split(":")[0] for k, v in roles.dropped.items()} == {
        "order_id": "identifier",
        "customer key": "identifier",
        "note": "free text",
        "currency": "constant",
        "coupon": "empty",
    }


def test_overrides_win_and_are_recorded():
    frame = _orders().drop(columns=["returned"])
    roles = columns.decide(
        frame, {"drop": ("amount",), "categorical": ("items", "note"), "numeric": ("order_id",)}
    )
    assert "amount" in roles.dropped
    assert roles.dropped["amount"] == "drop= names it"
    assert roles.categorical == ("items", "channel", "note")
    assert roles.numeric == ("order_id",)
    described = columns.describe(roles, frame, encoded=[])
    entry = {c["name"]: c for c in described["columns"]}
    assert entry["items"] == {
        "name": "items", "role": "categorical", "dtype": "int64", "reason": "categorical= names it"
    }  # fmt: skip
    assert entry["coupon"]["role"] == "dropped"
    assert entry["coupon"]["reason"].startswith("empty")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"drop": ("nope",)}, "drop= names column 'nope', which is not a feature column"),
        ({"drop": ("amount",), "numeric": ("amount",)}, "named by both drop= and numeric="),
        ({"numeric": ("channel",)}, "numeric= names column 'channel', but it holds text"),
        ({"datetime": ("channel",)}, "datetime column 'channel' has value.* such as 'web'"),
    ],
    ids=["unknown-column", "twice", "text-as-number", "unparseable-date"],
)
def test_bad_overrides_are_refused_naming_the_column(overrides, message):
    with pytest.raises(UserInputError, match=message):
        columns.decide(_orders(), overrides)


def test_a_table_whose_every_feature_is_dropped_is_refused():
    frame = _orders()[["order_id", "currency", "returned"]]
    with pytest.raises(UserInputError, match=r"every feature column was dropped \(order_id: "):
        data.prepare(frame, target="returned", task="auto", source="s", name="n")


def test_a_date_column_that_does_not_parse_is_refused_when_named():
    frame = _orders().assign(placed=lambda f: f["placed"].where(f.index != 7, "31/31/2024"))
    with pytest.raises(UserInputError, match=r"column 'placed' holds dates, but '31/31/2024'"):
        columns.decide(frame.drop(columns=["returned"]))
    with pytest.raises(UserInputError, match=r"'31/31/2024' \(row 7\)"):
        data.prepare(
            frame, target="returned", task="auto", source="s", name="n",
            overrides={"datetime": ("placed",)},
        )  # fmt: skip


def test_the_model_reads_only_used_columns_and_its_rows_keep_their_raw_values():
    table = data.prepare(_orders(), target="returned", task="auto", source="s", name="n")
    assert list(table.features.columns) == table.roles.used
    raw = table.raw_rows(table.features.index[:3])
    assert set(raw.columns) == set(table.roles.used)
    assert raw["placed"].tolist() == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert table.features["gift"].isin([0.0, 1.0]).all()


def test_yes_no_in_any_case_and_spacing_is_boolean():
    frame = pd.DataFrame({"b": ["yes", "no", "Yes ", " NO"] * 10, "x": range(40)})
    assert columns.decide(frame).boolean == ("b",)


@pytest.mark.parametrize(
    ("column", "flag", "message"),
    [
        (list(range(50)), "datetime", "datetime= names column 'c', which holds numbers"),
        ([None] * 50, "categorical", "categorical= names column 'c', but every value in it is"),
    ],
    ids=["epoch-numbers-as-dates", "empty-column-forced-in"],
)
def test_an_override_the_column_cannot_take_is_one_line(column, flag, message):
    frame = pd.DataFrame({"c": column, "x": np.arange(50) % 7})
    with pytest.raises(UserInputError, match=message):
        columns.decide(frame, {flag: ("c",)})

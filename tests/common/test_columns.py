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


# Dates in text: one form per column, one explicit format, day/month order from the values.

DAYS = pd.Series(pd.date_range("2021-01-01", periods=400, freq="D"))  # days above 12 in it


def _dated(values) -> pd.DataFrame:
    values = pd.Series(values).reset_index(drop=True)
    return pd.DataFrame({"when": values, "x": np.arange(len(values)) % 7})


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("%Y-%m-%d", "ISO8601"),
        ("%Y-%m-%dT%H:%M:%S", "ISO8601"),
        ("%Y/%m/%d", "%Y/%m/%d"),
        ("%d.%m.%Y", "%d.%m.%Y"),
        ("%d/%m/%Y", "%d/%m/%Y"),
        ("%m/%d/%Y", "%m/%d/%Y"),
        ("%d-%m-%Y", "%d-%m-%Y"),
        ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M"),
        ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M:%S"),
        ("%-d %b %Y", "%d %b %Y"),
        ("%-d %B %Y", "%d %B %Y"),
        ("%b %-d, %Y", "%b %d, %Y"),
        ("%B %-d, %Y", "%B %d, %Y"),
    ],
)
def test_each_date_form_is_a_datetime_with_its_one_format_recorded(written, expected):
    moments = DAYS + pd.to_timedelta(np.arange(len(DAYS)) % 24, unit="h")
    frame = _dated(moments.dt.strftime(written))
    roles = columns.decide(frame)
    assert roles.datetime == ("when",)
    assert roles.formats == {"when": expected}
    entry = columns.describe(roles, frame, encoded=[])["columns"][0]
    assert entry == {"name": "when", "role": "datetime", "dtype": "str", "format": expected}
    # Training reads every value in that format: the days come back as they were written.
    read = columns.parse_dates(frame["when"], expected)
    assert read.dt.date.tolist() == moments.dt.date.tolist()


def test_day_and_month_order_is_decided_by_the_values():
    def first_read(values: list[str]) -> tuple[str, pd.Timestamp]:
        frame = _dated(values * 5)
        date_format = columns.decide(frame).formats["when"]
        return date_format, columns.parse_dates(frame["when"], date_format).iloc[0]

    # One day above 12 in the first field: day first, for every value of the column.
    assert first_read(["05/07/2021", "29/12/2021", "01/02/2021"]) == (
        "%d/%m/%Y", pd.Timestamp("2021-07-05", tz="UTC"),
    )  # fmt: skip
    # One above 12 in the second field: month first.
    assert first_read(["05/07/2021", "12/29/2021", "01/02/2021"]) == (
        "%m/%d/%Y", pd.Timestamp("2021-05-07", tz="UTC"),
    )  # fmt: skip
    # Dots are day first (DD.MM.YYYY): 05.07.2021 is the 5th of July, never the 7th of May.
    assert first_read(["05.07.2021", "29.12.2021", "01.02.2021"]) == (
        "%d.%m.%Y", pd.Timestamp("2021-07-05", tz="UTC"),
    )  # fmt: skip


def _refusal(frame: pd.DataFrame, overrides=None) -> str:
    with pytest.raises(UserInputError) as refused:
        columns.decide(frame, overrides)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_a_column_whose_day_and_month_order_cannot_be_told_is_refused_asking_for_the_format():
    ambiguous = DAYS[DAYS.dt.day <= 12].dt.strftime("%d/%m/%Y")
    message = _refusal(_dated(ambiguous))
    assert message == (
        "column 'when' holds dates such as '01/01/2021' whose day/month order cannot be told "
        "(no value has a day above 12); name its format: -P datetime=when:%d/%m/%Y (day first) "
        "or -P datetime=when:%m/%d/%Y (month first)"
    )
    # Named without a format it is the same question.
    assert _refusal(_dated(ambiguous), {"datetime": ("when",)}) == message


@pytest.mark.parametrize(
    ("first", "second", "named"),
    [
        ("%Y-%m-%d", "%d/%m/%Y", ("'2021-01-01' (ISO 8601)", "(DD/MM/YYYY or MM/DD/YYYY)")),
        ("%d/%m/%Y", "%m/%d/%Y", ("'13/01/2021' (%d/%m/%Y)", "(%m/%d/%Y)")),
        ("%d.%m.%Y", "%-d %b %Y", ("'01.01.2021' (DD.MM.YYYY)", "(D Mon YYYY)")),
        ("%-d %b %Y", "%-d %B %Y", ("'1 Jan 2021' (%d %b %Y)", "(%d %B %Y)")),
    ],
    ids=["iso-and-slashes", "day-first-and-month-first", "dots-and-month-names", "mon-and-month"],
)
def test_a_column_mixing_two_forms_is_refused_naming_a_value_of_each(first, second, named):
    half = len(DAYS) // 2
    values = pd.concat([DAYS[:half].dt.strftime(first), DAYS[half:].dt.strftime(second)])
    message = _refusal(_dated(values))
    assert message.startswith("column 'when' mixes two date forms, such as ")
    assert all(part in message for part in named), message
    assert "-P datetime=when:<format> (values in other forms become missing)" in message


def test_a_value_in_no_form_is_refused_naming_it_and_the_format_that_would_skip_it():
    values = DAYS.dt.strftime("%d.%m.%Y").where(DAYS.index != 50, "32.01.2021")
    message = _refusal(_dated(values))
    assert message.startswith("column 'when' holds dates, but '32.01.2021' (row 50) is not one")
    assert "-P datetime=when:%d.%m.%Y (values not in it become missing)" in message


def test_text_that_is_not_mostly_dates_stays_categorical_or_an_identifier():
    half = pd.Series([f"2021/01/{i % 28 + 1:02d}" if i % 2 else "unknown" for i in range(400)])
    labels = pd.Series([f"order {i} of 2021/01/01" for i in range(400)])
    frame = pd.DataFrame({"half": half, "labels": labels, "x": np.arange(400) % 7})
    roles = columns.decide(frame)
    assert roles.categorical == ("half",)
    assert roles.dropped["labels"].startswith("identifier")
    assert roles.formats == {}


def test_datetime_names_a_column_with_its_format_after_a_colon():
    ambiguous = DAYS[DAYS.dt.day <= 12].dt.strftime("%m/%d/%Y").reset_index(drop=True)
    frame = _dated(ambiguous.where(ambiguous.index != 3, "2021-03-01"))
    roles = columns.decide(frame, {"datetime": columns.parse_names(" when:%m/%d/%Y ")})
    assert roles.datetime == ("when",)
    assert roles.formats == {"when": "%m/%d/%Y"}
    entry = columns.describe(roles, frame, encoded=[])["columns"][0]
    assert entry["reason"] == "datetime= names it"
    assert entry["format"] == "%m/%d/%Y"
    read = columns.parse_dates(frame["when"], "%m/%d/%Y")
    assert read.iloc[1] == pd.Timestamp("2021-01-02", tz="UTC")  # 01/02: the 2nd of January
    assert pd.isna(read.iloc[3])  # in another form: missing (imputed), not read another way
    # Through data.prepare, a format with a comma in it, among other entries of the flag.
    table = data.prepare(
        frame.assign(y=np.arange(len(frame)) % 2, spelled=ambiguous.map(
            lambda v: pd.Timestamp(v).strftime("%b %d, %Y"))),
        target="y", task="classification", source="s", name="n",
        overrides={"datetime": columns.parse_names("when:%m/%d/%Y, spelled:%b %d, %Y")},
    )  # fmt: skip
    assert table.roles.formats == {"when": "%m/%d/%Y", "spelled": "%b %d, %Y"}
    assert str(table.features["spelled"].dtype) == "datetime64[us, UTC]"
    with pytest.raises(UserInputError, match="datetime= names the target column 'x'"):
        data.prepare(frame, target="x", task="classification", source="s", name="n",
                     overrides={"datetime": ("x:%d/%m/%Y",)})  # fmt: skip


def test_parse_names_keeps_a_comma_inside_a_format_and_colons_in_names():
    assert columns.parse_names("a:%b %d, %Y, b,c:%d.%m.%Y %H:%M") == (
        "a:%b %d, %Y", "b", "c:%d.%m.%Y %H:%M",
    )  # fmt: skip
    assert columns.parse_names("a, b") == ("a", "b")
    assert columns.split_format("time:utc", ["time:utc"]) == ("time:utc", None)
    assert columns.split_format("at:%H:%M", ["at"]) == ("at", "%H:%M")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "when:%Y",
            "datetime=when:%Y reads none of the values of column 'when', such as '01/01/2021'",
        ),
        ("when:%Q", "datetime=when:%Q: 'Q' is a bad directive in format '%Q'"),
        ("when:day first", "datetime=when:day first: 'day first' is not a date format"),
        ("wehn:%d/%m/%Y", "datetime= names column 'wehn:%d/%m/%Y', which is not a feature"),
    ],
    ids=["reads-nothing", "bad-directive", "not-a-format", "unknown-column"],
)
def test_a_format_that_cannot_read_the_column_is_refused_in_one_line(entry, message):
    ambiguous = DAYS[DAYS.dt.day <= 12].dt.strftime("%d/%m/%Y")
    assert message in _refusal(_dated(ambiguous), {"datetime": (entry,)})


def test_an_escaped_comma_is_part_of_a_column_name():
    assert columns.parse_names("city\\,state, b") == ("city,state", "b")
    assert columns.parse_names(columns.as_override("a,b,c")) == ("a,b,c",)
    assert columns.parse_names("when:%b %d, %Y, x\\,y:%d.%m.%Y") == (
        "when:%b %d, %Y",
        "x,y:%d.%m.%Y",
    )
    frame = pd.DataFrame({"a,b": ["u", "v"] * 10, "x": [0.5, 1.5] * 10})
    assert columns.decide(frame, {"drop": columns.parse_names("a\\,b")}).dropped == {
        "a,b": "drop= names it"
    }

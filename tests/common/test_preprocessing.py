from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common import columns, preprocessing
from common.columns import Roles, parse_dates
from common.preprocessing import (
    DATE_PARTS,
    MAX_CATEGORIES,
    build_preprocessor,
    feature_names,
    normalize_features,
    raw_columns,
    split_columns,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_columns_are_split_by_kind_with_booleans_categorical():
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"], "d": [True, False]})
    assert split_columns(frame) == (["a", "b"], ["c", "d"])


def test_preprocessor_imputes_scales_and_ignores_unseen_categories():
    train = pd.DataFrame({"n": [1.0, 2.0, np.nan, 4.0] * 5, "c": ["x", "y", None, "x"] * 5})
    roles = Roles(numeric=("n",), categorical=("c",))
    pre = build_preprocessor(roles)
    encoded = pre.fit_transform(normalize_features(train, roles))
    assert not np.isnan(encoded).any()
    assert feature_names(pre) == ["n", "c___missing__", "c_x", "c_y"]
    unseen = normalize_features(pd.DataFrame({"n": [np.nan], "c": ["zebra"]}), roles)
    row = pre.transform(unseen)[0]
    assert row[1:].tolist() == [0.0, 0.0, 0.0]  # unknown category: all one-hot columns off
    median = normalize_features(pd.DataFrame({"n": [2.0], "c": ["x"]}), roles)
    assert row[0] == pre.transform(median)[0][0]  # a missing number is imputed with the median


def test_normalize_features_gives_float_and_object_columns_keeping_missing_values():
    frame = pd.DataFrame({"n": [1, 2], "c": pd.Series(["x", None], dtype="string")})
    out = normalize_features(frame, Roles(numeric=("n",), categorical=("c",)))
    assert out["n"].dtype == "float64"
    assert out["c"].dtype == object
    assert out["c"].tolist()[0] == "x"
    assert pd.isna(out["c"].tolist()[1])


def test_a_high_cardinality_column_is_capped_and_rare_values_grouped():
    rng = np.random.default_rng(0)
    # 50,000 distinct values, a few of them common.
    values = np.where(rng.random(60_000) < 0.5, rng.choice(["a", "b", "c"], 60_000), "")
    values = [v or f"rare{i}" for i, v in enumerate(values)]
    roles = Roles(categorical=("city",))
    train = normalize_features(pd.DataFrame({"city": values}), roles)
    pre = build_preprocessor(roles).fit(train)
    names = feature_names(pre)
    assert len(names) <= MAX_CATEGORIES
    assert names == ["city_a", "city_b", "city_c", "city_infrequent_sklearn"]
    unseen = pre.transform(normalize_features(pd.DataFrame({"city": ["nowhere"]}), roles))
    assert unseen.tolist() == [[0.0, 0.0, 0.0, 1.0]]  # an unseen city counts as a rare one


ISO = {"when": "ISO8601"}


def test_dates_become_numbers_inside_the_preprocessor_and_serve_from_strings():
    dates = pd.Series(["2024-01-15", "2024-03-01T12:00:00", None, "2023-12-31"] * 3)
    roles = Roles(datetime=("when",), boolean=("flag",), formats=ISO)
    served = Roles(datetime=("when",), boolean=("flag",))  # as a served model's config gives them
    flags = pd.Series(["yes", "no", "yes", None] * 3)
    train = normalize_features(pd.DataFrame({"when": dates, "flag": flags}), roles)
    assert str(train["when"].dtype) == "datetime64[us, UTC]"
    pre = build_preprocessor(roles).fit(train)
    assert feature_names(pre) == [
        "flag", "when_year", "when_month", "when_day", "when_weekday", "when_dayofyear",
        "when_days",
    ]  # fmt: skip
    parts = pre.named_transformers_["datetime"].named_steps["parts"]
    assert parts.formats == ISO
    day = normalize_features(pd.DataFrame({"when": ["2024-03-01"]}), Roles(datetime=("when",)))
    assert day["when"].tolist() == ["2024-03-01"]  # left as sent: DateParts reads it
    raw = parts.transform(day)
    assert raw[0, :5].tolist() == [2024, 3, 1, 4, 61]  # a Friday, day 61 of a leap year
    assert raw[0, 5] == (pd.Timestamp("2024-03-01") - pd.Timestamp(0)).days
    # A missing date and one in another form both encode: imputed alike, the other form never
    # guessed (03/01/2024 could be the 1st of March or the 3rd of January).
    other = normalize_features(pd.DataFrame({"when": ["03/01/2024", None], "flag": [1, 0]}), served)
    encoded = pre.transform(other)
    assert not np.isnan(encoded).any()
    assert encoded[0, 1:].tolist() == encoded[1, 1:].tolist()
    same = pre.transform(
        normalize_features(pd.DataFrame({"when": ["2024-03-01"], "flag": [1]}), served)
    )
    assert encoded[0].tolist() != same[0].tolist()


@pytest.mark.parametrize(
    ("formats", "far", "unreadable"),
    [
        (ISO, ["1700-01-01", "2300-06-01", "9999-12-31"], ["0001-01-01", "10000-01-01"]),
        ({"when": "%d/%m/%Y"}, ["01/01/1700", "01/06/2300", "31/12/9999"], ["1/1/1", "1/1/10000"]),
        (None, ["1700-01-01", "2300-06-01", "9999-12-31"], ["0001-01-01", "10000-01-01"]),
    ],
    ids=["iso", "day-first", "before-formats"],
)
def test_dates_far_from_today_train_and_serve(formats, far, unreadable):
    roles = Roles(datetime=("when",), formats=formats or {})
    train = normalize_features(pd.DataFrame({"when": [*far, None, far[0]] * 4}), roles)
    pre = build_preprocessor(roles).fit(train)
    assert not np.isnan(pre.transform(train)).any()
    served = normalize_features(pd.DataFrame({"when": unreadable}), Roles(datetime=("when",)))
    assert not np.isnan(pre.transform(served)).any()  # the unreadable one is imputed


def test_serving_reads_each_date_in_the_format_training_decided(tmp_path):
    from skops import io as skops_io

    from common.pyfunc import PREPROCESSOR_TRUSTED_TYPES, save_preprocessor

    days = pd.Series(pd.date_range("2021-01-01", periods=120, freq="D"))
    frame = pd.DataFrame({"when": days.dt.strftime("%d/%m/%Y"), "x": np.arange(120) % 7})
    roles = columns.decide(frame)
    assert roles.formats == {"when": "%d/%m/%Y"}  # 13/01/2021 and on: day first
    pre = build_preprocessor(roles).fit(normalize_features(frame, roles))
    save_preprocessor(pre, tmp_path / "preprocessor.skops")  # no type beyond the allowlist
    loaded = skops_io.load(tmp_path / "preprocessor.skops", trusted=PREPROCESSOR_TRUSTED_TYPES)
    parts = loaded.named_transformers_["datetime"].named_steps["parts"]
    assert parts.formats == {"when": "%d/%m/%Y"}
    rows = pd.DataFrame({"when": ["05/07/2021", " 07/05/2021 ", "2021-07-05", "Jul 5, 2021", None]})
    served = normalize_features(rows.assign(x=1), Roles(numeric=("x",), datetime=("when",)))
    year_month_day = parts.transform(served[["when"]])[:, :3]
    assert year_month_day[0].tolist() == [2021, 7, 5]  # the 5th of July, not the 7th of May
    assert year_month_day[1].tolist() == [2021, 5, 7]  # the same format for every value
    assert np.isnan(year_month_day[2:]).all()  # other forms are missing, as a missing value is
    encoded = loaded.transform(served)
    assert not np.isnan(encoded).any()
    assert encoded[2].tolist() == encoded[4].tolist() == encoded[3].tolist()
    np.testing.assert_array_equal(encoded, pre.transform(served))


def test_a_date_parts_saved_before_formats_reads_text_as_it_did(tmp_path):
    """The 64e9074 model's preprocessor (signup_date, ISO): its DateParts has no formats."""
    from skops import io as skops_io

    from common.pyfunc import PREPROCESSOR_TRUSTED_TYPES

    member = "model/artifacts/preprocessor.skops"
    with tarfile.open(FIXTURES / "model_logged_at_64e9074.tar.gz") as archive:
        archive.extract(member, tmp_path, filter="data")
    pre = skops_io.load(tmp_path / member, trusted=PREPROCESSOR_TRUSTED_TYPES)
    parts = pre.named_transformers_["datetime"].named_steps["parts"]
    assert vars(parts)["formats"] is None  # filled in on loading: it was saved without one
    assert repr(parts) == "DateParts()"
    rows = pd.DataFrame({"signup_date": ["2021-07-07", "03/01/2024", "1 Mar 2024", None]})
    # As served now (the raw text reaches it) and as then (parsed before it): the same numbers,
    # other spellings guessed one by one as that model always did.
    now = parts.transform(rows)
    then = parts.transform(pd.DataFrame({"signup_date": parse_dates(rows["signup_date"])}))
    np.testing.assert_array_equal(now, then)
    assert now[:3, :3].tolist() == [[2021, 7, 7], [2024, 3, 1], [2024, 3, 1]]
    assert np.isnan(now[3]).all()


def test_each_encoded_feature_maps_back_to_its_input_column():
    frame = pd.DataFrame({
        "spend": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "plan": ["a", "a", "b", "b", "c", "d"],
        "member": ["yes", "no", "yes", "no", "yes", "no"],
        "when": ["2024-01-0" + str(i) for i in range(1, 7)],
    })  # fmt: skip
    roles = columns.decide(frame)
    preprocessor = build_preprocessor(roles).fit(normalize_features(frame, roles))
    owners = raw_columns(preprocessor)
    assert len(owners) == len(feature_names(preprocessor))
    assert owners.count("when") == len(DATE_PARTS)
    assert owners.count("spend") == owners.count("member") == 1
    assert owners.count("plan") >= 1


def test_the_encoded_matrix_is_float32_computed_in_float64():
    """Every part is computed in float64 and handed over as float32, the precision the models
    train in: the same values a float64 matrix gives once cast, in half the memory."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(1e6, 3.0, 500),  # large mean: scaling in float32 would differ
            "plan": rng.choice(["a", "b", None], 500),
            "member": rng.choice([True, False], 500),
        }
    )
    roles = Roles(numeric=("amount",), categorical=("plan",), boolean=("member",), datetime=())
    features = normalize_features(frame, roles)
    encoded = build_preprocessor(roles).fit(features).transform(features)
    assert encoded.dtype == np.float32
    scaled = (frame["amount"] - frame["amount"].mean()) / frame["amount"].std(ddof=0)
    np.testing.assert_array_equal(encoded[:, 0], scaled.to_numpy().astype(np.float32))
    assert set(np.unique(encoded[:, 1:])) <= {0.0, 1.0}


def test_text_categories_share_one_string_per_value_and_read_as_before():
    """A million-row text column holds one string object per distinct value; the values are
    what ``astype(str)`` gives, NaN where missing, for every kind of categorical column."""
    column = pd.Series(["north", None, "south", "north", "é"] * 2000, dtype="str")
    roles = Roles(numeric=(), categorical=("c",), boolean=(), datetime=())
    out = normalize_features(pd.DataFrame({"c": column}), roles)["c"]
    assert out.dtype == object
    assert len({id(v) for v in out if isinstance(v, str)}) == 3
    expected = column.astype(str).astype(object).where(column.notna(), np.nan)
    pd.testing.assert_series_equal(out, expected, check_names=False)
    for mixed in (
        pd.Series(["a", 1, True, None, 2.5], dtype=object),  # True and 1 stay apart
        pd.Series([0.0, -0.0, np.nan]),  # so do 0.0 and -0.0
        pd.Series(["x", None], dtype="category"),
    ):
        got = normalize_features(pd.DataFrame({"c": mixed}), roles)["c"]
        want = mixed.astype(str).astype(object).where(mixed.notna(), np.nan)
        pd.testing.assert_series_equal(got, want, check_names=False)


def test_encoding_block_by_block_gives_the_whole_transform(monkeypatch):
    """``encode`` in blocks (4 rows here, 300,000 rows' worth of blocks in real runs) is the
    transform of the whole frame, value for value."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(size=30),
            "plan": rng.choice(["a", "b", None], 30),
            "day": pd.date_range("2024-01-01", periods=30).strftime("%Y-%m-%d"),
        }
    )
    roles = columns.decide(frame, {})
    features = normalize_features(frame, roles)
    fitted = build_preprocessor(roles).fit(features)
    monkeypatch.setattr(preprocessing, "ENCODE_ROWS", 4)
    blocks = preprocessing.encode(fitted, features)
    np.testing.assert_array_equal(blocks, fitted.transform(features))
    assert blocks.dtype == np.float32


def test_the_native_preprocessor_keeps_gaps_and_gives_one_code_column_per_category():
    """NATIVE (XGBoost's): numbers as they are, NaN kept; each categorical column one feature
    of codes over the values one-hot keeps (the rare group last), missing and unknown NaN."""
    rng = np.random.default_rng(11)
    plan = rng.choice(["a", "b", "c"], 200).astype(object)
    plan[:3] = ["rare1", "rare2", None]
    frame = pd.DataFrame({
        "spend": np.where(rng.random(200) < 0.1, np.nan, rng.normal(50, 10, 200)),
        "plan": plan,
        "member": rng.choice(["yes", "no", None], 200),
        "when": pd.date_range("2024-01-01", periods=200).strftime("%Y-%m-%d"),
    })  # fmt: skip
    roles = columns.decide(frame, {})
    features = normalize_features(frame, roles)
    native = build_preprocessor(roles, preprocessing.NATIVE).fit(features)
    standard = build_preprocessor(roles).fit(features)
    encoded = native.transform(features)
    assert encoded.dtype == np.float32
    names = feature_names(native)
    assert names[:3] == ["spend", "plan", "member"]
    assert len(names) == 3 + len(DATE_PARTS)
    assert preprocessing.feature_types(native) == ["q", "c"] + ["q"] * (1 + len(DATE_PARTS))
    assert raw_columns(native) == ["spend", "plan", "member"] + ["when"] * len(DATE_PARTS)
    np.testing.assert_array_equal(encoded[:, 0], frame["spend"].to_numpy(np.float32))  # gaps kept
    codes = encoded[:, 1]
    kept = [n.removeprefix("plan_") for n in feature_names(standard) if n.startswith("plan_")]
    assert kept == ["a", "b", "c", "infrequent_sklearn"]  # what one-hot keeps ...
    assert set(codes[3:]) == {0.0, 1.0, 2.0}
    assert codes[:2].tolist() == [3.0, 3.0]
    assert np.isnan(codes[2])  # a missing category
    assert np.isnan(encoded[features["member"].isna().to_numpy(), 2]).all()
    unseen = frame.iloc[:1].assign(plan="zebra")
    assert np.isnan(native.transform(normalize_features(unseen, roles))[0, 1])
    with pytest.raises(ValueError, match="kind='other'"):
        build_preprocessor(roles, "other")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("max_categories", "min_frequency"), [(50, 5), (2, 1), (4, 30), (1, 5)])
def test_category_codes_are_ordinal_encoders_codes(seed, max_categories, min_frequency):
    """CategoryCodes gives exactly what OrdinalEncoder did in its place (models of the same seed
    stay the same): cardinalities around max_categories (and exactly it), counts with ties,
    missing values in training, unseen and missing values served, a column with no value."""
    from sklearn.preprocessing import OrdinalEncoder

    rng = np.random.default_rng(seed)
    n = 3000

    def column(levels: int, gaps: float) -> np.ndarray:
        weights = rng.choice([1.0, 1.0, 3.0, 0.01], levels)  # ties, and levels seen a few times
        values = rng.choice([f"v{i:03d}" for i in range(levels)], n, p=weights / weights.sum())
        values = values.astype(object)
        values[rng.random(n) < gaps] = np.nan if rng.random() < 0.5 else None
        return values

    train = pd.DataFrame({
        f"c{levels}": column(levels, gaps)
        for levels, gaps in [(1, 0.0), (3, 0.1), (49, 0.0), (50, 0.2), (51, 0.05), (300, 0.3)]
    })  # fmt: skip
    train["empty"] = np.full(n, np.nan, dtype=object)
    # As many frequent values as max_categories: one of them joins the rare group it makes.
    train["exact"] = rng.permutation(np.resize([f"e{i}" for i in range(max_categories)], n))
    served = train.sample(500, random_state=seed).reset_index(drop=True)
    served.iloc[::7, :] = "never seen"
    served.iloc[3::11, :] = np.nan
    ordinal = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan,
        dtype="float32", max_categories=max_categories, min_frequency=min_frequency,
    ).fit(train)  # fmt: skip
    codes = preprocessing.CategoryCodes(max_categories, min_frequency).fit(train)
    for frame in (train, served):
        expected = ordinal.transform(frame)
        np.testing.assert_array_equal(codes.transform(frame), expected)
    assert codes.get_feature_names_out().tolist() == list(train.columns)


def test_a_standard_preprocessor_has_only_numbers():
    roles = Roles(numeric=("n",), categorical=("c",))
    frame = normalize_features(pd.DataFrame({"n": [1.0, 2.0] * 5, "c": ["x", "y"] * 5}), roles)
    fitted = build_preprocessor(roles).fit(frame)
    assert feature_names(fitted) == ["n", "c_x", "c_y"]
    assert preprocessing.feature_types(fitted) == ["q"] * 3

from __future__ import annotations

import numpy as np
import pandas as pd

from common.columns import Roles
from common.preprocessing import (
    MAX_CATEGORIES,
    build_preprocessor,
    feature_names,
    normalize_features,
    split_columns,
)


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


def test_dates_become_numbers_inside_the_preprocessor_and_serve_from_strings():
    dates = pd.Series(["2024-01-15", "2024-03-01T12:00:00", None, "2023-12-31"] * 3)
    roles = Roles(datetime=("when",), boolean=("flag",))
    flags = pd.Series(["yes", "no", "yes", None] * 3)
    train = normalize_features(pd.DataFrame({"when": dates, "flag": flags}), roles)
    pre = build_preprocessor(roles).fit(train)
    assert feature_names(pre) == [
        "flag", "when_year", "when_month", "when_day", "when_weekday", "when_dayofyear",
        "when_days",
    ]  # fmt: skip
    parts = pre.named_transformers_["datetime"].named_steps["parts"]
    day = normalize_features(pd.DataFrame({"when": ["2024-03-01"]}), Roles(datetime=("when",)))
    raw = parts.transform(day)
    assert raw[0, :5].tolist() == [2024, 3, 1, 4, 61]  # a Friday, day 61 of a leap year
    assert raw[0, 5] == (pd.Timestamp("2024-03-01") - pd.Timestamp(0)).days
    # Another spelling of the same day and a missing one both encode without error.
    other = normalize_features(pd.DataFrame({"when": ["03/01/2024", None], "flag": [1, 0]}), roles)
    encoded = pre.transform(other)
    assert not np.isnan(encoded).any()
    same = pre.transform(
        normalize_features(pd.DataFrame({"when": ["2024-03-01"], "flag": [1]}), roles)
    )
    assert encoded[0].tolist() == same[0].tolist()


def test_dates_far_from_today_train_and_serve():
    roles = Roles(datetime=("when",))
    far = ["1700-01-01", "2300-06-01", "9999-12-31", None, "2020-01-01"] * 4
    train = normalize_features(pd.DataFrame({"when": far}), roles)
    pre = build_preprocessor(roles).fit(train)
    assert not np.isnan(pre.transform(train)).any()
    served = normalize_features(pd.DataFrame({"when": ["0001-01-01", "10000-01-01"]}), roles)
    assert not np.isnan(pre.transform(served)).any()  # the unreadable one is imputed

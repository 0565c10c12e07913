from __future__ import annotations

import numpy as np
import pandas as pd

from common.preprocessing import build_preprocessor, normalize_features, split_columns


def test_columns_are_split_by_kind_with_booleans_categorical():
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"], "d": [True, False]})
    assert split_columns(frame) == (["a", "b"], ["c", "d"])


def test_preprocessor_imputes_scales_and_ignores_unseen_categories():
    train = pd.DataFrame({"n": [1.0, 2.0, np.nan, 4.0], "c": ["x", "y", None, "x"]})
    numeric, categorical = split_columns(train)
    pre = build_preprocessor(numeric, categorical)
    encoded = pre.fit_transform(normalize_features(train, numeric, categorical))
    assert not np.isnan(encoded).any()
    assert list(pre.get_feature_names_out()) == [
        "numeric__n",
        "categorical__c___missing__",
        "categorical__c_x",
        "categorical__c_y",
    ]
    unseen = normalize_features(pd.DataFrame({"n": [np.nan], "c": ["zebra"]}), numeric, categorical)
    row = pre.transform(unseen)[0]
    assert row[1:].tolist() == [0.0, 0.0, 0.0]  # unknown category: all one-hot columns off
    median = normalize_features(pd.DataFrame({"n": [2.0], "c": ["x"]}), numeric, categorical)
    assert row[0] == pre.transform(median)[0][0]  # a missing number is imputed with the median


def test_normalize_features_gives_float_and_object_columns_keeping_missing_values():
    frame = pd.DataFrame({"n": [1, 2], "c": pd.Series(["x", None], dtype="string")})
    out = normalize_features(frame, ["n"], ["c"])
    assert out["n"].dtype == "float64"
    assert out["c"].dtype == object
    assert out["c"].tolist()[0] == "x"
    assert pd.isna(out["c"].tolist()[1])

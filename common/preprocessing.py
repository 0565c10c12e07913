"""Column typing and the preprocessor every trainer fits before its model.

Numeric columns are imputed (median) and scaled; every other column is treated as categorical,
imputed with a constant and one-hot encoded with unknown categories ignored, so real tables with
strings and missing values train and serve the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MISSING_CATEGORY = "__missing__"


def split_columns(features: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Return (numeric, categorical) column names; booleans count as categorical."""
    numeric, categorical = [], []
    for name, dtype in features.dtypes.items():
        is_number = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        (numeric if is_number else categorical).append(str(name))
    return numeric, categorical


def normalize_features(
    features: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> pd.DataFrame:
    """Give columns the dtypes the preprocessor was fitted on: float64 and object.

    Numbers become float64 so a missing value is representable in every numeric column (also in
    the model signature); categories become Python objects (strings, or NaN when missing).
    """
    columns = {}
    for name in numeric:
        column = features[name]
        if column.dtype != "float64":  # already-typed columns pass without a copy
            column = pd.to_numeric(column, errors="raise").astype("float64")
        columns[name] = column
    for name in categorical:
        column = features[name]
        if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) not in (
            "string",
            "empty",
        ):
            missing = column.isna()  # NaN, None and pd.NA all become NaN
            column = column.astype(str).astype(object).where(~missing, np.nan)
        columns[name] = column
    return pd.DataFrame(columns, index=features.index)


def build_preprocessor(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    """An unfitted ColumnTransformer for the given columns, dense output."""
    transformers = []
    if numeric:
        numeric_steps = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        transformers.append(("numeric", numeric_steps, numeric))
    if categorical:
        categorical_steps = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
                (
                    "onehot",
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype="float64"),
                ),
            ]
        )
        transformers.append(("categorical", categorical_steps, categorical))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)

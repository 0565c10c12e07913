"""Normalizing raw columns by role, and the preprocessor every trainer fits before its model.

Roles come from ``common.columns``. Numeric columns are imputed (median) and scaled; categorical
ones imputed with a constant and one-hot encoded, rare categories grouped and the width capped
(``MAX_CATEGORIES``), unknown ones going to the rare group; booleans become 0/1; datetimes
become numbers (year, month, day, weekday, day of year, days since 1970) inside the fitted
preprocessor, so the served model takes the raw date strings: its ``DateParts`` keeps each date
column's one format (decided by ``common.columns``) and reads served text in exactly that
format. A booster that handles gaps and categories itself gets the ``NATIVE`` preprocessor
instead: gaps kept, one column of category codes per categorical column. Real tables with
strings and missing values train and serve the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from common.columns import Roles, parse_dates

MISSING_CATEGORY = "__missing__"
# One-hot columns per categorical feature at most (the rarest categories share the last one),
# so a column with 50,000 distinct values cannot blow up memory; categories seen in fewer
# training rows than MIN_CATEGORY_ROWS are grouped too.
MAX_CATEGORIES = 50
MIN_CATEGORY_ROWS = 5
TRUE_WORDS, FALSE_WORDS = {"true", "yes"}, {"false", "no"}
DATE_PARTS = ("year", "month", "day", "weekday", "dayofyear", "days")
# What ``build_preprocessor`` builds. STANDARD: numbers imputed and scaled, categories one-hot,
# what every model takes. NATIVE: for a booster that splits on missing values and categories
# itself (XGBoost): numbers as they are, gaps kept as NaN, each categorical column one feature
# of codes 0..k-1 (the same kept values as one-hot, the rare group last; missing or unknown
# NaN), which XGBoost splits as categories (``feature_types``, "c").
STANDARD, NATIVE = "standard", "native"
ONEHOT, CODES = "onehot", "codes"  # the categorical encoder's step name in each


def split_columns(features: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Return (numeric, categorical) column names by dtype; booleans count as categorical."""
    roles = Roles.of_dtypes(features)
    return list(roles.numeric), list(roles.categorical)


def normalize_features(features: pd.DataFrame, roles: Roles) -> pd.DataFrame:
    """Give the used columns the dtypes the preprocessor was fitted on, in ``roles.used`` order.

    Numbers become float64 so a missing value is representable in every numeric column (also in
    the model signature); categories Python objects (strings, or NaN when missing); booleans
    float64 1/0 (NaN when missing or not a true/false word); datetimes UTC datetimes read in the
    column's format of ``roles.formats`` (NaT when missing or not in it). A date column without
    a format there (the roles a served model rebuilds from its config) is left as it is: the
    fitted ``DateParts`` reads it with the format it keeps.
    """
    columns = {}
    for name in roles.numeric:
        column = features[name]
        if column.dtype != "float64":  # already-typed columns pass without a copy
            column = pd.to_numeric(column, errors="raise").astype("float64")
        columns[name] = column
    for name in roles.categorical:
        column = features[name]
        if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) not in (
            "string",
            "empty",
        ):
            column = _labels(column)
        columns[name] = column
    for name in roles.boolean:
        columns[name] = _booleans(features[name])
    for name in roles.datetime:
        if name in roles.formats:
            columns[name] = parse_dates(features[name], roles.formats[name])
        else:
            columns[name] = features[name]
    # No copy of the columns that passed as they were (copy-on-write keeps the input safe).
    return pd.DataFrame(columns, index=features.index, copy=False)


def _labels(column: pd.Series) -> pd.Series:
    """Each value as its text (``Series.astype(str)``), NaN where missing, as Python objects:
    one string object per distinct value, shared by its rows (a million rows of 50 cities hold
    50 strings, not a million), converted once per distinct value."""
    if column.dtype == object or not pd.api.types.is_string_dtype(column):
        # Values that compare equal but read differently (True and 1, 0.0 and -0.0) would be
        # one value to factorize: only text columns (pandas' str and string dtypes) take it.
        missing = column.isna()
        return column.astype(str).astype(object).where(~missing, np.nan)
    codes, uniques = pd.factorize(column)  # NaN, None and pd.NA: code -1
    text = np.append(pd.Index(uniques).astype(str).to_numpy(dtype=object), np.nan)
    return pd.Series(text[codes], index=column.index, dtype=object, name=column.name)


def _booleans(column: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(column):
        return column.astype("float64")
    words = column.astype(str).str.strip().str.lower()
    values = np.where(words.isin(TRUE_WORDS), 1.0, np.where(words.isin(FALSE_WORDS), 0.0, np.nan))
    return pd.Series(values, index=column.index).where(column.notna(), np.nan)


class DateParts(TransformerMixin, BaseEstimator):
    """Datetime columns -> numbers: year, month, day, weekday, day of year, days since 1970.

    ``formats`` maps each column to the one format its text is read in (a strftime format, or
    ``ISO8601``; ``common.columns.parse_dates``): a value in another form is missing, never
    guessed. Missing dates give NaN (imputed after this step). A DateParts fitted before formats
    existed (``formats`` absent or None) reads text as it did then. Stateless apart from the
    column names and their formats.
    """

    def __init__(self, formats: Mapping[str, str] | None = None):
        self.formats = formats

    def __setstate__(self, state):
        # Pickled or skops-saved by earlier commits: no formats attribute (read as None).
        super().__setstate__({"formats": None, **state})

    def fit(self, X: pd.DataFrame, y=None) -> DateParts:
        self.columns_ = [str(c) for c in X.columns]
        self.n_features_in_ = len(self.columns_)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        formats = getattr(self, "formats", None) or {}
        parts = []
        for name in self.columns_:
            # Microseconds: years 1 to 9999.
            dates = pd.DatetimeIndex(parse_dates(X[name], formats.get(name)))
            days = (dates - pd.Timestamp(0, tz="UTC").as_unit("us")) / pd.Timedelta(days=1)
            for values in (
                dates.year,
                dates.month,
                dates.day,
                dates.day_of_week,
                dates.day_of_year,
            ):
                parts.append(np.asarray(values, dtype="float64"))
            parts.append(np.asarray(days, dtype="float64"))
        return np.column_stack(parts) if parts else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array([f"{name}_{part}" for name in self.columns_ for part in DATE_PARTS])


class Float32(TransformerMixin, BaseEstimator):
    """The last step of each part: its float64 output as float32, the precision every model
    family trains in (XGBoost and scikit-learn's trees cast to float32 themselves, the MLP's
    tensors are float32), so the models and their predictions are the same as from float64,
    and the encoded matrix, its copies and the transform's parts take half the memory."""

    def fit(self, X, y=None) -> Float32:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True  # stateless

    def transform(self, X) -> np.ndarray:
        return np.asarray(X, dtype="float32")

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(input_features, dtype=object)


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Each categorical column -> one column of category codes, as XGBoost splits them natively.

    The codes are scikit-learn's ``OrdinalEncoder(max_categories, min_frequency,
    handle_unknown="use_encoded_value")`` ones, with unknown and missing values NaN: the kept
    values 0..k-1 in sorted order, every other value seen in training k (the rare group), a
    missing or unseen value NaN. The values are counted and looked up in pandas' hash tables
    instead of sorted as Python objects: at a million rows the native preprocessor fits and
    encodes in a fifth of the time it took with OrdinalEncoder.
    ``categories_`` holds every value seen in training, sorted; ``codes_`` each one's code.
    """

    def __init__(
        self, max_categories: int = MAX_CATEGORIES, min_frequency: int = MIN_CATEGORY_ROWS
    ):
        self.max_categories = max_categories
        self.min_frequency = min_frequency

    def fit(self, X: pd.DataFrame, y=None) -> CategoryCodes:
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.categories_, self.codes_ = [], []
        for name in X.columns:
            counts = X[name].value_counts(dropna=True, sort=False)
            values = counts.index.to_numpy(dtype=object)
            order = np.argsort(values)
            self.categories_.append(values[order])
            self.codes_.append(self._codes(counts.to_numpy(dtype=np.int64)[order]))
        return self

    def _codes(self, counts: np.ndarray) -> np.ndarray:
        # OrdinalEncoder's grouping (sklearn.preprocessing._encoders._identify_infrequent and
        # _fit_infrequent_category_mapping): fewer rows than min_frequency is rare; beyond
        # max_categories - 1 kept values (the rare group takes one), the least frequent are rare,
        # ties broken by sorted order.
        rare = counts < self.min_frequency
        if self.max_categories < counts.size - rare.sum() + 1:
            keep = self.max_categories - 1
            if keep == 0:
                rare[:] = True
            else:
                rare[np.argsort(counts, kind="mergesort")[:-keep]] = True
        kept = int((~rare).sum())
        codes = np.full(counts.size, kept, dtype=np.int64)  # the rare group's code
        codes[~rare] = np.arange(kept)
        return codes

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=self.feature_names_in_)
        out = np.empty((len(X), self.n_features_in_), dtype=np.float32)
        for j, (name, values, codes) in enumerate(
            zip(X.columns, self.categories_, self.codes_, strict=True)
        ):
            at = pd.Index(values, dtype=object).get_indexer(X[name].astype(object))
            out[:, j] = np.append(codes.astype(np.float32), np.float32("nan"))[at]  # -1: NaN
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_in_.copy()


def build_preprocessor(roles: Roles, kind: str = STANDARD) -> ColumnTransformer:
    """An unfitted ColumnTransformer for the used columns of ``roles``, dense float32 output
    (each part computes in float64, then ``Float32``), ``STANDARD`` or ``NATIVE``."""
    if kind not in (STANDARD, NATIVE):
        raise ValueError(f"kind={kind!r}: one of {STANDARD!r}, {NATIVE!r}")
    native = kind == NATIVE
    kept = {"max_categories": MAX_CATEGORIES, "min_frequency": MIN_CATEGORY_ROWS}
    transformers = []
    if roles.numeric:
        transformers.append(("numeric", Float32() if native else _scaled(), list(roles.numeric)))
    if roles.categorical:
        if native:
            categorical_steps = Pipeline([(CODES, CategoryCodes(**kept))])
        else:
            categorical_steps = Pipeline([
                ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
                (ONEHOT, OneHotEncoder(
                    handle_unknown="infrequent_if_exist", sparse_output=False,
                    dtype="float32", **kept,  # 0 and 1 exactly
                )),
            ])  # fmt: skip
        transformers.append(("categorical", categorical_steps, list(roles.categorical)))
    if roles.boolean:
        steps = [("float32", Float32())]
        if not native:
            steps.insert(0, ("impute", SimpleImputer(strategy="most_frequent")))
        transformers.append(("boolean", Pipeline(steps), list(roles.boolean)))
    if roles.datetime:
        formats = {name: roles.formats[name] for name in roles.datetime if name in roles.formats}
        parts = DateParts(formats=formats or None)  # None: roles without formats (hand-made)
        steps = Pipeline([("parts", parts), ("float32", Float32())]) if native else _scaled(parts)
        transformers.append(("datetime", steps, list(roles.datetime)))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


# Rows encoded at a time by ``encode``: the transform's per-part arrays and their stacking then
# cost one block's memory on top of the result, not the whole matrix's twice.
ENCODE_ROWS = 131_072


def encode(preprocessor: ColumnTransformer, X: pd.DataFrame) -> np.ndarray:
    """``preprocessor.transform(X)``, block by block of ``ENCODE_ROWS`` rows into one array: the
    same values (every fitted step works row by row), without the transform's whole-matrix
    intermediates."""
    if len(X) <= ENCODE_ROWS:
        return preprocessor.transform(X)
    first = preprocessor.transform(X.iloc[:ENCODE_ROWS])
    out = np.empty((len(X), first.shape[1]), dtype=first.dtype)
    out[:ENCODE_ROWS] = first
    del first
    for start in range(ENCODE_ROWS, len(X), ENCODE_ROWS):
        out[start : start + ENCODE_ROWS] = preprocessor.transform(
            X.iloc[start : start + ENCODE_ROWS]
        )
    return out


def _scaled(*first) -> Pipeline:
    steps = [
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
        ("float32", Float32()),
    ]
    if first:
        steps.insert(0, ("parts", first[0]))
    return Pipeline(steps)


def feature_names(preprocessor: ColumnTransformer) -> list[str]:
    """The encoded features' names without the transformer prefix (``plan_basic``, not
    ``categorical__plan_basic``), unless two would then read the same."""
    names = [str(n) for n in preprocessor.get_feature_names_out()]
    short = [n.split("__", 1)[1] if "__" in n else n for n in names]
    return short if len(set(short)) == len(short) else names


def raw_columns(preprocessor: ColumnTransformer) -> list[str]:
    """The input column each encoded feature comes from, in the encoded order: a number or
    boolean gives one feature, a date one per ``DATE_PARTS``, a category one per kept value
    (plus its infrequent group), or one of codes."""
    width = len(preprocessor.get_feature_names_out())
    out: list[str | None] = [None] * width
    for name, transformer, columns in preprocessor.transformers_:
        if name not in preprocessor.output_indices_:
            continue
        place = preprocessor.output_indices_[name]
        if name == "categorical" and ONEHOT in transformer.named_steps:
            widths = list(transformer.named_steps[ONEHOT]._n_features_outs)
        elif name == "datetime":
            widths = [len(DATE_PARTS)] * len(columns)
        else:
            widths = [1] * len(columns)
        at = place.start
        for column, count in zip(columns, widths, strict=True):
            out[at : at + count] = [str(column)] * count
            at += count
        if at != place.stop:
            raise ValueError(f"{name}: {at - place.start} features mapped, {place.stop} - "
                             f"{place.start} encoded")  # fmt: skip
    if any(column is None for column in out):
        raise ValueError("an encoded feature maps to no input column")
    return out  # type: ignore[return-value]


def feature_types(preprocessor: ColumnTransformer) -> list[str]:
    """Each encoded feature's kind as XGBoost names it: "c" for a column of category codes
    (``CODES``), "q" for a number."""
    types = ["q"] * len(preprocessor.get_feature_names_out())
    for name, transformer, _ in preprocessor.transformers_:
        if name == "categorical" and CODES in transformer.named_steps:
            place = preprocessor.output_indices_[name]
            types[place] = ["c"] * (place.stop - place.start)
    return types

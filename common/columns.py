"""What each input column is to the model: its role, decided from the data or by the user.

Every feature column gets one role: ``numeric``, ``categorical``, ``boolean``, ``datetime`` or
``dropped`` (with the reason). The rules, in order, for a column the user did not name:

- every value missing: dropped (empty); a single distinct value: dropped (constant);
- booleans (``True``/``False``, or only the words true/false or yes/no): boolean;
- datetimes, or text whose values all read as ISO 8601 dates (``2024-03-01``,
  ``2024-03-01T12:30:00``): datetime, encoded as numbers inside the fitted preprocessor;
- whole numbers, distinct in every row, named like an identifier (``id``, ``customer_id``) or
  counting up without gaps: dropped (identifier);
- text distinct in (nearly) every row: dropped (identifier); long text: dropped (free text);
- other numbers: numeric; other text: categorical.

``-P drop=``, ``numeric=``, ``categorical=`` and ``datetime=`` (comma-separated column names)
override the rules. ``features.json`` in each run records the outcome.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common.errors import UserInputError

ROLES = ("numeric", "categorical", "boolean", "datetime", "dropped")
# Overridable roles and the flag that sets each.
OVERRIDES = ("drop", "numeric", "categorical", "datetime")
BOOLEAN_WORDS = ({"true", "false"}, {"yes", "no"})
BOOLEAN_SPELLINGS = 16  # distinct raw spellings ('yes', 'Yes ', 'NO', ...) looked at, at most
# Text distinct in at least this share of its rows is an identifier; text or whole numbers are
# taken for identifiers only from this many rows on.
IDENTIFIER_SHARE = 0.95
IDENTIFIER_MIN_ROWS = 20
# Text whose median length exceeds this is free text, not a category.
FREE_TEXT_CHARS = 50
ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key)$|^id[_\s.-]|[a-z]Id$", re.IGNORECASE)
ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
# Values inspected to recognise dates: all must match; most matching is taken for a typo.
DATE_SAMPLE = 1000
MOSTLY_DATES = 0.9


@dataclass(frozen=True)
class Roles:
    """Feature columns by role, in table order, and the dropped ones with their reasons."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    boolean: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()
    dropped: Mapping[str, str] = field(default_factory=dict)
    # Columns whose role the user set, for the record.
    chosen: tuple[str, ...] = ()

    @property
    def used(self) -> list[str]:
        """The columns the model reads, grouped by role as the preprocessor orders them."""
        return [*self.numeric, *self.categorical, *self.boolean, *self.datetime]

    def role(self, column: str) -> str:
        for role in ROLES[:-1]:
            if column in getattr(self, role):
                return role
        return "dropped"

    @classmethod
    def of_dtypes(cls, features: pd.DataFrame) -> Roles:
        """Numeric dtypes are numeric, everything else categorical (models logged before roles)."""
        numeric = [
            str(c)
            for c, t in features.dtypes.items()
            if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
        ]
        categorical = [str(c) for c in features.columns if str(c) not in numeric]
        return cls(numeric=tuple(numeric), categorical=tuple(categorical))


def parse_names(text: str) -> tuple[str, ...]:
    """``"a, b"`` -> ``("a", "b")``; empty text -> ``()``."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def decide(features: pd.DataFrame, overrides: Mapping[str, Iterable[str]] | None = None) -> Roles:
    """The role of every column of ``features`` (raw, as read), honouring ``overrides``.

    Args:
        features: The table without its target column.
        overrides: Flag name (``drop``, ``numeric``, ``categorical``, ``datetime``) -> columns.

    Raises:
        UserInputError: an override names a missing column or a column twice, a column named
            ``datetime`` does not parse, or every column ends up dropped.
    """
    chosen = _check_overrides(features, overrides or {})
    roles: dict[str, list[str]] = {role: [] for role in ROLES[:-1]}
    dropped: dict[str, str] = {}
    for name in map(str, features.columns):
        if name in chosen:
            role = chosen[name]
            if role == "drop":
                dropped[name] = "drop= names it"
                continue
            if role == "datetime":
                _check_dates(features[name], name)
            roles[role].append(name)
            continue
        role, reason = _infer(features[name], name)
        if role == "datetime":
            _check_dates(features[name], name)  # 2023-02-31 has the form but is no date
        if role == "dropped":
            dropped[name] = reason
        else:
            roles[role].append(name)
    result = Roles(**{k: tuple(v) for k, v in roles.items()}, dropped=dropped, chosen=tuple(chosen))
    if not result.used:
        listed = "; ".join(f"{name}: {reason}" for name, reason in dropped.items())
        raise UserInputError(
            f"every feature column was dropped ({listed[:300]}); keep one with "
            "numeric=, categorical= or datetime="
        )
    return result


def _check_overrides(features: pd.DataFrame, overrides: Mapping[str, Iterable[str]]) -> dict:
    columns = {str(c) for c in features.columns}
    chosen: dict[str, str] = {}
    for flag, names in overrides.items():
        if flag not in OVERRIDES:
            raise ValueError(f"unknown column override {flag!r}")
        for name in names:
            if name not in columns:
                listed = ", ".join(sorted(columns)[:30])
                raise UserInputError(
                    f"{flag}= names column '{name}', which is not a feature column; "
                    f"feature columns: {listed}"
                )
            if name in chosen:
                raise UserInputError(
                    f"column '{name}' is named by both {chosen[name]}= and {flag}="
                )
            chosen[name] = flag
    for name, flag in chosen.items():
        column = features[name]
        if flag != "drop" and column.isna().all():
            raise UserInputError(f"{flag}= names column '{name}', but every value in it is missing")
        if flag == "datetime" and (
            pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        ):
            raise UserInputError(
                f"datetime= names column '{name}', which holds numbers; dates must be text "
                "(2024-03-01) or datetime values, so convert epoch numbers first"
            )
        if flag == "numeric" and not pd.api.types.is_numeric_dtype(column):
            numbers = pd.to_numeric(column, errors="coerce")
            bad = column[numbers.isna() & column.notna()]
            if len(bad):
                raise UserInputError(
                    f"numeric= names column '{name}', but it holds text such as {bad.iloc[0]!r}"
                )
    return chosen


def _infer(column: pd.Series, name: str) -> tuple[str, str]:
    """(role, reason): the reason says why a column is dropped, else how the role was found."""
    values = column.dropna()
    if values.empty:
        return "dropped", "empty: every value is missing"
    distinct = values.nunique()
    if distinct == 1:
        return "dropped", f"constant: every value is {_short(values.iloc[0])}"
    if pd.api.types.is_bool_dtype(column) or _boolean_words(values):
        return "boolean", "two values: true/false"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime", "a datetime column"
    if pd.api.types.is_numeric_dtype(column):
        if _identifier_number(values, name):
            return "dropped", f"identifier: whole numbers, distinct in all {len(values)} rows"
        return "numeric", "numbers"
    text = values.astype(str)
    if _iso_dates(text, name):
        return "datetime", "text in ISO 8601 date form"
    if len(values) >= IDENTIFIER_MIN_ROWS and distinct >= IDENTIFIER_SHARE * len(values):
        return "dropped", f"identifier: {distinct} distinct values in {len(values)} rows"
    median = float(text.str.len().median())
    if median > FREE_TEXT_CHARS:
        return "dropped", (
            f"free text: median {median:.0f} characters; name it in categorical= to encode it"
        )
    return "categorical", f"text, {distinct} distinct values"


def _boolean_words(values: pd.Series) -> bool:
    """Only two words, true/false or yes/no, in any case and spacing (as the encoder reads them)."""
    if pd.api.types.is_numeric_dtype(values) or values.nunique() > BOOLEAN_SPELLINGS:
        return False
    words = {str(v).strip().lower() for v in values.unique()}
    return words in BOOLEAN_WORDS


def _identifier_number(values: pd.Series, name: str) -> bool:
    if pd.api.types.is_float_dtype(values):
        numbers = values.to_numpy("float64")
        if not np.all(numbers == np.round(numbers)):
            return False
    elif not pd.api.types.is_integer_dtype(values):
        return False
    if values.nunique() != len(values) or len(values) < IDENTIFIER_MIN_ROWS:
        return False
    span = float(values.max()) - float(values.min()) + 1
    return bool(ID_NAME.search(name)) or span == len(values)


def _iso_dates(text: pd.Series, name: str) -> bool:
    """All ISO dates: True; mostly (a typo among dates): refused, since dropping or one-hot
    encoding a date column by mistake would go unnoticed."""
    sample = text.head(DATE_SAMPLE).str.strip()
    matches = sample.str.fullmatch(ISO_DATE)
    if matches.all():
        return True
    if matches.mean() >= MOSTLY_DATES:
        bad = sample[~matches]
        raise UserInputError(
            f"column '{name}' holds dates, but {bad.iloc[0]!r} (row {bad.index[0]}) is not one; "
            f"fix it, or name the column in datetime= (other values become missing), "
            "categorical= or drop="
        )
    return False


def parse_dates(column: pd.Series) -> pd.Series:
    """Datetimes in UTC (naive values taken as UTC); NaT where a value is missing or unreadable.

    ISO 8601 is parsed fast; other forms (``03/01/2024``, ``1 Mar 2024``) one by one.
    """
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.to_datetime(column, utc=True).dt.as_unit("us")
    text = column.astype(object).where(column.notna(), None)
    # Microseconds hold years 1 to 9999 (nanoseconds stop at 2262: 9999-12-31 "never" dates).
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601").dt.as_unit("us")
    retry = parsed.isna() & column.notna()
    if retry.any():
        again = pd.to_datetime(text[retry], errors="coerce", utc=True, format="mixed")
        parsed[retry] = again.dt.as_unit("us")
    return parsed


def _check_dates(column: pd.Series, name: str) -> None:
    parsed = parse_dates(column)
    bad = column[parsed.isna() & column.notna()]
    if len(bad):
        raise UserInputError(
            f"datetime column '{name}' has value(s) that do not parse as dates, such as "
            f"{bad.iloc[0]!r} (row {bad.index[0]}); fix them, or leave them empty"
        )


def _short(value) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(roles: Roles, features: pd.DataFrame, encoded: list[str]) -> dict:
    """``features.json``: one entry per input column (role, dtype, reason) and encoded names."""
    columns = []
    for name in map(str, features.columns):
        role = roles.role(name)
        entry = {"name": name, "role": role, "dtype": str(features[name].dtype)}
        if role == "dropped":
            entry["reason"] = roles.dropped[name]
        elif name in roles.chosen:
            entry["reason"] = f"{role}= names it"
        columns.append(entry)
    return {"columns": columns, "encoded_features": encoded}


def summary(roles: Roles) -> str:
    """A few lines for the console: columns per role, each dropped one with its reason."""
    lines = [
        f"features: {len(roles.used)} used ("
        + ", ".join(f"{len(getattr(roles, r))} {r}" for r in ROLES[:-1] if getattr(roles, r))
        + f"), {len(roles.dropped)} dropped"
    ]
    for role in ("boolean", "datetime"):
        if names := getattr(roles, role):
            lines.append(f"  {role}: {', '.join(names)}")
    lines += [f"  dropped {name}: {reason}" for name, reason in roles.dropped.items()]
    return "\n".join(lines)

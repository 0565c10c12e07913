"""What each input column is to the model: its role, decided from the data or by the user.

Every feature column gets one role: ``numeric``, ``categorical``, ``boolean``, ``datetime`` or
``dropped`` (with the reason). The rules, in order, for a column the user did not name:

- every value missing: dropped (empty); a single distinct value: dropped (constant);
- booleans (``True``/``False``, or only the words true/false or yes/no): boolean;
- datetimes, or text whose values are dates in ONE of the forms of ``DATE_FORMS`` (ISO 8601
  ``2024-03-01`` or ``2024-03-01T12:30:00``, ``2024/03/01``, ``01.03.2024``, ``01/03/2024`` or
  ``03/01/2024``, ``1 Mar 2024``, ``Mar 1, 2024``, with or without a time): datetime, encoded as
  numbers inside the fitted preprocessor;
- whole numbers, distinct in every row, named like an identifier (``id``, ``customer_id``) or
  counting up without gaps: dropped (identifier);
- text distinct in (nearly) every row: dropped (identifier); long text: dropped (free text);
- other numbers: numeric; other text: categorical.

A date column gets one explicit format (``Roles.formats``: a strftime format, or ``ISO8601``),
kept in the fitted preprocessor (``common.preprocessing.DateParts``), so serving reads each value
with exactly the format training read: a value in another form is missing, never guessed.
Day/month order is decided by the column's values (a first field above 12: day first; a second
one: month first); a column where it cannot be (every day <= 12), one mixing two forms, or one
with a value in no form is refused in one line.

``-P drop=``, ``numeric=``, ``categorical=`` and ``datetime=`` (comma-separated column names)
override the rules; a ``datetime=`` entry may carry the format after a colon
(``datetime=visit:%d/%m/%Y``), and then values not in it become missing. ``features.json`` in
each run records the outcome, with each date column's format.
"""

from __future__ import annotations

import datetime as dt
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
# Values inspected to recognise dates. A text column where at least MOSTLY_DATES of them have
# the shape of a date (one of DATE_FORMS) is a date column; then every value must read in its
# one format, or the column is refused naming the value (a typo, or a second form): a date
# column is never silently one-hot encoded or dropped, and no value silently lost.
DATE_SAMPLE = 1000
MOSTLY_DATES = 0.9
# pandas' name for "any ISO 8601 form": one unambiguous format (with or without a time or zone).
ISO_FORMAT = "ISO8601"


@dataclass(frozen=True)
class DateForm:
    """A way of writing dates: its shape, and the formats (strftime) a value of it may be in.

    Two formats: the column's values decide which (``ordered``: day/month order, refused when
    the values cannot tell; else a month's abbreviation or full name)."""

    label: str
    pattern: re.Pattern
    formats: tuple[str, ...]
    ordered: bool = False


# Numeric forms, each with no time, HH:MM or HH:MM:SS after a space: (label, shape, formats).
_TIMES = (("", "", ""), (" HH:MM", r" \d{1,2}:\d{2}", " %H:%M"),
          (" HH:MM:SS", r" \d{1,2}:\d{2}:\d{2}", " %H:%M:%S"))  # fmt: skip
_NUMERIC_FORMS = (
    ("YYYY/MM/DD", r"\d{4}/\d{1,2}/\d{1,2}", ("%Y/%m/%d",)),
    ("DD.MM.YYYY", r"\d{1,2}\.\d{1,2}\.\d{4}", ("%d.%m.%Y",)),
    ("DD/MM/YYYY or MM/DD/YYYY", r"\d{1,2}/\d{1,2}/\d{4}", ("%d/%m/%Y", "%m/%d/%Y")),
    ("DD-MM-YYYY or MM-DD-YYYY", r"\d{1,2}-\d{1,2}-\d{4}", ("%d-%m-%Y", "%m-%d-%Y")),
)


def _numeric_forms() -> list[DateForm]:
    return [
        DateForm(
            label + time_label,
            re.compile(f"^{shape}{time_shape}$"),
            tuple(f + time_format for f in formats),
            ordered=len(formats) > 1,
        )
        for label, shape, formats in _NUMERIC_FORMS
        for time_label, time_shape, time_format in _TIMES
    ]


# Every form a text column's dates are recognised in (a value counts for the first it reads in).
DATE_FORMS: tuple[DateForm, ...] = (
    DateForm("ISO 8601", ISO_DATE, (ISO_FORMAT,)),
    *_numeric_forms(),
    DateForm("D Mon YYYY", re.compile(r"^\d{1,2} [A-Za-z]{3,9} \d{4}$"), ("%d %b %Y", "%d %B %Y")),
    DateForm(
        "Mon D, YYYY", re.compile(r"^[A-Za-z]{3,9} \d{1,2}, \d{4}$"), ("%b %d, %Y", "%B %d, %Y")
    ),
    DateForm("D-Mon-YYYY", re.compile(r"^\d{1,2}-[A-Za-z]{3}-\d{4}$"), ("%d-%b-%Y",)),
)


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
    # Each datetime column's one format (strftime, or ISO_FORMAT), as decided: empty for roles
    # a served model rebuilds from its config (its fitted DateParts holds the formats).
    formats: Mapping[str, str] = field(default_factory=dict)

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
    """``"a, b"`` -> ``("a", "b")``; empty text -> ``()``.

    A ``datetime=`` entry may end in its format after a colon (``visit:%d/%m/%Y``); a comma
    inside a format (``when:%b %d, %Y``) stays in it: a piece starting with ``%`` continues the
    entry before it when that one has a format. A column whose name holds a comma is named with
    it escaped: ``drop=city\\,state`` names the column ``city,state``.
    """
    entries: list[str] = []
    for piece in _split_unescaped(text):
        if entries and piece.strip().startswith("%") and "%" in entries[-1].partition(":")[2]:
            entries[-1] += "," + piece
        else:
            entries.append(piece)
    return tuple(entry.strip() for entry in entries if entry.strip())


def as_override(name: str) -> str:
    """``name`` as an override list writes it: its commas escaped (``parse_names`` reads it)."""
    return name.replace(",", "\\,")


def _split_unescaped(text: str) -> list[str]:
    """``text`` split at each comma not written as ``\\,``; ``\\,`` becomes a comma."""
    pieces = [""]
    rest = iter(text)
    for char in rest:
        if char == "\\":
            following = next(rest, "")
            pieces[-1] += "," if following == "," else char + following
        elif char == ",":
            pieces.append("")
        else:
            pieces[-1] += char
    return pieces


def decide(features: pd.DataFrame, overrides: Mapping[str, Iterable[str]] | None = None) -> Roles:
    """The role of every column of ``features`` (raw, as read), honouring ``overrides``.

    Args:
        features: The table without its target column.
        overrides: Flag name (``drop``, ``numeric``, ``categorical``, ``datetime``) -> columns;
            a ``datetime`` entry may be ``column:format``.

    Raises:
        UserInputError: an override names a missing column or a column twice, a column named
            ``datetime`` does not parse (or its format reads none of it), a date column's
            day/month order cannot be told, mixes two forms or has a value in none, or every
            column ends up dropped.
    """
    chosen, given = _check_overrides(features, overrides or {})
    roles: dict[str, list[str]] = {role: [] for role in ROLES[:-1]}
    dropped: dict[str, str] = {}
    formats: dict[str, str] = {}
    for name in map(str, features.columns):
        if name in chosen:
            role = chosen[name]
            if role == "drop":
                dropped[name] = "drop= names it"
                continue
            if role == "datetime":
                formats[name] = _named_format(features[name], name, given.get(name))
            roles[role].append(name)
            continue
        role, reason, date_format = _infer(features[name], name)
        if role == "dropped":
            dropped[name] = reason
            continue
        if date_format is not None:
            formats[name] = date_format
        roles[role].append(name)
    result = Roles(
        **{k: tuple(v) for k, v in roles.items()},
        dropped=dropped, chosen=tuple(chosen), formats=formats,
    )  # fmt: skip
    if not result.used:
        listed = "; ".join(f"{name}: {reason}" for name, reason in dropped.items())
        raise UserInputError(
            f"every feature column was dropped ({listed[:300]}); keep one with "
            "numeric=, categorical= or datetime="
        )
    return result


def split_format(entry: str, columns: Iterable[str]) -> tuple[str, str | None]:
    """A ``datetime=`` entry -> (column, format or None): ``visit:%d/%m/%Y`` -> ("visit",
    "%d/%m/%Y"); an entry that is a column's whole name (colons included) has no format."""
    names = set(columns)
    if entry in names:
        return entry, None
    for at in (i for i, c in enumerate(entry) if c == ":"):
        if entry[:at].strip() in names:
            return entry[:at].strip(), entry[at + 1 :].strip()
    return entry, None


def _check_overrides(
    features: pd.DataFrame, overrides: Mapping[str, Iterable[str]]
) -> tuple[dict[str, str], dict[str, str]]:
    """(column -> flag, column -> the format a ``datetime=`` entry gives)."""
    columns = {str(c) for c in features.columns}
    chosen: dict[str, str] = {}
    given: dict[str, str] = {}
    for flag, entries in overrides.items():
        if flag not in OVERRIDES:
            raise ValueError(f"unknown column override {flag!r}")
        for entry in entries:
            name, date_format = (
                split_format(entry, columns) if flag == "datetime" else (entry, None)
            )
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
            if date_format is not None:
                given[name] = date_format
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
    return chosen, given


def _infer(column: pd.Series, name: str) -> tuple[str, str, str | None]:
    """(role, reason, date format): the reason says why a column is dropped, else how the role
    was found; the format is a datetime column's (None for other roles)."""
    values = column.dropna()
    if values.empty:
        return "dropped", "empty: every value is missing", None
    distinct = values.nunique()
    if distinct == 1:
        return "dropped", f"constant: every value is {_short(values.iloc[0])}", None
    if pd.api.types.is_bool_dtype(column) or _boolean_words(values):
        return "boolean", "two values: true/false", None
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime", "a datetime column", ISO_FORMAT
    if pd.api.types.is_numeric_dtype(column):
        if _identifier_number(values, name):
            return "dropped", f"identifier: whole numbers, distinct in all {len(values)} rows", None
        return "numeric", "numbers", None
    if date_format := _date_format(values, name):
        return "datetime", f"text in one date form ({date_format})", date_format
    if len(values) >= IDENTIFIER_MIN_ROWS and distinct >= IDENTIFIER_SHARE * len(values):
        return "dropped", f"identifier: {distinct} distinct values in {len(values)} rows", None
    median = float(values.astype(str).str.len().median())
    if median > FREE_TEXT_CHARS:
        return "dropped", (
            f"free text: median {median:.0f} characters; name it in categorical= to encode it"
        ), None  # fmt: skip
    return "categorical", f"text, {distinct} distinct values", None


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


def _date_format(values: pd.Series, name: str, *, named: bool = False) -> str | None:
    """The one format the dates of ``values`` (a column's non-missing values) are written in.

    None when the values do not look like dates (under MOSTLY_DATES of them have a date's
    shape), unless the user ``named`` the column in ``datetime=``.

    Raises:
        UserInputError: the values look like dates but mix two forms (or two day/month orders),
            have a value that reads in no form, or never tell day from month.
    """
    text = values.astype(str).str.strip()
    sample = text.head(DATE_SAMPLE)
    if not named and sample.str.contains(r"\d", regex=True).mean() < MOSTLY_DATES:
        return None  # every date form has digits: most text columns stop here
    shaped, form_of = _forms_of(sample)
    if not named and shaped.mean() < MOSTLY_DATES:
        return None
    counts = np.bincount(form_of[form_of >= 0], minlength=len(DATE_FORMS))
    present = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i]]
    if len(present) > 1:
        first, second = (sample[form_of == i].iloc[0] for i in present[:2])
        raise _mixed(name, (first, DATE_FORMS[present[0]].label),
                     (second, DATE_FORMS[present[1]].label))  # fmt: skip
    if not present:
        _refuse_value(name, values, text, None, named)
    form = DATE_FORMS[present[0]]
    date_format = _choose_format(form, text, name)
    unread = parse_dates(values, date_format).isna()
    if unread.any():
        # A value in another form makes the column a mix; one in none of them is a typo.
        looked_at = text[unread].head(DATE_SAMPLE)
        _, others = _forms_of(looked_at)
        if (others >= 0).any():
            other = (looked_at[others >= 0].iloc[0], DATE_FORMS[others[others >= 0][0]].label)
            chosen = date_format if form.ordered else form.label
            raise _mixed(name, (text[~unread].iloc[0], chosen), other)
        _refuse_value(name, values[unread], text[unread], date_format, named)
    return date_format


def _forms_of(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """For each stripped text value: whether it has the shape of a date form, and the index in
    DATE_FORMS of the form it reads in (-1: none; ``31/31/2024`` has a shape but reads in none)."""
    shaped = np.zeros(len(text), dtype=bool)
    form_of = np.full(len(text), -1)
    for i, form in enumerate(DATE_FORMS):
        match = text.str.fullmatch(form.pattern).to_numpy(dtype=bool, na_value=False)
        if not match.any():
            continue
        shaped |= match
        at = np.flatnonzero(match & (form_of < 0))
        reads = np.zeros(len(at), dtype=bool)
        for date_format in form.formats:
            reads |= _read(text.iloc[at], date_format).notna().to_numpy()
        form_of[at[reads]] = i
    return shaped, form_of


def _read(text: pd.Series, date_format: str) -> pd.Series:
    return pd.to_datetime(text, format=date_format, errors="coerce", utc=True)


def _choose_format(form: DateForm, text: pd.Series, name: str) -> str:
    """The one format of ``form`` that every value of its shape reads in (the whole column's
    distinct values decide: a day above 12 in the first field means day first)."""
    if len(form.formats) == 1:
        return form.formats[0]
    distinct = pd.Series(text.unique(), dtype=text.dtype)
    first, second = candidates = form.formats
    if " %H" in first:  # the order is in the date before the time: far fewer distinct values
        distinct = pd.Series(distinct.str.replace(r" .*", "", regex=True).unique())
        first, second = (f[: f.index(" %H")] for f in candidates)
    reads_first = _read(distinct, first).notna().to_numpy()
    reads_second = _read(distinct, second).notna().to_numpy()
    only_first, only_second = reads_first & ~reads_second, reads_second & ~reads_first
    if only_first.any() and only_second.any():
        raise _mixed(name, (distinct[only_first].iloc[0], candidates[0]),
                     (distinct[only_second].iloc[0], candidates[1]))  # fmt: skip
    if not only_first.any() and not only_second.any() and form.ordered:
        example = distinct[reads_first].iloc[0] if reads_first.any() else text.iloc[0]
        raise UserInputError(
            f"column '{name}' holds dates such as {example!r} whose day/month order cannot be "
            "told (no value has a day above 12); name its format: "
            f"-P datetime={as_override(name)}:{candidates[0]} (day first) or "
            f"-P datetime={as_override(name)}:{candidates[1]} (month first)"
        )
    return candidates[1] if reads_second.sum() > reads_first.sum() else candidates[0]


def _mixed(name: str, first: tuple[str, str], second: tuple[str, str]) -> UserInputError:
    (one, one_form), (other, other_form) = first, second
    return UserInputError(
        f"column '{name}' mixes two date forms, such as {one!r} ({one_form}) and {other!r} "
        f"({other_form}); write it in one form, or name the one to read with "
        f"-P datetime={as_override(name)}:<format> (values in other forms become missing)"
    )


def _refuse_value(
    name: str, values: pd.Series, text: pd.Series, date_format: str | None, named: bool
) -> None:
    """Refuse a date column for its first value in ``text`` (stripped ``values``): one that
    reads in none of the forms, or not in ``date_format``, the column's."""
    bad, row = text.iloc[0], values.index[0]
    if date_format is None and named:
        raise UserInputError(
            f"datetime column '{name}' has values in none of the date forms read here, such as "
            f"{bad!r} (row {row}); name its format: -P datetime={as_override(name)}:<format> "
            "(e.g. %d/%m/%Y), values not in it become missing"
        )
    fix = (
        f"-P datetime={as_override(name)}:{date_format} (values not in it become missing)"
        if date_format
        else f"-P datetime={as_override(name)}:<format>"
    )
    if named:
        raise UserInputError(
            f"datetime column '{name}' has value(s) that do not parse as dates in its form "
            f"({date_format}), such as {bad!r} (row {row}); fix them, leave them empty, or name "
            f"the format: {fix}"
        )
    raise UserInputError(
        f"column '{name}' holds dates, but {bad!r} (row {row}) is not one; fix it, or name "
        f"the format: {fix}, or put the column in categorical= or drop="
    )


def _named_format(column: pd.Series, name: str, given: str | None) -> str:
    """The format of a column named in ``datetime=``: the one given after the colon (checked to
    read some of the values), else decided from the values as for any column."""
    if given is None:
        if pd.api.types.is_datetime64_any_dtype(column):
            return ISO_FORMAT
        decided = _date_format(column.dropna(), name, named=True)
        assert decided is not None  # a named column's format is decided, or it is refused
        return decided
    hint = f"write it with strftime codes, e.g. datetime={as_override(name)}:%d/%m/%Y"
    if given != ISO_FORMAT and "%" not in given:
        raise UserInputError(
            f"datetime={as_override(name)}:{given}: {given!r} is not a date format; {hint}"
        )
    try:
        _read(pd.Series(["0"]), given)
    except ValueError as exc:
        raise UserInputError(f"datetime={as_override(name)}:{given}: {exc}; {hint}") from None
    values = column.dropna()
    if parse_dates(values, given).isna().all():
        raise UserInputError(
            f"datetime={as_override(name)}:{given} reads none of the values of column "
            f"'{name}', such as "
            f"{_short(values.iloc[0])}; give the format they are written in, e.g. %d/%m/%Y "
            "for 14/03/2024"
        )
    return given


def parse_dates(column: pd.Series, date_format: str | None = None) -> pd.Series:
    """Datetimes in UTC (naive values taken as UTC); NaT where a value is missing or unreadable.

    With ``date_format`` (a strftime format, or ISO_FORMAT) each text value is read in exactly
    that format (surrounding spaces aside): a value in another form is NaT, never guessed;
    datetime values pass as they are, anything else is NaT. Without one (the preprocessors of
    models logged before formats), as then: ISO 8601 fast, other forms guessed one by one.
    """
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.to_datetime(column, utc=True).dt.as_unit("us")
    if date_format is not None:
        if isinstance(column.dtype, pd.StringDtype):  # text only, as read from a file
            text = column.str.strip()
        else:  # text, datetime values, other things (missing)
            text = pd.Series([_date_or_text(v) for v in column.astype(object)],
                             index=column.index, dtype=object)  # fmt: skip
        # Microseconds hold years 1 to 9999 (nanoseconds stop at 2262: 9999-12-31 "never").
        return _read(text, date_format).dt.as_unit("us")
    text = column.astype(object).where(column.notna(), None)
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601").dt.as_unit("us")
    retry = parsed.isna() & column.notna()
    if retry.any():
        again = pd.to_datetime(text[retry], errors="coerce", utc=True, format="mixed")
        parsed[retry] = again.dt.as_unit("us")
    return parsed


def _date_or_text(value):
    if isinstance(value, str):
        return value.strip()
    return value if isinstance(value, dt.date | np.datetime64) else None


def _short(value) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(roles: Roles, features: pd.DataFrame, encoded: list[str]) -> dict:
    """``features.json``: one entry per input column (role, dtype, reason; a date column's
    format) and encoded names."""
    columns = []
    for name in map(str, features.columns):
        role = roles.role(name)
        entry = {"name": name, "role": role, "dtype": str(features[name].dtype)}
        if role == "dropped":
            entry["reason"] = roles.dropped[name]
        elif name in roles.chosen:
            entry["reason"] = f"{role}= names it"
        if role == "datetime" and name in roles.formats:
            entry["format"] = roles.formats[name]
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

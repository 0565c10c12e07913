"""The reference profile every model carries (``artifacts/profile.json``), and counting a batch
into the profile's buckets.

A profile describes the training table the model learned from, column by column, in buckets a
later batch is counted into (``common.drift`` compares the two):

- a number: about ten quantile bins (``edges`` between them) and missing;
- a category or boolean: the most frequent values (``top``), every other training value
  (``other``), values training never saw (``unseen``: zero in the reference) and missing; the
  whole training vocabulary is kept when it is at most ``VOCABULARY`` values, else unseen values
  cannot be told from rare seen ones and count as ``other``;
- a date: its range and format, and buckets in range, before it, after it and missing.

It also holds the model's predictions on the test split (class shares, or bins of the
predicted value), the training target's distribution (the naive baseline's predictions) and the
test metrics. The same ``count`` turns a pandas batch or a Spark partition (``common.spark.
profiling``) into bucket counts, so both engines count identically.

Everything in it is data (numbers and strings) checked by ``read``: nothing in a profile
chooses what code runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common.columns import Roles, parse_dates
from common.preprocessing import normalize_features

FORMAT = 1
FILE_NAME = "profile.json"
# Inner quantiles of a number column's bins: ten bins of about a tenth of the rows each.
QUANTILES = tuple(i / 10 for i in range(1, 10))
TOP = 20  # categories with their own bucket; the rest share "other"
VOCABULARY = 200  # distinct training values kept, so unseen ones can be recognised
VOCABULARY_TEXT = 4000  # ... and their characters at most: a column of long texts keeps none
PREDICTION = "prediction"  # the predictions' entry, beside the input columns
MAX_TEXT = 200  # characters of a category value kept in the profile

NUMERIC_ROLES = ("numeric",)
CATEGORY_ROLES = ("categorical", "boolean")
ROLES = ("numeric", "categorical", "boolean", "datetime")


class ProfileError(ValueError):
    """A profile.json that is not one this code wrote (hand-edited, truncated, another format)."""


@dataclass(frozen=True)
class Entry:
    """One column's reference: its role, missing share and buckets (see the module docstring)."""

    column: str
    role: str
    missing: float
    edges: tuple[float, ...] = ()  # numbers: bins (-inf, e0], (e0, e1], ..., (e_last, inf)
    shares: tuple[float, ...] = ()  # numbers: each bin's share of all rows
    top: tuple[tuple[str, float], ...] = ()  # categories: (value, share) by share
    other: float = 0.0  # categories: the share of every other training value
    vocabulary: tuple[str, ...] | None = None  # categories: all training values, when few
    low: str | None = None  # dates: the earliest and latest training date (ISO 8601, UTC)
    high: str | None = None
    date_format: str | None = None

    @property
    def buckets(self) -> list[str]:
        """The buckets' labels, in the order ``count`` counts them."""
        if self.role in NUMERIC_ROLES:
            edges = [f"{e:.4g}" for e in self.edges]
            if not edges:
                return ["all", "missing"]
            inner = [f"({a}, {b}]" for a, b in itertools.pairwise(edges)]
            return [f"<= {edges[0]}", *inner, f"> {edges[-1]}", "missing"]
        if self.role in CATEGORY_ROLES:
            return [value for value, _ in self.top] + ["other", "unseen", "missing"]
        return ["in range", "before", "after", "missing"]

    @property
    def reference(self) -> np.ndarray:
        """The reference's share of rows in each bucket (summing to one)."""
        if self.role in NUMERIC_ROLES:
            values = [*self.shares, self.missing]
        elif self.role in CATEGORY_ROLES:
            values = [share for _, share in self.top] + [self.other, 0.0, self.missing]
        else:
            values = [1.0 - self.missing, 0.0, 0.0, self.missing]
        return np.asarray(values, dtype="float64")

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column, "role": self.role, "missing": self.missing}
        if self.role in NUMERIC_ROLES:
            out |= {"edges": list(self.edges), "shares": list(self.shares)}
        elif self.role in CATEGORY_ROLES:
            out |= {
                "top": [[value, share] for value, share in self.top],
                "other": self.other,
                "vocabulary": None if self.vocabulary is None else list(self.vocabulary),
            }
        else:
            out |= {"min": self.low, "max": self.high, "format": self.date_format}
        return out


@dataclass(frozen=True)
class Profile:
    """A model's reference profile (``profile.json``)."""

    task: str
    rows: int  # training rows profiled
    columns: tuple[Entry, ...]
    prediction: Entry | None  # the model's predictions on the test split
    target: Mapping[str, Any]  # classes and their shares, or the target's mean and std
    metrics: Mapping[str, float]  # the test metrics
    test_rows: int = 0  # rows behind the predictions' reference

    @property
    def entries(self) -> list[Entry]:
        """The input columns' entries, then the predictions' (what ``count`` counts)."""
        return [*self.columns, *([self.prediction] if self.prediction else [])]

    @property
    def roles(self) -> Roles:
        """The input columns' roles, date formats included, to normalize a batch with."""
        by_role = {role: tuple(e.column for e in self.columns if e.role == role) for role in ROLES}
        formats = {e.column: e.date_format for e in self.columns if e.date_format}
        return Roles(**by_role, formats=formats)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "task": self.task,
            "rows": self.rows,
            "columns": [entry.as_json() for entry in self.columns],
            "prediction": self.prediction.as_json() if self.prediction else None,
            "target": dict(self.target),
            "metrics": dict(self.metrics),
            "test_rows": self.test_rows,
        }

    def dumps(self) -> str:
        return json.dumps(strict_json(self.as_json()), separators=(",", ":"))


def strict_json(value):
    """``value`` with NaN and infinite floats (ROC AUC of a one-class split) as None: strict
    JSON, which other tools read."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


# ---- building a profile (pandas; common.spark.profiling builds the same on Spark) -------------


def category_text(column: pd.Series, role: str) -> pd.Series:
    """A normalized category or boolean column as the profile's text values (NaN: missing)."""
    if role == "boolean":  # normalize_features gives 1.0 / 0.0 / NaN
        return pd.Series(
            np.where(column == 1.0, "true", np.where(column == 0.0, "false", None)),
            index=column.index, dtype=object,
        )  # fmt: skip
    return column.astype(object).where(column.notna(), None)


def number_entry(name: str, values: np.ndarray, *, edges: Sequence[float] | None = None) -> Entry:
    """A number column's entry from all its values (NaN: missing); ``edges`` when known
    (Spark's approximate quantiles), else the exact quantiles of ``values``."""
    values = np.asarray(values, dtype="float64")
    present = values[~np.isnan(values)]
    if edges is None:
        edges = np.quantile(present, QUANTILES) if len(present) else []
    edges = _edges(edges)
    rows = max(len(values), 1)
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    return Entry(
        column=name, role="numeric", missing=_share(len(values) - len(present), rows),
        edges=tuple(edges), shares=tuple(_share(c, rows) for c in counts),
    )  # fmt: skip


def _edges(edges: Sequence[float]) -> list[float]:
    """Distinct finite edges in order (ties: a column where a tenth of the rows share a value)."""
    return sorted({float(e) for e in edges if math.isfinite(float(e))})


def _share(count: float, rows: int) -> float:
    return round(float(count) / rows, 6)


def category_entry(name: str, role: str, counts: Mapping[str, int], missing: int) -> Entry:
    """A category or boolean column's entry from its value counts (text values) and missing
    rows."""
    rows = max(sum(counts.values()) + missing, 1)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    top = tuple((value[:MAX_TEXT], _share(c, rows)) for value, c in ordered[:TOP])
    other = sum(c for _, c in ordered[TOP:])
    vocabulary = None
    if len(ordered) <= VOCABULARY and sum(len(v) for v, _ in ordered) <= VOCABULARY_TEXT:
        vocabulary = tuple(sorted(v for v, _ in ordered))
    return Entry(
        column=name, role=role, missing=_share(missing, rows), top=top,
        other=_share(other, rows), vocabulary=vocabulary,
    )  # fmt: skip


def date_entry(name: str, dates: pd.Series, date_format: str | None) -> Entry:
    """A date column's entry from its parsed (UTC) dates."""
    present = dates.dropna()
    low, high = (present.min(), present.max()) if len(present) else (None, None)
    return Entry(
        column=name, role="datetime", missing=_share(dates.isna().sum(), max(len(dates), 1)),
        low=low.isoformat() if low is not None else None,
        high=high.isoformat() if high is not None else None, date_format=date_format,
    )  # fmt: skip


def column_entries(features: pd.DataFrame, roles: Roles) -> list[Entry]:
    """Every used column's entry from normalized features (``normalize_features``)."""
    entries = []
    for name in roles.used:
        role = roles.role(name)
        column = features[name]
        if role == "numeric":
            entries.append(number_entry(name, column.to_numpy(dtype="float64", na_value=np.nan)))
        elif role in CATEGORY_ROLES:
            text = category_text(column, role)
            counts = text.value_counts(dropna=True)
            entries.append(
                category_entry(
                    name, role, {str(k): int(v) for k, v in counts.items()}, int(text.isna().sum())
                )
            )
        else:
            entries.append(date_entry(name, column, roles.formats.get(name)))
    return entries


def prediction_entry(task: str, output: np.ndarray, classes: Sequence | None) -> Entry:
    """The predictions' entry: predicted class shares (every class in the vocabulary), or bins
    of the predicted value. ``output``: class probabilities (n, K) or predicted values."""
    output = np.asarray(output, dtype="float64")
    if task == "regression":
        return number_entry(PREDICTION, output)
    labels = [label_text(c) for c in classes or []]
    counts = np.bincount(output.argmax(axis=1), minlength=len(labels))
    entry = category_entry(
        PREDICTION, "categorical", dict(zip(labels, map(int, counts), strict=True)), 0
    )
    return dataclasses.replace(entry, vocabulary=tuple(sorted(labels)))


def _texts(values: pd.Series) -> dict:
    """Each distinct value of ``values`` -> its ``label_text``."""
    return {value: label_text(value) for value in values.dropna().unique()}


def label_text(label) -> str:
    """A class label as the profile writes it (``1``, ``yes``)."""
    return str(label.item() if isinstance(label, np.generic) else label)


def target_summary(task: str, y: np.ndarray, classes: Sequence | None) -> dict[str, Any]:
    """The training target: class shares (the naive baseline's probabilities), or mean and
    standard deviation (its prediction)."""
    if task == "classification":
        counts = np.bincount(np.asarray(y, dtype="int64"), minlength=len(classes or []))
        return {
            "classes": [label_text(c) for c in classes or []],
            "shares": [float(c) / max(len(y), 1) for c in counts],
        }
    values = np.asarray(y, dtype="float64")
    return {"mean": float(values.mean()), "std": float(values.std())}


def build(
    features: pd.DataFrame,
    roles: Roles,
    *,
    task: str,
    y: np.ndarray,
    classes: Sequence | None,
    test_output: np.ndarray | None,
    metrics: Mapping[str, float],
) -> Profile:
    """The profile of a training table held in pandas (normalized features, encoded target)."""
    return Profile(
        task=task,
        rows=len(features),
        columns=tuple(column_entries(features, roles)),
        prediction=None if test_output is None else prediction_entry(task, test_output, classes),
        target=target_summary(task, y, classes),
        metrics={k: float(v) for k, v in metrics.items()},
        test_rows=0 if test_output is None else len(test_output),
    )


# ---- counting a batch --------------------------------------------------------------------------


def layout(entries: Sequence[Entry]) -> list[int]:
    """How many buckets each entry has: where its counts sit in ``count``'s array."""
    return [len(entry.buckets) for entry in entries]


def count(frame: pd.DataFrame, profile: Profile, *, predictions: pd.Series | None) -> np.ndarray:
    """Every entry's bucket counts over raw ``frame`` rows (a batch, or a Spark partition), one
    int64 array in ``profile.entries`` order (``layout``). ``predictions``: the model's
    ``prediction`` column for these rows (labels or values), None when the profile has none."""
    features = normalize_features(frame, profile.roles)
    parts = [_count_entry(entry, features[entry.column]) for entry in profile.columns]
    if profile.prediction is not None:
        if predictions is None:
            raise ValueError("the profile describes predictions but none were given")
        entry = profile.prediction
        if entry.role == "numeric":
            values = pd.Series(np.asarray(predictions, dtype="float64"), index=frame.index)
        else:
            values = pd.Series(predictions, index=frame.index)
            values = values.map(_texts(values))  # each distinct label written once
        parts.append(_count_entry(entry, values))
    return np.concatenate(parts) if parts else np.zeros(0, dtype="int64")


def _count_entry(entry: Entry, column: pd.Series) -> np.ndarray:
    if entry.role in NUMERIC_ROLES:
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        present = values[~np.isnan(values)]
        bins = np.bincount(
            np.searchsorted(np.asarray(entry.edges), present, side="left"),
            minlength=len(entry.edges) + 1,
        )
        return np.append(bins, len(values) - len(present)).astype("int64")
    if entry.role in CATEGORY_ROLES:
        text = category_text(column, entry.role) if entry.role == "boolean" else column
        # Counted per distinct value: a batch holds few, and its rows are never walked in Python.
        counts = text.value_counts(dropna=True)
        values, numbers = pd.Index(counts.index.astype(object)), counts.to_numpy(dtype="int64")
        at = pd.Index([value for value, _ in entry.top], dtype=object).get_indexer(values)
        top = np.bincount(at[at >= 0], weights=numbers[at >= 0], minlength=len(entry.top))
        rest, rest_numbers = values[at < 0], numbers[at < 0]
        if entry.vocabulary is None:
            other, unseen = int(rest_numbers.sum()), 0
        else:
            seen = pd.Index(entry.vocabulary, dtype=object).get_indexer(rest) >= 0
            other, unseen = int(rest_numbers[seen].sum()), int(rest_numbers[~seen].sum())
        missing = len(text) - int(numbers.sum())
        return np.append(top, [other, unseen, missing]).astype("int64")
    dates = column if pd.api.types.is_datetime64_any_dtype(column) else parse_dates(column)
    present = dates.dropna()
    low = pd.Timestamp(entry.low) if entry.low else None
    high = pd.Timestamp(entry.high) if entry.high else None
    before = int((present < low).sum()) if low is not None else 0
    after = int((present > high).sum()) if high is not None else 0
    inside = len(present) - before - after
    return np.asarray([inside, before, after, len(dates) - len(present)], dtype="int64")


def split_counts(profile: Profile, counts: np.ndarray) -> dict[str, np.ndarray]:
    """``count``'s array as each entry's counts, by column name (``prediction`` last)."""
    out, start = {}, 0
    for entry, size in zip(profile.entries, layout(profile.entries), strict=True):
        out[entry.column] = np.asarray(counts[start : start + size], dtype="int64")
        start += size
    if start != len(counts):
        raise ValueError(f"{len(counts)} counts for a layout of {start}")
    return out


# ---- reading a profile back ----------------------------------------------------------------


def read(text: str) -> Profile:
    """Parse and check a ``profile.json``.

    Raises:
        ProfileError: it is not JSON of this format, or a field is missing or of a wrong kind.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"profile.json is not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ProfileError(f"profile.json has format {found!r}; this code reads {FORMAT}")
    try:
        task = _one_of(data["task"], ("classification", "regression"), "task")
        columns = tuple(_entry(item) for item in _list(data["columns"], "columns"))
        prediction = None if data["prediction"] is None else _entry(data["prediction"])
        target = data["target"]
        metrics = {str(k): _number(v, k) for k, v in dict(data["metrics"]).items() if v is not None}
        rows = int(data["rows"])
        test_rows = int(data.get("test_rows") or 0)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"profile.json: {exc}") from None
    names = [entry.column for entry in columns]
    if len(set(names)) != len(names):
        raise ProfileError("profile.json: a column appears twice")
    if not isinstance(target, dict):
        raise ProfileError("profile.json: target is not an object")
    return Profile(task, rows, columns, prediction, target, metrics, test_rows)


def _entry(item: Any) -> Entry:
    if not isinstance(item, dict):
        raise ValueError(f"a column entry is {type(item).__name__}, not an object")
    name = item["column"]
    if not isinstance(name, str):
        raise ValueError(f"column name {name!r}")
    role = _one_of(item["role"], ROLES, f"column {name!r}: role")
    missing = _number(item["missing"], "missing")
    if role in NUMERIC_ROLES:
        edges = tuple(_number(e, "edge") for e in _list(item["edges"], "edges"))
        shares = tuple(_number(s, "share") for s in _list(item["shares"], "shares"))
        if len(shares) != len(edges) + 1 or list(edges) != sorted(set(edges)):
            raise ValueError(f"column {name!r}: edges and shares do not fit together")
        return Entry(name, role, missing, edges=edges, shares=shares)
    if role in CATEGORY_ROLES:
        top = tuple((_text(v), _number(s, "share")) for v, s in _list(item["top"], "top"))
        vocabulary = item["vocabulary"]
        if vocabulary is not None:
            vocabulary = tuple(_text(v) for v in _list(vocabulary, "vocabulary"))
        return Entry(
            name, role, missing, top=top, other=_number(item["other"], "other"),
            vocabulary=vocabulary,
        )  # fmt: skip
    low, high, fmt = item["min"], item["max"], item["format"]
    for value in (low, high, fmt):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"column {name!r}: date fields must be text")
    if low is not None:
        pd.Timestamp(low)
        pd.Timestamp(high)
    return Entry(name, role, missing, low=low, high=high, date_format=fmt)


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"category value {value!r} is not text")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} {value!r} is not a number")
    return float(value)


def _one_of(value: Any, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value

"""The reference profile (``common.profile``) of a table on Spark, and a batch's bucket counts on
Spark, without collecting rows: only aggregates reach the driver.

Building: every partition's used columns are normalized exactly as on one node
(``pandas_dtypes`` then ``normalize_features``), then Spark aggregates them: approximate
quantiles for the number columns' bin edges (relative error ``QUANTILE_ERROR``), exact counts
per bin with those edges, value counts of the categories, the dates' range, the target's
distribution. Counting a batch runs ``common.profile.count`` in every partition and sums the
arrays, so a batch counts the same on Spark as in pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from common import profile
from common.columns import parse_dates
from common.preprocessing import normalize_features
from common.spark.tables import LABEL_COLUMN, SparkTable, _quoted, label_codes, pandas_dtypes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

QUANTILE_ERROR = 1e-3
_EPOCH = pd.Timestamp(0, tz="UTC")


def build(table: SparkTable, test_output: np.ndarray, metrics: dict[str, float]) -> profile.Profile:
    """The profile of the whole table on Spark, with the test split's output (collected by the
    evaluation already) as the predictions' reference."""
    from pyspark.sql import functions as sf

    roles, sample = table.roles, table.sample
    used = roles.used
    alias = {name: f"c{i}" for i, name in enumerate(used)}
    norm = _normalized(table, alias).persist()
    try:
        totals = norm.agg(
            sf.count(sf.lit(1)).alias("rows"),
            *[sf.count(sf.col(alias[c])).alias(f"n_{alias[c]}") for c in used],
            *[sf.min(sf.col(alias[c])).alias(f"lo_{alias[c]}") for c in roles.datetime],
            *[sf.max(sf.col(alias[c])).alias(f"hi_{alias[c]}") for c in roles.datetime],
        ).collect()[0]
        rows = int(totals["rows"])
        numbers = [alias[c] for c in roles.numeric]
        quantiles = norm.approxQuantile(numbers, list(profile.QUANTILES), QUANTILE_ERROR)
        edges = {c: profile._edges(q) for c, q in zip(roles.numeric, quantiles, strict=True)}
        bins = _bin_counts(norm, {alias[c]: edges[c] for c in roles.numeric})
        entries = []
        for name in used:
            role, column = roles.role(name), alias[name]
            present = int(totals[f"n_{column}"])
            if role == "numeric":
                counts = bins[column]
                entries.append(
                    profile.Entry(
                        column=name,
                        role=role,
                        missing=profile._share(rows - present, rows),
                        edges=tuple(edges[name]),
                        shares=tuple(profile._share(c, rows) for c in counts),
                    )
                )
            elif role in profile.CATEGORY_ROLES:
                entries.append(_category(norm, name, role, column, rows, present))
            else:
                low, high = totals[f"lo_{column}"], totals[f"hi_{column}"]
                entries.append(
                    profile.Entry(
                        column=name,
                        role=role,
                        missing=profile._share(rows - present, rows),
                        low=_iso(low),
                        high=_iso(high),
                        date_format=roles.formats.get(name),
                    )
                )
        target = _target(norm, sample.task, sample.classes)
    finally:
        norm.unpersist()
    return profile.Profile(
        task=sample.task,
        rows=rows,
        columns=tuple(entries),
        prediction=profile.prediction_entry(sample.task, test_output, sample.classes),
        target=target,
        metrics={k: float(v) for k, v in metrics.items()},
        test_rows=len(test_output),
    )


def _normalized(table: SparkTable, alias: dict[str, str]) -> DataFrame:
    """The used columns normalized per partition (numbers and booleans' categories as on one
    node; dates as microseconds since 1970 UTC) under ``alias`` names, with the target's class
    code or value as ``LABEL_COLUMN``."""
    from pyspark.sql import functions as sf
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    roles, types, sample = table.roles, table.types, table.sample
    used, target, classes = roles.used, sample.target, sample.classes
    kinds = {"numeric": DoubleType(), "categorical": StringType(), "boolean": StringType(),
             "datetime": LongType()}  # fmt: skip
    fields = [StructField(alias[c], kinds[roles.role(c)], True) for c in used]
    schema = StructType([*fields, StructField(LABEL_COLUMN, DoubleType(), True)])

    def normalize(batches):
        for batch in batches:
            features = normalize_features(pandas_dtypes(batch[used], types), roles)
            out = {}
            for name in used:
                role, column = roles.role(name), features[name]
                if role == "numeric":
                    out[alias[name]] = column.to_numpy(dtype="float64", na_value=np.nan)
                elif role in profile.CATEGORY_ROLES:
                    out[alias[name]] = profile.category_text(column, role)
                else:
                    out[alias[name]] = _micros(column)
            out[LABEL_COLUMN] = label_codes(batch[target], classes)
            yield pd.DataFrame(out, index=batch.index)

    frame = table.frame.select(*[_quoted(c) for c in dict.fromkeys([*used, target])])
    normalized = frame.mapInPandas(normalize, schema)
    doubles = [alias[c] for c in roles.numeric] + [LABEL_COLUMN]
    # A NaN is a missing value, as in pandas (Spark counts and sorts NaN as a number).
    return normalized.select(
        *[
            sf.when(sf.isnan(sf.col(f.name)), None).otherwise(sf.col(f.name)).alias(f.name)
            if f.name in doubles
            else sf.col(f.name)
            for f in schema.fields
        ]
    )


def _micros(column: pd.Series) -> pd.Series:
    dates = column if pd.api.types.is_datetime64_any_dtype(column) else parse_dates(column)
    micros = (dates - _EPOCH) // pd.Timedelta(microseconds=1)
    return micros.astype("Int64")


def _iso(micros) -> str | None:
    if micros is None:
        return None
    return (_EPOCH + pd.Timedelta(microseconds=int(micros))).isoformat()


def _bin_counts(norm: DataFrame, edges: dict[str, list[float]]) -> dict[str, list[int]]:
    """Rows per bin (-inf, e0], (e0, e1], ..., (e_last, inf) of every number column, one pass."""
    from pyspark.sql import functions as sf

    expressions, names = [], []
    for column, cuts in edges.items():
        value = sf.col(column)
        bounds = [None, *cuts, None]
        for i in range(len(cuts) + 1):
            low, high = bounds[i], bounds[i + 1]
            condition = value.isNotNull()
            if low is not None:
                condition &= value > sf.lit(low)
            if high is not None:
                condition &= value <= sf.lit(high)
            expressions.append(sf.sum(sf.when(condition, 1).otherwise(0)).alias(f"b{len(names)}"))
            names.append(column)
    if not expressions:
        return {}
    row = norm.agg(*expressions).collect()[0]
    out: dict[str, list[int]] = {column: [] for column in edges}
    for i, column in enumerate(names):
        out[column].append(int(row[f"b{i}"] or 0))
    return out


def _category(norm: DataFrame, name: str, role: str, column: str, rows: int, present: int):
    """A category column's entry from Spark's value counts (the ``VOCABULARY + 1`` most
    frequent: enough to know whether the vocabulary is complete)."""
    from pyspark.sql import functions as sf

    counted = (
        norm.filter(sf.col(column).isNotNull())
        .groupBy(column)
        .count()
        .orderBy(sf.desc("count"), sf.asc(column))
        .limit(profile.VOCABULARY + 1)
        .collect()
    )
    counts = {str(r[column]): int(r["count"]) for r in counted}
    entry = profile.category_entry(name, role, counts, rows - present)
    rest = present - sum(counts.values())
    if rest or len(counts) > profile.VOCABULARY:  # values beyond the ones counted: "other"
        top_share = sum(share for _, share in entry.top)
        other = profile._share(present, rows) - top_share
        return profile.Entry(
            column=name, role=role, missing=entry.missing, top=entry.top,
            other=round(max(other, 0.0), 6), vocabulary=None,
        )  # fmt: skip
    return entry


def _target(norm: DataFrame, task: str, classes: list | None) -> dict:
    from pyspark.sql import functions as sf

    label = sf.col(LABEL_COLUMN)
    if task == "classification":
        counts = {int(r[0]): int(r[1]) for r in norm.groupBy(LABEL_COLUMN).count().collect()
                  if r[0] is not None}  # fmt: skip
        total = max(sum(counts.values()), 1)
        return {
            "classes": [profile.label_text(c) for c in classes or []],
            "shares": [counts.get(i, 0) / total for i in range(len(classes or []))],
        }
    row = norm.agg(sf.avg(label), sf.stddev_pop(label)).collect()[0]
    return {"mean": float(row[0]), "std": float(row[1] or 0.0)}


def batch_counts(
    frame: DataFrame,
    reference: profile.Profile,
    types,
    *,
    prediction: str | None,
    target: str | None = None,
    codes: Callable[[pd.Series], np.ndarray] | None = None,
    outputs: Sequence[str] = (),
) -> tuple[np.ndarray, int, np.ndarray | None, np.ndarray | None]:
    """``common.profile.count`` over a Spark batch in one pass: each partition counts its rows
    into the profile's buckets (``prediction``: the column of the model's predictions) and the
    driver sums the arrays (one small array per Arrow batch). With a ``target``, each partition
    also hands over its labels' ``codes`` and the model's ``outputs`` columns, never features.

    Returns:
        (summed counts, rows, label codes or values, outputs (n, len(outputs))), the last two
        None without a target.
    """
    from pyspark.sql.types import ArrayType, DoubleType, LongType, StructField, StructType

    used = [entry.column for entry in reference.columns]
    labelled = target is not None
    names = [f"o{i}" for i in range(len(outputs))] if labelled else []
    # Without a target one row per Arrow batch: its counts. With one, a row per input row (its
    # label code and the model's outputs, columnar through Arrow), the first of each batch also
    # carrying the batch's counts: still one pass over the rows.
    fields = [StructField("counts", ArrayType(LongType()), True),
              StructField("rows", LongType(), True),
              *[StructField(n, DoubleType(), True) for n in ["y", *names] if labelled]]  # fmt: skip
    size = sum(profile.layout(reference.entries))

    def count(batches):
        for batch in batches:
            rows = pandas_dtypes(batch[used], types)
            predictions = batch[prediction] if prediction else None
            counted = profile.count(rows, reference, predictions=predictions).tolist()
            if not labelled:
                yield pd.DataFrame({"counts": [counted], "rows": [len(batch)]})
                continue
            labels = pandas_dtypes(batch[[target]], types)[target]
            out = pd.DataFrame({"y": codes(labels)}, index=batch.index)
            for name, column in zip(names, outputs, strict=True):
                out[name] = batch[column].to_numpy("float64")
            out.insert(0, "rows", pd.array([len(batch)] + [None] * (len(batch) - 1), "Int64"))
            out.insert(0, "counts", [counted] + [None] * (len(batch) - 1))
            yield out

    columns = dict.fromkeys([*used, *([prediction] if prediction else []),
                             *([target] if labelled else []), *outputs])  # fmt: skip
    partials = frame.select(*[_quoted(c) for c in columns]).mapInPandas(count, StructType(fields))
    collected = partials.toPandas()
    total = np.zeros(size, dtype="int64")
    for counted in collected["counts"].dropna():
        total += np.asarray(counted, dtype="int64")
    rows = int(collected["rows"].dropna().sum())
    if not labelled:
        return total, rows, None, None
    y = collected["y"].to_numpy("float64")
    output = collected[names].to_numpy("float64")
    return total, rows, y, (output if len(outputs) > 1 else output.ravel())

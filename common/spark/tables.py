"""Tables too big for one pandas frame: read, check, split, sample and encode them on Spark.

``-P engine=spark`` trainers read ``--data`` as a Spark DataFrame. Its forms:

- a Parquet or CSV file, or a folder of them (Spark's own output folders): a local path,
  ``file://``, ``dbfs:/``, ``/Volumes/...``, ``s3://``, ``abfss://``, ``gs://`` (whatever the
  cluster's Spark can read). ``.csv`` in the path means CSV (header row, types inferred); anything
  else is read as Parquet, the files of a folder merged into one schema;
- a catalog table: ``table:<name>``, or a bare ``schema.table`` / ``catalog.schema.table``;
- ``builtin:<name>``: scikit-learn's bundled sets, for trying the engine on small data.

What needs the whole table is done on Spark, in passes that keep nothing on the driver: row
count, target checks, class counts, the content digest, the split. Column roles
(``common.columns``) and the preprocessor (``common.preprocessing``) come from a seeded sample of
at most ``SAMPLE_ROWS`` rows, stratified by class: medians, scales and the 50 most frequent
categories are estimated to well within their noise from 100,000 rows, and the fitted object is
the very scikit-learn preprocessor the single-node path fits, so the logged pyfunc serves raw
rows the same way. Every partition is then encoded with it (``mapInPandas``).

Spark's types are not the ones pandas reads from the same file: a CSV's integers are inferred as
``int`` (int32 in pandas), its dates and timestamps as ``date``/``timestamp`` (pandas: text), a
Parquet ``float`` is float32. Every pandas frame made of Spark rows here (the sample, each
partition encoded or scored) goes through ``pandas_dtypes`` first, so the roles, the preprocessor
and the model's signature and input example see the dtypes ``common.data.read_table`` gives:
the logged model accepts the rows ``pandas.read_csv``/``read_parquet`` read from its training
file (issue 20: it refused them with "Can not safely convert int64 to int32"). One difference
is left: Spark's CSV inference reads whole numbers written with leading zeros (zip codes) as
numbers, where ``read_table`` keeps them as text; cast such a column to string in the table.

The split is decided per row by a seeded hash of the row's values: the same table and seed give
the same split on any partitioning, and identical rows never straddle train and test. It is not
stratified; with a table worth Spark, class shares differ from the table's by a fraction of a
percent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from common import data
from common.errors import UserInputError, one_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from common.columns import Roles

SAMPLE_ROWS = 100_000
# Smallest share of each class in the sample: every class of the table is in it, with enough
# rows for a stratified check (classes smaller than this are taken whole).
MIN_CLASS_ROWS = 50
# Distinct target values looked at on Spark; more classes than this is refused.
MAX_CLASSES = 1000
# Test rows whose predictions are brought to the driver for the metrics and plots; a larger test
# split is scored on a seeded sample of this many rows (``test_rows_scored`` says how many).
MAX_SCORED_ROWS = 1_000_000
SPLIT_COLUMN = "__split__"
LABEL_COLUMN = "__label__"
_HASH_BUCKETS = 1_000_000
_TABLE_NAME = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*){1,2}$")


def read(spark: SparkSession, source: str) -> DataFrame:
    """``source`` (see the module docstring) as a Spark DataFrame.

    Raises:
        UserInputError: a path or table that does not exist, an unreadable file, or a Parquet
            folder whose files disagree on a column's type.
    """
    if source.startswith("builtin:"):
        frame, _, _ = data.read_table(source)
        return spark.createDataFrame(frame)
    try:
        if source.startswith("table:") or _is_table_name(source):
            return spark.table(source.removeprefix("table:"))
        location = _spark_path(source)
        if _is_csv(location):
            reader = spark.read.option("header", "true").option("inferSchema", "true")
            return reader.csv(location)
        return spark.read.option("mergeSchema", "true").parquet(location)
    except Exception as exc:  # AnalysisException and friends: one line naming the table
        raise UserInputError(f"data '{source}': {_spark_reason(exc)}") from exc


def _is_table_name(source: str) -> bool:
    return (
        _TABLE_NAME.match(source) is not None
        and not Path(source).exists()
        and Path(source).suffix.lower() not in data.SUFFIXES
    )


def _spark_path(source: str) -> str:
    """A path Spark reads: local paths absolute (Spark resolves relative ones elsewhere)."""
    if "://" in source or source.startswith("dbfs:"):
        return source
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise UserInputError(f"no such file or folder ({path})")
    return str(path)


def _is_csv(location: str) -> bool:
    """Read as CSV (header row, types inferred): a ``.csv`` path or a folder of CSV files."""
    return ".csv" in Path(location).name.lower() or _folder_of(location, ".csv")


def _folder_of(location: str, suffix: str) -> bool:
    path = Path(location)
    return path.is_dir() and any(p.suffix.lower() == suffix for p in path.iterdir())


def _spark_reason(exc: BaseException) -> str:
    """One line of what Spark said, without its error class prefix and JVM stack."""
    if isinstance(exc, UserInputError):
        return str(exc)
    text = str(getattr(exc, "desc", None) or exc)
    if "CANNOT_MERGE" in text or "Failed to merge" in text:
        schemas = [_fields(found) for found in re.findall(r'"STRUCT<(.*)>"', text)]
        differ = []
        if len(schemas) == 2:
            first, second = schemas
            differ = [
                f"'{name}' ({first[name]} vs {second[name]})"
                for name in first
                if name in second and first[name] != second[name]
            ]
        column = f" column {', '.join(differ)}" if differ else " a column"
        return f"files of the folder disagree on the type of{column}; make it the same in all"
    line = one_line(Exception(text))
    return re.sub(r"^\[[A-Z_.]+\]\s*", "", line)


def _fields(struct: str) -> dict[str, str]:
    """``a: DOUBLE, `b c`: STRUCT<x: INT>`` -> {"a": "DOUBLE", "b c": "STRUCT<x: INT>"}."""
    fields, depth, start = {}, 0, 0
    for i, char in enumerate(struct + ","):
        depth += (char == "<") - (char == ">")
        if char == "," and depth == 0:
            name, _, kind = struct[start:i].strip().partition(": ")
            fields[name.strip("`")] = kind
            start = i + 1
    return fields


def spark_failure(exc: BaseException) -> str | None:
    """One line for a failed Spark job (a task or a barrier worker raised), else None."""
    names = {type(e).__name__ for e in _chain(exc)}
    if names & {"Py4JNetworkError", "Py4JError"} and "Py4JJavaError" not in names:
        return f"Spark's JVM is gone (killed, or out of memory?): {one_line(exc)}"
    if not names & {"Py4JJavaError", "PythonException", "SparkException", "XGBoostError"}:
        return None
    text = "\n".join(str(e) for e in _chain(exc))
    python = re.findall(r"^(\w+(?:Error|Exception)): (.+)$", text, flags=re.MULTILINE)
    reason = f"{python[-1][0]}: {python[-1][1]}" if python else one_line(exc)
    return f"a Spark worker failed: {reason[:300]}"


def _chain(exc: BaseException | None):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


_SPARK_INTEGERS = frozenset({"tinyint", "smallint", "int", "bigint"})


@dataclass(frozen=True)
class ColumnTypes:
    """What ``pandas_dtypes`` needs to know of a table Spark read.

    ``spark``: column -> Spark type name (``DataType.simpleString()``: ``int``, ``float``,
    ``date``, ``timestamp``...); ``gaps``: the columns missing a value somewhere in the whole
    table (a sample or a partition may hold none of its gaps); ``csv``: read from CSV text;
    ``time_zone``: the Spark session's, in which Spark hands ``timestamp`` values to pandas.
    """

    spark: Mapping[str, str]
    gaps: frozenset[str] = field(default_factory=frozenset)
    csv: bool = False
    time_zone: str = "UTC"


def column_types(spark: SparkSession, frame: DataFrame, gaps: set[str], csv: bool) -> ColumnTypes:
    """``frame``'s ``ColumnTypes``: its schema's types and the session's time zone."""
    spark_types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    time_zone = spark.conf.get("spark.sql.session.timeZone", "UTC")
    return ColumnTypes(spark_types, frozenset(gaps), csv, time_zone)


def pandas_dtypes(frame: pd.DataFrame, types: ColumnTypes) -> pd.DataFrame:
    """Spark rows as ``toPandas``/``mapInPandas`` hand them over, with the dtypes pandas gives
    when it reads the same file (``common.data.read_table``); columns not in ``types`` as they
    are.

    - integers (``tinyint`` to ``bigint``): int64 (a CSV's ``int`` arrives as int32, which a
      signature types ``integer`` and MLflow then refuses int64 for); float64 where the table
      has gaps (pandas' CSV type, and what the single-node record makes of Parquet's Int64),
      also in a sample or partition that holds none of them;
    - ``float``: float64 (a signature typed ``double`` accepts float32 and float64);
    - ``boolean``: bool, or Python objects with None where missing when the table has gaps
      (Spark hands a partition without gaps over as bool);
    - from a CSV, ``date`` and ``timestamp`` columns: the ISO text pandas reads (Spark infers
      ``date`` only from ``yyyy-MM-dd`` text, so the text is the file's); missing stays NaN;
    - from Parquet or a table, ``timestamp`` (an instant): timezone-aware UTC, as pandas reads
      a zoned Parquet column; Spark hands it over as naive wall-clock time of its session's
      time zone. ``date`` (``datetime.date`` objects) and ``timestamp_ntz`` (naive datetimes)
      are what pandas reads already.
    """
    columns = {}
    for name, column in frame.items():
        kind = types.spark.get(str(name))
        if kind in _SPARK_INTEGERS:
            gaps = name in types.gaps or bool(column.isna().any())
            column = column.astype("float64" if gaps else "int64")
        elif kind == "float":
            column = column.astype("float64")
        elif kind == "boolean":
            if name in types.gaps or column.isna().any():
                column = column.astype(object).where(column.notna(), None)
            else:
                column = column.astype(bool)
        elif kind in ("date", "timestamp", "timestamp_ntz") and types.csv:
            column = column.astype(str).where(column.notna()).astype("str")
        elif kind == "timestamp":
            column = pd.to_datetime(column)  # datetime64 also for a partition of gaps only
            if column.dt.tz is None:
                column = column.dt.tz_localize(
                    types.time_zone, ambiguous=False, nonexistent="shift_forward"
                )
            column = column.dt.tz_convert("UTC")
        columns[name] = column
    return pd.DataFrame(columns, index=frame.index)


@dataclass(frozen=True)
class SparkTable:
    """A table on Spark, checked and split, with the sample its roles and preprocessor come from.

    ``sample`` is a ``TabularData`` of at most ``SAMPLE_ROWS`` rows with the whole table's task
    and classes, in the dtypes pandas reads (``pandas_dtypes``); ``frame`` the Spark rows with
    ``SPLIT_COLUMN`` (train, validation, test); ``types`` what turns a partition of them into
    the same dtypes as the sample.
    """

    frame: DataFrame
    sample: data.TabularData
    sample_split: pd.Series  # each sample row's split
    rows: int
    test_rows: int
    digest: str
    source: str
    types: ColumnTypes = field(default_factory=lambda: ColumnTypes({}))

    @property
    def task(self) -> str:
        return self.sample.task

    @property
    def roles(self) -> Roles:
        return self.sample.roles


def load(
    spark: SparkSession,
    source: str,
    *,
    target: str,
    task: str,
    overrides: dict,
    test_size: float,
    validation_fraction: float,
    seed: int,
) -> SparkTable:
    """Read ``source``, check the target on the whole table, split it and sample it.

    ``validation_fraction`` of the training rows are marked ``validation`` (early stopping).

    Raises:
        UserInputError: what ``common.data.prepare`` refuses, found on the whole table.
    """
    from pyspark.sql import functions as sf

    target = data.resolve_target(source, target)
    data.check_task(task)
    frame = read(spark, source)
    data.check_columns(frame.columns, target, source)
    label = sf.col(_quoted(target))
    everything = [sf.col(_quoted(c)) for c in frame.columns]
    hashed = sf.pmod(sf.xxhash64(sf.lit(seed), *everything), sf.lit(_HASH_BUCKETS)) / _HASH_BUCKETS
    # Integer and boolean columns with a gap anywhere take another dtype in pandas.
    gappy = [
        f.name
        for f in frame.schema.fields
        if f.dataType.simpleString() in _SPARK_INTEGERS | {"boolean"}
    ]
    totals = frame.agg(
        sf.count(sf.lit(1)).alias("rows"),
        sf.count(label).alias("labelled"),
        sf.sum(sf.xxhash64(*everything).cast("decimal(38,0)")).alias("hash"),
        sf.count(sf.when(hashed < test_size, 1)).alias("test"),  # the split below's test rows
        *[sf.count(sf.col(_quoted(name))).alias(f"present_{i}") for i, name in enumerate(gappy)],
    ).first()
    rows, labelled = totals["rows"], totals["labelled"]
    gaps = {name for i, name in enumerate(gappy) if totals[f"present_{i}"] < rows}
    types = column_types(spark, frame, gaps, csv=_read_as_csv(source))
    data.check_rows(rows, source)
    data.check_labelled(rows, labelled, target)
    schema = repr([(f.name, f.dataType.simpleString()) for f in frame.schema.fields])
    digest = hashlib.sha256(f"{totals['hash']}:{rows}:{schema}".encode()).hexdigest()[:12]
    counts = _label_counts(frame, target)
    resolved = task
    if task == "auto":
        resolved = data.infer_task(pd.Series(list(counts))) if counts else "regression"
    if resolved == "classification":
        if counts is None:
            raise UserInputError(
                f"target column '{target}' has more than {MAX_CLASSES} distinct values; "
                "engine=spark classifies into at most that many classes"
            )
        data.check_classes(counts, target)
    cut = test_size + (1.0 - test_size) * validation_fraction
    split = sf.when(hashed < test_size, "test").when(hashed < cut, "validation").otherwise("train")
    frame = frame.withColumn(SPLIT_COLUMN, split)
    sample_frame = pandas_dtypes(_sample(frame, target, resolved, counts, rows, seed), types)
    sample_split = sample_frame.pop(SPLIT_COLUMN)
    name = data.table_name(source.removeprefix("table:"))
    prepared = data.prepare(
        sample_frame, target=target, task=resolved, source=source, name=name, overrides=overrides
    )
    if resolved == "classification" and len(prepared.classes) != len(counts):
        missing = sorted(set(map(str, counts)) - set(map(str, prepared.classes)))
        raise UserInputError(f"target column '{target}': classes {missing} missing from sample")
    return SparkTable(frame, prepared, sample_split, rows, totals["test"], digest, source, types)


def _read_as_csv(source: str) -> bool:
    """Whether ``read`` reads ``source`` as CSV."""
    if source.startswith(("builtin:", "table:")) or _is_table_name(source):
        return False
    return _is_csv(_spark_path(source))


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _label_counts(frame: DataFrame, target: str) -> dict | None:
    """Rows per distinct target value, or None when there are more than ``MAX_CLASSES``."""
    grouped = frame.groupBy(_quoted(target)).count().limit(MAX_CLASSES + 1).collect()
    if len(grouped) > MAX_CLASSES:
        return None
    return {row[0]: row[1] for row in grouped}


def _sample(
    frame: DataFrame, target: str, task: str, counts: dict | None, rows: int, seed: int
) -> pd.DataFrame:
    """At most ~``SAMPLE_ROWS`` rows, seeded; per class at least ``MIN_CLASS_ROWS`` (or all)."""
    share = min(1.0, SAMPLE_ROWS / rows)
    if task == "classification":
        fractions = {
            label: min(1.0, max(share, MIN_CLASS_ROWS / count)) for label, count in counts.items()
        }
        picked = frame if share == 1.0 else frame.sampleBy(target, fractions, seed=seed)
    else:
        picked = frame if share == 1.0 else frame.sample(fraction=share, seed=seed)
    return picked.toPandas()


def encoder(table: SparkTable, preprocessor) -> tuple[Any, Any]:
    """A ``mapInPandas`` function and its output schema: each row encoded by ``preprocessor``
    into ``f_0..f_{n-1}`` (doubles), its label code (``LABEL_COLUMN``) and its split."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    from common.preprocessing import feature_names, normalize_features

    sample = table.sample
    roles, target, classes, types = sample.roles, sample.target, sample.classes, table.types
    width = len(feature_names(preprocessor))
    fields = [StructField(f"f_{i}", DoubleType(), False) for i in range(width)]
    schema = StructType(
        [
            *fields,
            StructField(LABEL_COLUMN, DoubleType(), False),
            StructField(SPLIT_COLUMN, StringType(), False),
        ]
    )

    def encode(batches):
        for batch in batches:
            features = normalize_features(pandas_dtypes(batch, types), roles)
            values = np.asarray(preprocessor.transform(features), dtype="float64")
            out = pd.DataFrame(values, columns=[f.name for f in fields], index=batch.index)
            out[LABEL_COLUMN] = label_codes(batch[target], classes)
            out[SPLIT_COLUMN] = batch[SPLIT_COLUMN].to_numpy()
            yield out

    return encode, schema


def label_codes(labels: pd.Series, classes: list | None) -> np.ndarray:
    """Class codes (index in ``classes``) as float, or the values for regression."""
    if classes is None:
        return pd.to_numeric(labels).to_numpy("float64")
    lookup = {value: code for code, value in enumerate(classes)}
    codes = labels.map(lambda v: lookup.get(data.plain_label(v), lookup.get(v, np.nan)))
    return codes.to_numpy("float64")


def held_out_rows(table: SparkTable, *, seed: int) -> tuple[DataFrame, int]:
    """The test split's rows (a seeded sample of ``MAX_SCORED_ROWS`` when it has more), and
    how many test rows the table has (counted by ``load``'s pass over the table)."""
    from pyspark.sql import functions as sf

    test = table.frame.filter(sf.col(SPLIT_COLUMN) == "test")
    if table.test_rows > MAX_SCORED_ROWS:
        test = test.sample(fraction=MAX_SCORED_ROWS / table.test_rows, seed=seed)
    return test, table.test_rows


def training_shares(table: SparkTable) -> np.ndarray | float:
    """What the naive baseline knows of the training part: class shares, or the mean value."""
    from pyspark.sql import functions as sf

    sample = table.sample
    rows = table.frame.filter(sf.col(SPLIT_COLUMN) != "test")
    if sample.classes is None:
        return float(rows.agg(sf.avg(_quoted(sample.target))).first()[0])
    counts = dict(rows.groupBy(_quoted(sample.target)).count().collect())
    lookup = {data.plain_label(k): v for k, v in counts.items()}
    values = np.array([lookup.get(c, 0) for c in sample.classes], dtype="float64")
    return values / values.sum()


def udf_scored_test_rows(
    spark: SparkSession, table: SparkTable, model_uri: str, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``model_uri``'s output on the test split through ``mlflow.pyfunc.spark_udf`` (the gate's
    way to score a registered model on Spark): (label codes or values, output)."""
    import mlflow
    from pyspark.sql import functions as sf

    sample = table.sample
    classes, target, used = sample.classes, sample.target, sample.roles.used
    outputs = [f"probability_{c}" for c in classes] if classes else ["prediction"]
    result_type = ", ".join(f"`{name}` double" for name in outputs)
    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=result_type, env_manager="local")
    test, _ = held_out_rows(table, seed=seed)
    scored = test.select(
        sf.col(_quoted(target)).alias(LABEL_COLUMN),
        udf(sf.struct(*[sf.col(_quoted(c)) for c in used])).alias("out"),
    ).select(LABEL_COLUMN, "out.*")
    collected = scored.toPandas()
    y = label_codes(collected[LABEL_COLUMN], classes)
    output = collected[outputs].to_numpy("float64")
    return (y.astype("int64") if classes else y), (output if classes else output.ravel())


def scored_test_rows(table: SparkTable, model, *, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The served model's output on the test split, computed per partition from the raw rows.

    ``model`` is a ``common.pyfunc.TabularModel`` (the object the logged pyfunc loads). At most
    ``MAX_SCORED_ROWS`` rows' predictions reach the driver, never their features.

    Returns:
        (label codes or values, probabilities (n, K) or predictions, test rows in the table)
    """
    from pyspark.sql.types import DoubleType, StructField, StructType

    sample = table.sample
    classes, target, used = sample.classes, sample.target, sample.roles.used
    types = table.types
    test, total = held_out_rows(table, seed=seed)
    outputs = [f"p_{i}" for i in range(len(classes))] if classes else ["prediction"]
    schema = StructType([StructField(n, DoubleType(), True) for n in [LABEL_COLUMN, *outputs]])

    def score(batches):
        for batch in batches:
            result = model.predict(None, pandas_dtypes(batch[used], types))
            out = pd.DataFrame({LABEL_COLUMN: label_codes(batch[target], classes)})
            if classes:
                for i, label in enumerate(classes):
                    out[f"p_{i}"] = result[f"probability_{label}"].to_numpy("float64")
            else:
                out["prediction"] = result["prediction"].to_numpy("float64")
            yield out

    scored = test.select(*[_quoted(c) for c in {*used, target}]).mapInPandas(score, schema)
    collected = scored.toPandas()
    y = collected[LABEL_COLUMN].to_numpy()
    y = y.astype("int64") if classes else y
    output = collected[outputs].to_numpy("float64")
    return y, (output if classes else output.ravel()), total


def check_slots(spark: SparkSession, workers: int, *, flag: str) -> None:
    """Refuse more workers than Spark can run at once: a barrier stage would wait for ever."""
    if workers <= 0:
        raise UserInputError(f"{flag}={workers}: must be at least 1")
    cpus = int(spark.conf.get("spark.task.cpus", "1"))
    slots = max(1, spark.sparkContext.defaultParallelism // cpus)
    if workers > slots:
        raise UserInputError(
            f"{flag}={workers}: Spark has {slots} task slot(s) here "
            f"(master {spark.sparkContext.master}); ask for at most {slots}, or add executors"
        )

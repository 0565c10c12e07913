"""common.spark.tables.pandas_dtypes: Spark rows as pandas gets them -> the dtypes pandas reads.

The frames in are shaped as ``toPandas``/``mapInPandas`` hand over Spark rows (Arrow on, pyspark
4.3): ``int`` as int32, ``float`` as float32, ``date`` as ``datetime.date`` objects,
``timestamp`` as naive wall-clock datetimes of the session's time zone, an integer or boolean
column with a null in the batch as float64 / objects. No Spark needed.
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from common.spark.tables import ColumnTypes, pandas_dtypes

CSV_TEXT = """visits,active,signup,seen,amount,plan,calls,member
3,True,2024-03-01,2024-03-01 10:30:00,12.5,basic,1,True
7,False,,2024-03-02 08:00:00,,pro,,
11,True,2024-03-09,,4.25,plus,4,False
"""
CSV_TYPES = {
    "visits": "int",
    "active": "boolean",
    "signup": "date",
    "seen": "timestamp",
    "amount": "double",
    "plan": "string",
    "calls": "int",
    "member": "boolean",
}


def _spark_shaped_csv_rows(rows: slice = slice(None)) -> pd.DataFrame:
    """``CSV_TEXT`` as ``spark.read.csv(..., inferSchema=True).toPandas()`` gives it."""
    frame = pd.DataFrame(
        {
            "visits": np.array([3, 7, 11], dtype="int32"),
            "active": [True, False, True],
            "signup": [dt.date(2024, 3, 1), None, dt.date(2024, 3, 9)],
            "seen": pd.to_datetime(["2024-03-01 10:30:00", "2024-03-02 08:00:00", None]),
            "amount": [12.5, np.nan, 4.25],
            "plan": pd.Series(["basic", "pro", "plus"], dtype="str"),
            "calls": [1.0, np.nan, 4.0],  # an int column with a null arrives as float64
            "member": pd.Series([True, None, False], dtype=object),
        }
    )
    return frame.iloc[rows]


def test_csv_rows_get_the_dtypes_and_values_pandas_read_csv_gives():
    types = ColumnTypes(CSV_TYPES, gaps=frozenset({"calls", "member"}), csv=True)
    out = pandas_dtypes(_spark_shaped_csv_rows(), types)
    expected = pd.read_csv(io.StringIO(CSV_TEXT))
    assert list(out.columns) == list(expected.columns)
    for name in expected.columns:
        assert out[name].dtype == expected[name].dtype, name
    # pandas reads the boolean column with a gap as objects True/False/NaN; None here, as the
    # single-node record (common.data.TabularData.raw_rows) gives Parquet's nullable booleans.
    assert out["member"].isna().tolist() == expected["member"].isna().tolist()
    assert out["member"].dropna().tolist() == expected["member"].dropna().tolist()
    pd.testing.assert_frame_equal(out.drop(columns="member"), expected.drop(columns="member"))


def test_a_batch_without_the_tables_gaps_is_typed_like_the_whole_table():
    """Rows 0 and 2 hold no gap in ``calls`` and ``member``; the table has them: Spark hands
    them over as int32 and bool, pandas reads the whole column as float64 and objects."""
    types = ColumnTypes(CSV_TYPES, gaps=frozenset({"calls", "member"}), csv=True)
    batch = _spark_shaped_csv_rows(slice(0, 3, 2)).astype({"calls": "int32", "member": bool})
    out = pandas_dtypes(batch, types)
    assert out["calls"].dtype == "float64"
    assert out["calls"].tolist() == [1.0, 4.0]
    assert out["member"].dtype == object
    assert out["member"].tolist() == [True, False]
    assert out["visits"].dtype == "int64"
    assert out.index.tolist() == [0, 2]


def test_parquet_rows_get_the_dtypes_pandas_read_parquet_gives_ints_and_floats_widened():
    frame = pd.DataFrame(
        {
            "visits": np.array([1, 2], dtype="int32"),
            "small": np.array([1, 2], dtype="int8"),
            "ratio": np.array([0.5, 0.25], dtype="float32"),
            "day": [dt.date(2024, 1, 31), None],
            "local": pd.to_datetime(["2024-01-31 09:15:00", "2024-07-01 00:00:00"]),
            # a timestamp (an instant), handed over in the session's zone: New York here
            "at": pd.to_datetime(["2024-01-31 07:00:00", None]).as_unit("ns"),
            "count": np.array([5, 6], dtype="int64"),
            "__split__": ["train", "test"],
        }
    )
    spark = {
        "visits": "int", "small": "tinyint", "ratio": "float", "day": "date",
        "local": "timestamp_ntz", "at": "timestamp", "count": "bigint",
    }  # fmt: skip
    types = ColumnTypes(spark, gaps=frozenset({"count"}), time_zone="America/New_York")
    out = pandas_dtypes(frame, types)
    assert out["visits"].dtype == "int64"  # pandas reads int32: a long signature takes both
    assert out["small"].dtype == "int64"
    assert out["ratio"].dtype == "float64"  # pandas reads float32: a double signature takes both
    assert out["ratio"].tolist() == [0.5, 0.25]
    assert out["day"].tolist() == [dt.date(2024, 1, 31), None]  # as pandas reads a date32
    pd.testing.assert_series_equal(out["local"], frame["local"])  # naive, as pandas reads it
    assert str(out["at"].dtype).endswith(", UTC]")
    assert out["at"].iloc[0] == pd.Timestamp("2024-01-31 12:00:00", tz="UTC")
    assert out["at"].isna().tolist() == [False, True]
    assert out["count"].dtype == "float64"  # the table has gaps elsewhere
    assert out["__split__"].tolist() == ["train", "test"]  # not a column of the table


def test_a_partition_whose_timestamps_are_all_missing_is_still_datetimes():
    types = ColumnTypes({"at": "timestamp"})
    out = pandas_dtypes(pd.DataFrame({"at": pd.Series([None, None], dtype=object)}), types)
    assert str(out["at"].dtype).endswith(", UTC]")
    assert out["at"].isna().all()


@pytest.mark.parametrize("kind", ["date", "timestamp", "timestamp_ntz"])
def test_a_csv_partition_whose_dates_are_all_missing_is_missing_text(kind):
    types = ColumnTypes({"when": kind}, csv=True)
    out = pandas_dtypes(pd.DataFrame({"when": pd.Series([None, None], dtype=object)}), types)
    assert out["when"].dtype == pd.read_csv(io.StringIO("when\nx\n"))["when"].dtype  # str
    assert out["when"].isna().all()

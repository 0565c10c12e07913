"""The Spark session entry points use: the cluster's on Databricks, a local one elsewhere."""

from __future__ import annotations

import os
import sys

from common.environment import PROJECT_ROOT
from common.errors import UserInputError


def get_or_create(app_name: str, *, needed_for: str):
    """The active Spark session, or a local one whose Python workers are this interpreter.

    Args:
        app_name: Name of a new local session.
        needed_for: What asked for Spark, named in the error when pyspark is missing.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise UserInputError(
            f"{needed_for} runs on Spark, but pyspark is not installed here (Databricks "
            "runtimes have it; locally: pip install -r requirements-dev.lock)"
        ) from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # Spark's Python workers run `python3` from PATH unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # The daemon starts before addPyFile can ship code: it finds common/ through PYTHONPATH.
    paths = [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    return (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.python.daemon.module", "common.spark_daemon")
        .getOrCreate()
    )

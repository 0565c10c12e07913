"""The Spark session entry points use: the cluster's on Databricks, a local one elsewhere."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from common.environment import MODEL_PACKAGES, PROJECT_ROOT, write_code_archive
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
    print(f"starting a local Spark session for {needed_for} (~20 s the first time)")
    # PySpark 4.3 warns on every use that pandas >= 3 is "not fully supported"; spark_udf and
    # SparkTrials results are tested equal to pandas' here, so say it once instead.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    print(
        "note: PySpark 4.3 warns that pandas 3 is not fully supported; spark_udf and SparkTrials "
        "results are tested equal to pandas' here (warning silenced)"
    )
    session = (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # no stage bars over the trial lines
        .config("spark.python.daemon.module", "common.spark.daemon")
        .getOrCreate()
    )
    # WARN lines from every task flood the console; SPARK_LOG_LEVEL=WARN (or INFO) brings them back.
    session.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "ERROR"))
    return session


# The archive ``ship_code`` adds; Spark puts it in each executor's working folder by this name.
CODE_ARCHIVE = "tabular_code.zip"


def ship_code(spark) -> None:
    """Send the model's code (``common.environment.MODEL_PACKAGES``) to the executors of a cluster
    (a local session's workers import it from the project through PYTHONPATH already)."""
    if spark.sparkContext.master.startswith("local"):
        return
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="tabular-code-"))
    spark.sparkContext.addPyFile(str(write_code_archive(folder / CODE_ARCHIVE, MODEL_PACKAGES)))

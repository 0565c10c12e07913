"""The run of ``predict``: score a CSV or Parquet file with a registered or logged model; write and
log the predictions.

Its command line is ``entrypoints/predict.py``. The output is the input's rows with the model's
columns appended (``prediction``, and ``probability_<class>`` for classifiers).
``engine=pandas`` scores in this process; ``engine=spark`` scores with
``mlflow.pyfunc.spark_udf`` on the active Spark session (the cluster's on Databricks, local
Spark here) and writes Spark's output folder. Either way the output is logged as an artifact
under ``predictions/`` with the row counts as metrics. The run is named
``predict_<model>_v<version>`` (``predict_run_<run id>`` for a ``runs:/`` URI).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.types import DataType

from common import data
from common.errors import UserInputError, one_line
from common.spark import session as spark_session
from jobs import artifact_budget, context

ENTRY_POINT = "predict"


REGISTERED_VERSION = re.compile(r"models:/(?P<name>[^@/]+)/(?P<version>\d+)")


SUFFIXES = (".csv", ".parquet")


def resolve_model(model_uri: str) -> tuple[mlflow.models.model.ModelInfo, dict[str, str]]:
    """Check the model exists; return its info and tags naming it (version, source run)."""
    found = model_tags(model_uri)
    try:
        info = mlflow.models.get_model_info(model_uri)
    except Exception as exc:  # MlflowException or an OSError from the artifact store
        raise UserInputError(f"model_uri '{model_uri}': no model there ({exc})") from exc
    if info.run_id:
        found["model_run_id"] = info.run_id
    return info, found


def model_tags(model_uri: str) -> dict[str, str]:
    """Tags naming the model: its URI, and for a registered one its name and version (an
    alias resolved, refused when the model or the alias does not exist)."""
    found = {"model_uri": model_uri}
    if model_uri.startswith("models:/") and "@" in model_uri:
        name, _, alias = model_uri.removeprefix("models:/").partition("@")
        client = MlflowClient()
        try:
            registered = client.get_registered_model(name)
        except MlflowException as exc:
            raise UserInputError(f"model_uri '{model_uri}': no registered model '{name}'") from exc
        if alias not in registered.aliases:
            known = ", ".join(sorted(registered.aliases)) or "none"
            raise UserInputError(
                f"model_uri '{model_uri}': model '{name}' has no alias '{alias}' (aliases: {known})"
            )
        version = registered.aliases[alias]
        found |= {"model_name": name, "model_version": str(version)}
    elif match := REGISTERED_VERSION.fullmatch(model_uri):
        found |= {"model_name": match["name"], "model_version": match["version"]}
    return found


def text_inputs(info: mlflow.models.model.ModelInfo) -> list[str]:
    """The columns the model's signature takes as text: a CSV to score reads them as written,
    so a code like ``02134`` reaches the model as the text it was trained on."""
    if info.signature is None or info.signature.inputs is None:
        return []
    return [
        str(spec.name)
        for spec in info.signature.inputs.inputs
        if getattr(spec, "name", None) and getattr(spec, "type", None) == DataType.string
    ]


def run_name(found: dict[str, str], prefix: str = "predict") -> str:
    """``<prefix>_<model>_v<version>`` for a registered model, else ``<prefix>_run_<run id>``."""
    if "model_version" in found:
        return f"{prefix}_{found['model_name']}_v{found['model_version']}"
    if "model_run_id" in found:
        return f"{prefix}_run_{found['model_run_id'][:8]}"
    return f"{prefix}_model"


def _absolute(text: str, name: str) -> Path:
    """``text`` as an absolute path, refusing a relative one under ``mlflow run`` (whose command
    runs in the project folder, a temporary clone for git-URL runs)."""
    path = Path(text).expanduser()
    if not path.is_absolute() and os.environ.get("MLFLOW_RUN_ID"):
        raise UserInputError(
            f"{name} '{text}' is relative; under 'mlflow run' the command runs in the project "
            "folder (a temporary clone for git-URL runs): give an absolute path"
        )
    return path.resolve()


def input_path(text: str) -> str:
    """The input as an absolute path that must exist (``file://`` URIs included), or a remote
    URI as given (downloaded by common.data, which names it when that fails)."""
    parsed = urllib.parse.urlparse(text)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise UserInputError(f"input '{text}': a file:// URI names this machine's files only")
        text = urllib.parse.unquote(parsed.path)
    elif "://" in text or text.startswith("dbfs:"):
        return text
    path = _absolute(text, "input")
    if not path.is_file():
        raise UserInputError(f"input '{text}': no such file ({path})")
    return str(path)


# What Spark writes into its output folder; an existing folder holding anything else is the
# user's, and replacing it would delete their files.
SPARK_OUTPUT = re.compile(r"(part-.*|_SUCCESS|_committed_.*|_started_.*|\..*\.crc)")


def output_path(
    text: str, *, source: str = "", overwrite: bool = False, engine: str = "pandas"
) -> Path | None:
    """The output file or folder: a known format, never the input nor a folder holding it,
    never an existing path unless ``overwrite`` (and then only what this entry point writes),
    in a folder this process can write to."""
    if not text:
        return None
    path = _absolute(text, "output")
    if path.suffix.lower() not in SUFFIXES:
        raise UserInputError(f"output '{text}': use a {' or '.join(SUFFIXES)} file name")
    if source and "://" not in source:
        given = Path(source).resolve()
        if given == path or path in given.parents:
            raise UserInputError(
                f"output '{text}' is the input or holds it: write the predictions elsewhere"
            )
    if path.exists() and not overwrite:
        raise UserInputError(f"output '{text}' exists; pass overwrite=true to replace it")
    if path.is_dir() and (
        engine == "pandas" or not all(SPARK_OUTPUT.fullmatch(p.name) for p in path.iterdir())
    ):
        raise UserInputError(
            f"output '{text}' is a folder that predict did not write; name a file or a new folder"
        )
    parent = next((p for p in path.parents if p.exists()), None)
    try:  # a probe file says more than permission bits (root, read-only mounts, /proc)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".predict-probe-"):
            pass
    except OSError:
        raise UserInputError(
            f"output '{text}': '{parent}' is not a folder this run can write to"
        ) from None
    return path


def load(model_uri: str):
    """The pyfunc model; one line naming the model when its files do not load."""
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:  # corrupt or tampered files: skops, JSON, torch all raise their own
        reason = one_line(exc)
        raise UserInputError(
            f"model_uri '{model_uri}': the model does not load ({reason})"
        ) from exc


class _Timer:
    """Seconds spent per named phase (model loading apart from scoring)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def score_pandas(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The input rows with the loaded pyfunc ``model``'s output columns appended."""
    try:
        scored = model.predict(frame)
    except MlflowException as exc:  # the signature's schema check names the column
        # MLflow's message repeats the whole input and schema before the part that matters.
        reason = exc.message.rpartition("Error: ")[2]
        raise UserInputError(f"input does not fit the model's signature: {reason}") from exc
    taken = [str(c) for c in scored.columns if c in frame.columns]
    if taken:
        raise UserInputError(
            f"input already has column(s) {', '.join(taken)}, which the scored output adds; "
            "rename or drop them"
        )
    return pd.concat([frame, scored.set_axis(frame.index)], axis=1)


def _spark_table(spark, path: Path, *, typed: bool):
    """Read a CSV (with a header; column types inferred when ``typed``) or Parquet path."""
    reader = spark.read.option("header", True).option("inferSchema", typed)
    return reader.csv(str(path)) if path.suffix.lower() == ".csv" else reader.parquet(str(path))


def score_spark(model_uri: str, inputs: list[str], source: Path, destination: Path, timer: _Timer):
    """Score ``source`` with ``spark_udf`` into Spark's output folder ``destination``.

    Args:
        inputs: The model signature's input columns.

    Returns:
        (rows read, rows written).
    """
    from pyspark.sql import functions

    spark = spark_session.get_or_create("predict", needed_for="engine=spark")
    frame = _spark_table(spark, source, typed=True)
    missing = [c for c in inputs if c not in frame.columns]
    if missing:
        raise UserInputError(f"input is missing column(s) the model needs: {', '.join(missing)}")
    with timer.phase("load"):
        udf = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local")
    from pyspark.sql.types import StructType

    scored = frame.withColumn(
        "_scored", udf(functions.struct(*[functions.col(f"`{c}`") for c in inputs]))
    )
    if isinstance(scored.schema["_scored"].dataType, StructType):  # a classifier's columns
        scored = scored.select("*", "_scored.*").drop("_scored")
    else:  # one output column (a regressor's): spark_udf returns the value, not a struct
        scored = scored.withColumnRenamed("_scored", "prediction")
    writer = scored.write.mode("overwrite")
    with timer.phase("scoring"):  # Spark scores lazily: while it writes
        if destination.suffix.lower() == ".csv":
            writer.option("header", True).csv(str(destination))
        else:
            writer.parquet(str(destination))
    return frame.count(), _spark_table(spark, destination, typed=False).count()


def run(args) -> int:
    artifact_budget.limit_mb()  # a bad budget is refused before any work
    source = input_path(args.input)
    destination = output_path(
        args.output, source=source, overwrite=args.overwrite, engine=args.engine
    )
    with context.entry_point_run(ENTRY_POINT, args, stage="predict") as run:
        info, model_tags = resolve_model(args.model_uri)
        mlflow.set_tags(model_tags)
        context.title_run(run_name(model_tags))
        scratch = Path(tempfile.mkdtemp(prefix="predict-"))
        timer = _Timer()
        if args.engine == "pandas":
            frame, _, name = data.read_table(source, text=text_inputs(info))
            if frame.empty:
                raise UserInputError(f"input '{args.input}' has no rows to score")
            with timer.phase("load"):
                model = load(args.model_uri)
            with timer.phase("scoring"):
                scored = score_pandas(model, frame)
            target = destination or scratch / f"{name}_predictions.parquet"
            with _replacing(target, overwrite=args.overwrite) as partial:
                if target.suffix.lower() == ".csv":
                    scored.to_csv(partial, index=False)
                else:
                    scored.to_parquet(partial, index=False)
            rows_in, rows_out = len(frame), len(scored)
        else:
            local = data.localize(source)
            if local.suffix.lower() not in SUFFIXES:
                raise UserInputError(f"input '{args.input}': expected a .csv or .parquet file")
            target = destination or scratch / f"{local.stem}_predictions.parquet"
            inputs = info.signature.inputs.input_names()
            with _replacing(target, overwrite=args.overwrite) as partial:
                rows_in, rows_out = score_spark(args.model_uri, inputs, local, partial, timer)
        seconds = timer.seconds["scoring"]
        mlflow.log_metrics(
            {
                "rows_in": rows_in,
                "rows_out": rows_out,
                "load_seconds": timer.seconds["load"],
                "scoring_seconds": seconds,
                "rows_per_second": rows_out / seconds,  # scoring only, not loading
            }
        )
        logged = f"predictions/{target.name}"
        artifact_budget.admit(run.info.run_id, target, logged)
        if target.is_dir():
            mlflow.log_artifacts(str(target), logged)
        else:
            mlflow.log_artifact(str(target), "predictions")
        if rows_out != rows_in:
            raise RuntimeError(f"scored {rows_out} rows of {rows_in}")
        print(
            f"loaded the model in {timer.seconds['load']:.2f} s, scored {rows_out} rows in "
            f"{seconds:.2f} s -> {target}"
        )
    return 0


@contextmanager
def _replacing(target: Path, *, overwrite: bool) -> Iterator[Path]:
    """A temporary sibling of ``target`` to write; moved into place only when writing worked,
    so a failure leaves an existing output as it was and no half-written file. Without
    ``overwrite`` the move refuses an output that appeared meanwhile (another predict)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".partial-{os.getpid()}-{target.name}")  # same suffix: format
    try:
        try:
            yield partial
        except OSError as exc:
            raise UserInputError(f"output '{target}': could not write it ({exc})") from exc
        try:
            _move_into_place(partial, target, overwrite=overwrite)
        except FileExistsError:
            raise UserInputError(
                f"output '{target}' appeared while scoring (another run?); it was left as it is"
            ) from None
        except OSError as exc:
            raise UserInputError(
                f"output '{target}': could not move it into place ({exc})"
            ) from exc
    finally:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        elif partial.exists():
            partial.unlink()


def _move_into_place(partial: Path, target: Path, *, overwrite: bool) -> None:
    if not overwrite:
        if partial.is_dir():
            target.mkdir()  # FileExistsError if anything is there now, else an empty folder
            os.replace(partial, target)  # onto the empty folder we own
        else:
            os.link(partial, target)  # FileExistsError instead of replacing
        return
    if partial.is_dir() and target.exists():  # Spark's output folder: swap, then drop the old
        old = target.with_name(f".old-{os.getpid()}-{target.name}")
        os.replace(target, old)
        os.replace(partial, target)
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    else:
        os.replace(partial, target)

"""The run of ``monitor``: compare a batch of rows with the model's reference profile (drift per
column and in its predictions) and, given the labels, its metrics with its test metrics.

Its command line is ``entrypoints/monitor.py``. The model's own ``artifacts/profile.json``
(``common.profile``) is the reference, so ``models:/<name>@champion`` alone is enough.
``engine=pandas`` scores and counts in this process; ``engine=spark`` scores with
``mlflow.pyfunc.spark_udf`` and counts per partition (``common.spark.profiling``), one pass over
the batch, only counts and (with a target) the labels and outputs reaching the driver.

Logged: ``psi/<column>``, ``missing_change/<column>`` and ``unseen_share/<column>`` metrics,
``drift.json`` (one entry per input column), ``monitoring.json`` (the verdict, the thresholds,
the predictions' drift, the metrics), ``plots/drift.png``; tags ``drift_detected``,
``performance_degraded``, ``monitor_verdict`` (``retrain`` or ``ok``), ``drifted_columns``,
``model_name``, ``model_version``. A registered version gets ``monitoring_run_id``,
``monitoring_verdict`` and ``monitoring_drifted_columns`` tags, which ``main -P
retrain=if_drift`` reads. ``fail_on_drift=true`` ends the run FAILED (exit status 1) with one
line naming the drifted columns, after logging all of it, so a scheduled job alerts.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from common import data, drift, metrics, plots, profile
from common.errors import CheckFailed, UserInputError, one_line
from common.spark import session as spark_session
from jobs import context, scoring
from jobs.monitor_tags import COLUMNS_TAG, OK, RETRAIN, RUN_TAG, VERDICT_TAG

ENTRY_POINT = "monitor"
# The Databricks task value a job's condition task reads: {{tasks.<monitor task>.values.<this>}}.
TASK_VALUE = "monitor_verdict"
PREDICTION_COLUMN = "__prediction__"
PLOTTED = 3  # most drifted columns drawn beside the PSI bars


@dataclass
class Batch:
    """What a batch gave: bucket counts per entry, rows, and with a target the labels' codes
    (or values) and the model's output on the labelled rows."""

    counts: dict[str, np.ndarray]
    rows: int
    y: np.ndarray | None = None
    output: np.ndarray | None = None


def read_reference(model_uri: str) -> tuple[Path, profile.Profile]:
    """Download the model once (its files are loaded from there) and read its profile."""
    folder = Path(tempfile.mkdtemp(prefix="monitor-model-"))
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=folder))
    except Exception as exc:  # MlflowException, or an OSError of the artifact store
        raise UserInputError(
            f"model_uri '{model_uri}': could not download it ({one_line(exc)})"
        ) from exc
    path = local / "artifacts" / profile.FILE_NAME
    if not path.is_file():
        raise UserInputError(
            f"model_uri '{model_uri}' has no reference profile (artifacts/{profile.FILE_NAME}): "
            "it was logged before monitoring existed; retrain it with this code (train_<name> "
            "or main) and register the new version to monitor it"
        )
    try:
        return local, profile.read(path.read_text(encoding="utf-8"))
    except (profile.ProfileError, UnicodeDecodeError) as exc:
        raise UserInputError(f"model_uri '{model_uri}': {exc}") from None


def check_columns(columns, reference: profile.Profile, target: str) -> None:
    """The batch holds every input column of the model, and the target when one is named."""
    have = {str(c) for c in columns}
    missing = [e.column for e in reference.columns if e.column not in have]
    if missing:
        raise UserInputError(
            f"input is missing column(s) the model takes: {', '.join(map(repr, missing))}"
        )
    if target and target not in have:
        raise UserInputError(f"target '{target}' is not a column of the input")


def target_codes(labels: pd.Series, reference: profile.Profile, target: str) -> np.ndarray:
    """The labelled rows' class codes (index in the model's classes) or values; NaN where the
    label is missing. Refuses labels of another type, or classes the model never saw."""
    present = labels.notna()
    if reference.task == "regression":
        values = pd.to_numeric(labels, errors="coerce")
        bad = labels[present & values.isna()]
        if len(bad):
            raise UserInputError(
                f"target '{target}' holds {str(bad.iloc[0])[:60]!r}, not a number: the model "
                "predicts numbers (a regression)"
            )
        return values.to_numpy("float64")
    classes = list(reference.target.get("classes", []))
    lookup = {label: code for code, label in enumerate(classes)}
    # Each distinct label written once, never row by row.
    written = {v: profile.label_text(_whole(v)) for v in labels[present].unique()}
    text = labels[present].map(written)
    unseen = sorted(set(written.values()) - set(lookup))
    if unseen:
        shown = ", ".join(repr(v) for v in unseen[:5]) + (" ..." if len(unseen) > 5 else "")
        raise UserInputError(
            f"target '{target}' holds class(es) the model never saw: {shown} (its classes: "
            f"{', '.join(map(repr, classes))})"
        )
    codes = np.full(len(labels), np.nan)
    codes[present.to_numpy()] = text.map(lookup).to_numpy("float64")
    return codes


def _whole(value):
    """1.0 read from a column with gaps is the class 1."""
    value = data.plain_label(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def output_of(scored: pd.DataFrame, reference: profile.Profile) -> np.ndarray:
    """Class probabilities (n, K) in the profile's class order, or predicted values."""
    if reference.task == "regression":
        return scored["prediction"].to_numpy("float64")
    names = [f"probability_{label}" for label in reference.target["classes"]]
    by_text = {str(c): c for c in scored.columns}
    return np.column_stack([scored[by_text[n]].to_numpy("float64") for n in names])


def pandas_batch(local: Path, meta: Model, source: str, reference: profile.Profile, args) -> Batch:
    frame, _, _ = data.read_table(source, text=scoring.text_inputs(meta))
    check_columns(frame.columns, reference, args.target)
    if frame.empty:
        raise UserInputError(f"input '{args.input}' has no rows to monitor")
    y = target_codes(frame[args.target], reference, args.target) if args.target else None
    # The model's own code scores the rows (its ``TabularModel``), without MLflow's signature
    # check, which walks every value of a loosely typed column in Python (~2 s per million
    # rows and column here): the columns are checked above and the model checks their values.
    model = scoring.load(str(local)).unwrap_python_model()
    used = [e.column for e in reference.columns]
    try:
        scored = model.predict(None, frame[used])
    except MlflowException as exc:  # the model's InputError: text in a number column
        raise UserInputError(f"input: {one_line(exc)}") from exc
    counts = profile.count(frame, reference, predictions=scored["prediction"])
    batch = Batch(profile.split_counts(reference, counts), len(frame))
    if y is not None:
        labelled = ~np.isnan(y)
        batch.y, batch.output = y[labelled], output_of(scored, reference)[labelled]
    return batch


def spark_batch(local: Path, meta: Model, source: str, reference: profile.Profile, args) -> Batch:
    from pyspark.sql import functions as sf
    from pyspark.sql.types import StructType

    from common.spark import profiling
    from common.spark import tables as spark_tables

    spark = spark_session.get_or_create("monitor", needed_for="engine=spark")
    frame = spark_tables.read(spark, source)
    check_columns(frame.columns, reference, args.target)
    used = [e.column for e in reference.columns]
    udf = mlflow.pyfunc.spark_udf(spark, str(local), env_manager="local")
    quoted = [sf.col(spark_tables._quoted(c)) for c in used]
    scored = frame.withColumn("_scored", udf(sf.struct(*quoted)))
    classifier = isinstance(scored.schema["_scored"].dataType, StructType)
    prediction = sf.col("_scored.prediction") if classifier else sf.col("_scored")
    scored = scored.withColumn(PREDICTION_COLUMN, prediction)
    if classifier:  # the probabilities, for the metrics
        for label in reference.target["classes"]:
            name = f"probability_{label}"
            scored = scored.withColumn(name, sf.col("_scored").getField(name))
    types = spark_tables.column_types(
        spark, frame, set(), csv=spark_tables._read_as_csv(source)
    )  # fmt: skip
    label = args.target or None
    if label is not None:
        _check_spark_target(frame, reference, label)
    counts, rows, y, output = profiling.batch_counts(
        scored, reference, types, prediction=PREDICTION_COLUMN, target=label,
        codes=lambda labels: target_codes(labels, reference, label),
        outputs=_output_columns(reference, classifier),
    )  # fmt: skip
    if rows == 0:  # known from the one pass, not from a job of its own
        raise UserInputError(f"input '{args.input}' has no rows to monitor")
    batch = Batch(profile.split_counts(reference, counts), rows)
    if label is not None:
        labelled = ~np.isnan(y)
        batch.y, batch.output = y[labelled], output[labelled]
    return batch


def _check_spark_target(frame, reference: profile.Profile, target: str) -> None:
    """``target_codes``'s refusals on the driver, from the distinct labels (classes) or the
    first value that is not a number (regression), before any partition is scored."""
    from pyspark.sql import functions as sf

    from common.spark.tables import MAX_CLASSES, _quoted

    column = sf.col(_quoted(target))
    if reference.task == "regression":
        bad = frame.filter(column.isNotNull() & column.cast("double").isNull()).limit(1)
        values = [row[0] for row in bad.collect()]
    else:
        values = [row[0] for row in frame.select(column).distinct().limit(MAX_CLASSES).collect()]
    target_codes(pd.Series(values, dtype=object), reference, target)


def _output_columns(reference: profile.Profile, classifier: bool) -> list[str]:
    if classifier:
        return [f"probability_{label}" for label in reference.target["classes"]]
    return [PREDICTION_COLUMN]


def performance(reference: profile.Profile, batch: Batch, metric: str) -> dict[str, Any] | None:
    """The batch's metrics beside the test metrics and the naive baseline's, and the drop of
    ``metric`` (a fraction of its test value; positive: worse)."""
    if batch.y is None:
        return None
    if len(batch.y) == 0:
        raise UserInputError("target: no row of the input has a label")
    task = reference.task
    y = batch.y.astype("int64") if task == "classification" else batch.y
    output = batch.output
    if task == "classification":
        output = metrics.as_probabilities(output)
    scores = metrics.task_metrics(task, y, output)
    baseline = metrics.task_metrics(task, y, drift.baseline_output(reference, len(y)))
    if metric not in reference.metrics:
        raise UserInputError(
            f"metric '{metric}': the model's profile has no test value for it (it has "
            f"{', '.join(sorted(reference.metrics))})"
        )
    test, now = reference.metrics[metric], scores[metric]
    drop = drift.metric_drop(metric, test, now)
    better = metrics.GREATER_IS_BETTER[metric]
    beats_baseline = now > baseline[metric] if better else now < baseline[metric]
    return {
        "metric": metric,
        "labelled_rows": len(y),
        "test": test,
        "batch": now,
        "baseline_batch": baseline[metric],
        "drop": round(drop, 6),
        "beats_baseline": bool(beats_baseline),
        "batch_metrics": scores,
        "baseline_metrics": baseline,
        "test_metrics": dict(reference.metrics),
    }


def metric_key(prefix: str, column: str) -> str:
    """``psi/<column>``, with characters MLflow refuses in a metric name as ``_``."""
    safe = "".join(c if c.isalnum() or c in "_-. /" else "_" for c in column)
    return f"{prefix}/{safe}"[:250]


def batch_source(text: str, engine: str) -> str:
    """The batch as ``predict`` resolves its input; on Spark also a Parquet folder or a catalog
    table (``main.ml.rows``, ``table:rows``), which Spark reads as they are."""
    if engine == "spark":
        from common.spark import tables as spark_tables

        if text.startswith("table:") or spark_tables._is_table_name(text):
            return text
        path = Path(text).expanduser()
        if path.is_absolute() and path.is_dir():
            return str(path.resolve())
    return scoring.input_path(text)


def run(args) -> int:
    source = batch_source(args.input, args.engine)
    with context.entry_point_run(ENTRY_POINT, args, stage="monitor") as run:
        found = scoring.model_tags(args.model_uri)
        local, reference = read_reference(args.model_uri)
        meta = Model.load(str(local))  # its MLmodel: the source run, the signature's text columns
        if run_id := meta.run_id:
            found["model_run_id"] = run_id
        mlflow.set_tags(found)
        context.title_run(scoring.run_name(found, prefix="monitor"))
        metric = metrics.resolve(args.metric, reference.task)
        engine = pandas_batch if args.engine == "pandas" else spark_batch
        batch = engine(local, meta, source, reference, args)
        columns, prediction = drift.compare(reference, batch.counts, threshold=args.psi_threshold)
        judged = performance(reference, batch, metric)
        drifted = drift.drifted_columns(columns)
        degraded = judged is not None and (
            judged["drop"] > args.max_metric_drop or not judged["beats_baseline"]
        )
        verdict = RETRAIN if drifted or degraded else OK
        _log(run, found, reference, batch, columns, prediction, judged, args,
             drifted=drifted, degraded=degraded, verdict=verdict)  # fmt: skip
        print(_summary(columns, prediction, judged, drifted, verdict, args.psi_threshold))
        publish_task_values({TASK_VALUE: verdict, "drift_detected": str(bool(drifted)).lower()})
        if args.fail_on_drift and verdict == RETRAIN:
            raise CheckFailed(_alarm(columns, judged, drifted, args))
    return 0


def publish_task_values(values: dict[str, str]) -> None:
    """On a Databricks job run, set the task values later tasks read (the bundle's monitoring
    job retrains on ``monitor_verdict``); anywhere else, nothing."""
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return
    from databricks.sdk.runtime import dbutils

    for key, value in values.items():
        dbutils.jobs.taskValues.set(key=key, value=value)


def _log(run, found, reference, batch, columns, prediction, judged, args, *, drifted, degraded,
         verdict) -> None:  # fmt: skip
    values: dict[str, float] = {
        "batch_rows": batch.rows,
        "columns_drifted": len(drifted),
        "max_psi": max((c["psi"] for c in columns), default=0.0),
    }
    for entry in columns:
        values[metric_key("psi", entry["column"])] = entry["psi"]
        values[metric_key("missing_change", entry["column"])] = entry["missing_change"]
        if entry.get("unseen_share") is not None:
            values[metric_key("unseen_share", entry["column"])] = entry["unseen_share"]
    if prediction is not None:
        values["prediction_psi"] = prediction["psi"]
    if judged is not None:
        name = judged["metric"].removeprefix("test_")
        values |= {
            f"batch_{name}": judged["batch"], f"baseline_batch_{name}": judged["baseline_batch"],
            f"reference_test_{name}": judged["test"], "metric_drop": judged["drop"],
            "labelled_rows": judged["labelled_rows"],
        }  # fmt: skip
        values |= {f"batch_{k.removeprefix('test_')}": v
                   for k, v in judged["batch_metrics"].items() if np.isfinite(v)}  # fmt: skip
    mlflow.log_metrics({k: float(v) for k, v in values.items() if np.isfinite(v)})
    mlflow.log_dict(columns, "drift.json")
    summary = {
        "verdict": verdict,
        "drift_detected": bool(drifted),
        "drifted_columns": drifted,
        "performance_degraded": bool(degraded),
        "thresholds": {
            "psi_threshold": args.psi_threshold,
            "major_psi": drift.MAJOR_PSI,
            "max_metric_drop": args.max_metric_drop,
            "confidence": drift.CONFIDENCE,
        },
        "batch_rows": batch.rows,
        "reference_rows": reference.rows,
        "prediction": prediction,
        "performance": judged,
        "model": found,
    }
    mlflow.log_text(json.dumps(profile.strict_json(summary), indent=2), "monitoring.json")
    figure = plots.drift_figure(columns, prediction, threshold=args.psi_threshold,
                                major=drift.MAJOR_PSI, plotted=PLOTTED)  # fmt: skip
    mlflow.log_figure(figure, "plots/drift.png")
    mlflow.set_tags(
        {
            "drift_detected": str(bool(drifted)).lower(),
            "performance_degraded": "unknown" if judged is None else str(degraded).lower(),
            "monitor_verdict": verdict,
            "drifted_columns": ",".join(drifted)[:5000],
        }
    )
    if "model_version" in found:
        client = MlflowClient()
        name, version = found["model_name"], found["model_version"]
        for key, value in ((RUN_TAG, run.info.run_id), (VERDICT_TAG, verdict),
                           (COLUMNS_TAG, ",".join(drifted)[:5000])):  # fmt: skip
            client.set_model_version_tag(name, version, key, value)


def _summary(columns, prediction, judged, drifted, verdict, threshold) -> str:
    lines = [f"{len(columns)} column(s) compared with the model's profile; PSI threshold "
             f"{threshold}"]  # fmt: skip
    for entry in sorted(columns, key=lambda e: -e["psi"])[:10]:
        mark = "DRIFTED" if entry["drifted"] else ""
        lines.append(f"  {entry['column']:<30} psi={entry['psi']:.4f} {mark}".rstrip())
    if prediction is not None:
        lines.append(f"  predictions                    psi={prediction['psi']:.4f}")
    if judged is not None:
        lines.append(
            f"  {judged['metric']}: test {judged['test']:.4f}, batch {judged['batch']:.4f} "
            f"(baseline {judged['baseline_batch']:.4f}), drop {judged['drop']:.1%}"
        )
    lines.append(f"verdict: {verdict}" + (f" (drifted: {', '.join(drifted)})" if drifted else ""))
    return "\n".join(lines)


def _alarm(columns, judged, drifted, args) -> str:
    parts = []
    if drifted:
        shown = ", ".join(f"{e['column']} (psi {e['psi']:.3f})" for e in columns if e["drifted"])
        parts.append(f"drift in {len(drifted)} column(s) at psi >= {args.psi_threshold}: {shown}")
    if judged is not None and (
        judged["drop"] > args.max_metric_drop or not judged["beats_baseline"]
    ):
        parts.append(
            f"{judged['metric']} {judged['batch']:.4f} on the batch vs {judged['test']:.4f} at "
            f"test time (drop {judged['drop']:.1%}, max {args.max_metric_drop:.1%}; naive "
            f"baseline {judged['baseline_batch']:.4f})"
        )
    return "fail_on_drift: " + "; ".join(parts)

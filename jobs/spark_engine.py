"""The Spark engine of ``jobs.training``: ``-P engine=spark`` keeps the table on Spark.

The table is read, checked, split and encoded on Spark (``common.spark.tables``), the trainer's
Spark module fits on the encoded rows in the executors, and the test metrics come from the served
model's predictions computed per partition. Only a bounded sample and the test predictions ever
reach the driver. What is logged is ``jobs.training.log_fitted``'s, as on one node.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import mlflow

from common import business, columns, evaluation, pyfunc, seeding
from common.errors import UserInputError, WorkerError
from common.preprocessing import build_preprocessor
from common.spark import session as spark_session
from common.spark import tables as spark_tables
from common.step_metrics import StepMetricsLogger
from jobs import context
from jobs.model_record import SCHEMA_ROWS, Fitted, model_spec, screen_leaks

if TYPE_CHECKING:
    from trainers import Trainer


@contextmanager
def worker_errors():
    """A failed Spark job becomes one ``WorkerError`` line with the worker's own error."""
    try:
        yield
    except (UserInputError, KeyboardInterrupt):
        raise
    except Exception as exc:
        reason = spark_tables.spark_failure(exc)
        if reason is None:
            raise
        raise WorkerError(reason) from exc


@contextmanager
def registry_pinned() -> Iterator[None]:
    """The registry URI fixed for a Spark run, then given back as it was.

    MLflow asks an active Spark session for the registry URI whenever it makes a client; once the
    JVM is gone (a worker's death, Ctrl-C) that fails and would leave the run RUNNING, so the
    run's own URI is pinned, environment variable included, before Spark starts. Afterwards the
    process (a notebook, a test calling ``main``) gets back what it had.
    """
    variable = os.environ.get("MLFLOW_REGISTRY_URI")
    mlflow.set_registry_uri(mlflow.get_registry_uri())
    try:
        yield
    finally:
        mlflow.set_registry_uri(variable)  # None: follow the tracking URI again
        if variable is None:
            os.environ.pop("MLFLOW_REGISTRY_URI", None)
        else:
            os.environ["MLFLOW_REGISTRY_URI"] = variable


def load_and_fit(trainer: Trainer, args: argparse.Namespace, params, *, run_id: str) -> Fitted:
    """Read, check, split and encode ``--data`` on Spark, and fit on the executors.

    The returned ``Fitted`` holds the sample's rows for the model's record and scores the test
    split per partition through the served model, for ``jobs.training.log_fitted``.
    """
    workers_flag = trainer.spark_workers
    workers = getattr(args, workers_flag)
    spark_module = trainer.spark_module
    seeding.seed_everything(args.seed)
    spark = spark_session.get_or_create("tabular-training", needed_for="engine=spark")
    from pyspark.sql import functions as sf

    spark_session.ship_code(spark)
    spark_tables.check_slots(spark, workers, flag=workers_flag)
    overrides = {flag: columns.parse_names(getattr(args, flag)) for flag in columns.OVERRIDES}
    started = time.perf_counter()
    with worker_errors():
        table = spark_tables.load(
            spark, args.data, target=args.target, task=args.task, overrides=overrides,
            test_size=args.test_size, validation_fraction=params.validation_fraction,
            seed=args.seed,
        )  # fmt: skip
    sample = table.sample
    _log_dataset(table, args.data_version, workers)
    context.name_run(trainer.module.model_type(table.task))
    print(columns.summary(table.roles))
    in_train = (table.sample_split == "train").to_numpy()
    leaks = screen_leaks(sample, sample.features[in_train], sample.y[in_train], seed=args.seed)
    print(f"{table.rows} rows on Spark; roles and preprocessor from {len(sample.y)} sampled")
    preprocessor = build_preprocessor(table.roles).fit(sample.features[in_train])
    encode, schema = spark_tables.encoder(table, preprocessor)
    needed = [*table.roles.used, sample.target, spark_tables.SPLIT_COLUMN]
    encoded = table.frame.select(*[spark_tables._quoted(c) for c in needed]).mapInPandas(
        encode, schema
    )
    features = [f.name for f in schema.fields][:-2]
    rows = encoded.filter(sf.col(spark_tables.SPLIT_COLUMN) != "test")
    print(f"training on Spark with {workers} worker(s)", flush=True)
    with worker_errors():
        estimator, history = spark_module.train(
            rows, features=features, label=spark_tables.LABEL_COLUMN,
            split=spark_tables.SPLIT_COLUMN, task=table.task, classes=sample.classes,
            seed=args.seed, params=params, workers=workers, run_id=run_id,
            tracking_uri=mlflow.get_tracking_uri(),
        )  # fmt: skip
    _check_classes_trained(estimator, sample.classes)
    if getattr(args, "autolog", False):
        context.log_params(spark_module.autolog_params(estimator))
    steps = _log_history(run_id, history, trainer, already_logged=spark_module.LOGS_STEPS)
    training_seconds = time.perf_counter() - started

    def evaluate(settings: business.Settings) -> dict[str, float]:
        model = pyfunc.TabularModel(model_spec(trainer, sample), preprocessor, estimator)
        with worker_errors():
            y, output, test_rows = spark_tables.scored_test_rows(table, model, seed=args.seed)
        results = evaluation.log_evaluation(table.task, sample.classes, y, output, settings)
        mlflow.log_metrics({"test_rows": test_rows, "test_rows_scored": len(y)})
        return results, output

    def describe(output, results: dict[str, float]):
        from common.spark import profiling

        with worker_errors():
            return profiling.build(table, output, results)

    test_index = sample.features.index[(table.sample_split == "test").to_numpy()]
    train_index = sample.features.index[in_train]
    return Fitted(
        preprocessor=preprocessor,
        estimator=estimator,
        table=sample,
        example_index=sample.example_index(test_index if len(test_index) else train_index),
        schema_index=train_index[:SCHEMA_ROWS],
        evaluate=evaluate,
        describe=describe,
        test_index=test_index,
        test_y=sample.y[(table.sample_split == "test").to_numpy()],
        report=spark_module.fit_report(estimator, history),
        steps=steps,
        fit_metrics={"training_seconds": training_seconds},
        leaks=leaks,
    )


def _log_dataset(table: spark_tables.SparkTable, data_version: str, workers: int) -> None:
    """The dataset tags ``common.context.log_dataset`` sets, from the whole table on Spark."""
    sample = table.sample
    mlflow.set_tags(
        {
            "dataset": sample.name,
            "data_version": data_version or table.digest,
            "data_digest": table.digest,
            "feature_set": sample.feature_set,
            "task": table.task,
            "target": sample.target,
            "engine": "spark",
            "workers": str(workers),
        }
    )
    mlflow.log_metric("table_rows", table.rows)
    context.log_spark_dataset(
        table.frame.drop(spark_tables.SPLIT_COLUMN), source=table.source, target=sample.target,
        name=sample.name, digest=table.digest,
    )  # fmt: skip


def _log_history(
    run_id: str, history: dict[str, list[float]], trainer: Trainer, *, already_logged: bool
):
    """Per-step metrics the workers reported ({name: [value per step]}), logged after the fit
    with the names single-node runs use, unless a worker logged them live (``LOGS_STEPS``);
    the logger holding them, for the learning curve."""
    if not history or not trainer.steps:
        return None
    label, _ = trainer.steps
    count = max(len(values) for values in history.values())
    steps = StepMetricsLogger(run_id, total_steps=count, label=label, quiet=True)
    for step in range(count):
        values = {k: v[step] for k, v in history.items() if step < len(v)}
        if already_logged:
            for name, value in values.items():
                steps.history.setdefault(name, []).append((step, float(value)))
        else:
            steps(step, values)
    steps.flush()
    return steps


def _check_classes_trained(estimator, classes: list | None) -> None:
    """Refuse a model that saw fewer classes than the table has (a rare class whose rows all
    fell into the test split): its outputs would not line up with the labels."""
    if classes is None:
        return
    seen = getattr(estimator, "n_classes_", len(classes))
    if seen != len(classes):
        raise UserInputError(
            f"the training split holds {seen} of the table's {len(classes)} classes: a rare "
            "class's rows all fell into the test split; change seed or test_size, or add rows"
        )

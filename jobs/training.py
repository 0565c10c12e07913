"""The run around a trainer's pure ``train(...)``: every ``train_<name>`` entry point's and tune's.

An entry point parses its flags, then ``run_trainer`` opens the run, loads and splits the data,
calls the trainer's ``train`` (with autologging and per-step metrics where the registry says so)
and hands the fitted preprocessor + estimator to ``log_trained_model``. What differs between
model families lives in ``trainers/``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import mlflow

from common import (
    artifact_budget,
    business,
    columns,
    data,
    evaluation,
    preprocessing,
    pyfunc,
    seeding,
    tracking,
)
from common.data import Split, TabularData
from common.step_metrics import StepMetricsLogger

# Training rows the model's input types are inferred from (5 example rows can all be missing).
SCHEMA_ROWS = 10_000

if TYPE_CHECKING:
    import pandas as pd

    from trainers import Trainer


def hyperparameters(trainer: Trainer, args: argparse.Namespace) -> Any:
    """The trainer's ``Params`` filled from the parsed flags of the same names."""
    fields = dataclasses.fields(trainer.module.Params)
    return trainer.params(**{spec.name: getattr(args, spec.name) for spec in fields})


def load_data(
    args: argparse.Namespace, model_type: Callable[[str], str]
) -> tuple[TabularData, Split]:
    """Seed, load and validate ``--data``, log it as the run's input, name the run, split it.

    Args:
        args: Parsed flags from ``common.cli.build_parser``.
        model_type: Maps the resolved task to the run's ``model_type`` tag.
    """
    seeding.seed_everything(args.seed)
    overrides = {flag: columns.parse_names(getattr(args, flag)) for flag in columns.OVERRIDES}
    table = data.load(args.data, target=args.target, task=args.task, overrides=overrides)
    tracking.log_dataset(table, data_version=args.data_version)
    tracking.name_run(model_type(table.task))
    print(columns.summary(table.roles))
    return table, data.split(table, test_size=args.test_size, seed=args.seed)


def run_trainer(
    trainer: Trainer,
    args: argparse.Namespace,
    *,
    tags: Callable[[], dict[str, str]] | None = None,
    after_fit: Callable[[StepMetricsLogger | None, Any], None] | None = None,
) -> int:
    """The run of a ``train_<name>`` entry point: data, fit, what the fit reports, the model.

    Args:
        trainer: The registry entry of the model family.
        args: Its parsed flags (``common.cli.trainer_parser``).
        tags: Called first inside the run, for tags only the entry point knows (a device).
        after_fit: Called with the per-step metrics and the fitted estimator once the fit is
            done (a learning curve marking the best step).
    """
    if getattr(args, "engine", "single_node") == "spark":
        from common import spark_training

        if not trainer.spark_module_name:
            spark_training.refuse_engine(trainer)
        return spark_training.run_spark_trainer(
            trainer, args, after_fit=after_fit, workers_flag=trainer.spark_workers
        )
    with tracking.entry_point_run(trainer.entry_point, args, stage="train") as run:
        if tags:
            mlflow.set_tags(tags())
        table, split = load_data(args, trainer.module.model_type)
        params = hyperparameters(trainer, args)
        steps = None
        if trainer.steps:
            label, planned = trainer.steps
            steps = StepMetricsLogger(
                run.info.run_id, total_steps=getattr(params, planned), label=label
            )
        autolog = nullcontext()
        if trainer.autolog:
            autolog = tracking.autologging(trainer.autolog, args.autolog)
        with autolog as log_fitted, steps or nullcontext():
            preprocessor, estimator = trainer.fit(
                split.X_train, split.y_train, task=table.task, seed=args.seed, params=params,
                on_step=steps, roles=table.roles,
            )  # fmt: skip
            if log_fitted:
                log_fitted(estimator)
        report, summary = trainer.module.fit_report(estimator)
        if report:
            mlflow.log_metrics(report)
        if summary:
            print(summary)
        if after_fit:
            after_fit(steps, estimator)
        settings = business.settings_of(args)
        log_trained_model(trainer, table, split, preprocessor, estimator, settings)
    return 0


def log_trained_model(
    trainer: Trainer,
    table: TabularData,
    split: Split,
    preprocessor,
    estimator,
    settings: business.Settings | None = None,
) -> dict[str, float]:
    """Log features.json and importances, evaluate on the test split (metrics with the business
    metric of ``settings``, plots), then log the pyfunc model.

    ``tune`` logs its retrained best model with this too.
    """
    describe_features(trainer, table, preprocessor, estimator)
    results = evaluation.evaluate(table, split, preprocessor, estimator, settings)
    log_servable(
        trainer, table, preprocessor, estimator,
        example_index=table.example_index(split.X_test.index),
        schema_index=split.X_train.index[:SCHEMA_ROWS],
    )  # fmt: skip
    print(" ".join(f"{k}={v:.4f}" for k, v in results.items()))
    return results


def describe_features(trainer: Trainer, table: TabularData, preprocessor, estimator) -> None:
    """Log features.json (every column's role) and the estimator's feature importances."""
    names = preprocessing.feature_names(preprocessor)
    mlflow.log_dict(columns.describe(table.roles, table.raw.drop(columns=[table.target]), names),
                    "features.json")  # fmt: skip
    if (importances := trainer.module.importances(estimator)) is not None:
        values, title = importances
        evaluation.log_feature_importance(preprocessor, values, title=title)


def model_spec(trainer: Trainer, table: TabularData) -> pyfunc.ModelSpec:
    """What the logged pyfunc records about the table and the trainer (its ``config.json``)."""
    return pyfunc.ModelSpec(
        task=table.task,
        numeric=table.numeric,
        categorical=table.categorical,
        boolean=list(table.roles.boolean),
        datetime=list(table.roles.datetime),
        classes=table.classes,
        trainer=trainer.name,
        estimator_file=trainer.estimator_file,
    )


def log_servable(
    trainer: Trainer,
    table: TabularData,
    preprocessor,
    estimator,
    *,
    example_index: pd.Index,
    schema_index: pd.Index,
) -> None:
    """Log the pyfunc with its input example and schema from ``table``'s rows at those indexes,
    and its size as ``model_size_mb``."""
    print("logging the model: preprocessor, estimator, signature, example, pinned requirements",
          flush=True)  # fmt: skip
    info = pyfunc.log_model(
        spec=model_spec(trainer, table),
        preprocessor=preprocessor,
        estimator=estimator,
        save_estimator=trainer.module.save_estimator,
        example=table.raw_rows(example_index),
        schema_rows=table.raw_rows(schema_index),
        extra_requirements=trainer.serving_requirements,
    )
    mlflow.log_metric("model_size_mb", artifact_budget.model_size_mb(info))

"""The one fit-and-log sequence: every ``train_<name>`` entry point, both engines, tune's model.

``run_trainer`` opens the run, hands loading and fitting to the engine (one node here,
``engine=spark`` in ``jobs.spark_engine``: the switch point) and gives what it fitted to
``jobs.model_record.log_fitted``, which records the same things for every model whatever the
engine. ``tune`` fits its best parameters with ``fit_one_node`` and logs them with ``log_fitted``
too. What differs between model families lives in ``trainers/``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import mlflow

from common import business, columns, data, evaluation, leakage, profile, seeding
from common.data import Split, TabularData
from common.errors import UserInputError
from common.step_metrics import StepMetricsLogger
from jobs import context
from jobs.model_record import SCHEMA_ROWS, Fitted, log_fitted, screen_leaks

ENGINES = ("single_node", "spark")

if TYPE_CHECKING:
    from trainers import Trainer


def hyperparameters(trainer: Trainer, args: argparse.Namespace) -> Any:
    """The trainer's ``Params`` filled from the parsed flags of the same names."""
    fields = dataclasses.fields(trainer.module.Params)
    return trainer.params(**{spec.name: getattr(args, spec.name) for spec in fields})


def run_trainer(trainer: Trainer, args: argparse.Namespace) -> int:
    """The run of a ``train_<name>`` entry point: data, fit, what the fit reports, the model.

    Args:
        trainer: The registry entry of the model family.
        args: Its parsed flags (``jobs.cli.trainer_parser``).
    """
    engine = getattr(args, "engine", "single_node")
    if engine == "spark" and not trainer.spark_module_name:
        raise UserInputError(
            f"engine=spark: train_{trainer.name} has no Spark engine: {trainer.spark_refusal}"
        )
    if engine == "spark":
        from jobs import spark_engine

        pinned = spark_engine.registry_pinned()
    else:
        pinned = nullcontext()
    with pinned, context.entry_point_run(trainer.entry_point, args, stage="train") as run:
        params = hyperparameters(trainer, args)
        if engine == "spark":
            fitted = spark_engine.load_and_fit(trainer, args, params, run_id=run.info.run_id)
        else:
            mlflow.set_tags(trainer.module.run_tags(params))
            table, split, leaks = load_data(args, trainer.module.model_type)
            fitted = fit_one_node(
                trainer, table, split, params, seed=args.seed, run_id=run.info.run_id,
                autolog=args.autolog if trainer.autolog else None, leaks=leaks,
            )  # fmt: skip
        log_fitted(trainer, fitted, business.settings_of(args))
    return 0


def load_data(
    args: argparse.Namespace, model_type: Callable[[str], str]
) -> tuple[TabularData, Split, leakage.Screen]:
    """Seed, load and validate ``--data``, log it as the run's input, name the run, split it,
    and screen the training split for leaks (``jobs.model_record.screen_leaks``).

    Args:
        args: Parsed flags from ``jobs.cli.build_parser``.
        model_type: Maps the resolved task to the run's ``model_type`` tag.
    """
    seeding.seed_everything(args.seed)
    overrides = {flag: columns.parse_names(getattr(args, flag)) for flag in columns.OVERRIDES}
    table = data.load(args.data, target=args.target, task=args.task, overrides=overrides)
    context.log_dataset(table, data_version=args.data_version)
    context.name_run(model_type(table.task))
    print(columns.summary(table.roles))
    split = data.split(table, test_size=args.test_size, seed=args.seed)
    leaks = screen_leaks(table, split.X_train, split.y_train, seed=args.seed)
    return table, split, leaks


def fit_one_node(
    trainer: Trainer,
    table: TabularData,
    split: Split,
    params: Any,
    *,
    seed: int,
    run_id: str,
    autolog: bool | None = None,
    leaks: leakage.Screen | None = None,
) -> Fitted:
    """Fit on the training split in this process, logging per-step metrics as they come.

    Args:
        autolog: ``--autolog`` of a trainer whose framework MLflow autologs; None: leave
            autologging alone (tune's model).
        leaks: ``load_data``'s leak screen, for features.json.
    """
    steps = None
    if trainer.steps:
        label, planned = trainer.steps
        steps = StepMetricsLogger(run_id, total_steps=getattr(params, planned), label=label)
    logging_params = nullcontext()
    if trainer.autolog and autolog is not None:
        logging_params = context.autologging(trainer.autolog, autolog)
    with logging_params as log_fitted_params, steps or nullcontext():
        preprocessor, estimator = trainer.fit(
            split.X_train, split.y_train, task=table.task, seed=seed, params=params,
            on_step=steps, roles=table.roles,
        )  # fmt: skip
        if log_fitted_params:
            log_fitted_params(estimator)
    return Fitted(
        preprocessor=preprocessor,
        estimator=estimator,
        table=table,
        example_index=table.example_index(split.X_test.index),
        schema_index=split.X_train.index[:SCHEMA_ROWS],
        evaluate=lambda settings: evaluate_test(table, split, preprocessor, estimator, settings),
        describe=lambda output, results: reference_profile(table, output, results),
        test_index=split.X_test.index,
        test_y=split.y_test,
        report=trainer.module.fit_report(estimator),
        steps=steps,
        leaks=leaks,
    )


def evaluate_test(table: TabularData, split: Split, preprocessor, estimator, settings):
    """Score the test split and log the evaluation; (the metrics, the model's output there)."""
    output = evaluation.predict_output(table.task, preprocessor, estimator, split.X_test)
    results = evaluation.log_evaluation(table.task, table.classes, split.y_test, output, settings)
    return results, output


def reference_profile(table: TabularData, output, results: dict[str, float]) -> profile.Profile:
    """The training table's profile (``common.profile``), with the test split's output."""
    return profile.build(
        table.features, table.roles, task=table.task, y=table.y, classes=table.classes,
        test_output=output, metrics=results,
    )  # fmt: skip

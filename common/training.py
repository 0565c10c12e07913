"""The steps every trainer's ``main`` runs around its pure ``train(...)`` function.

A trainer parses its flags, then: open the run, load and split the data, call ``train``, and hand
the fitted preprocessor + estimator to ``log_trained_model``. Only the ``train`` call and the
estimator's save/load differ between frameworks.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow

from common import data, evaluation, pyfunc, seeding, tracking
from common.data import Split, TabularData


@contextmanager
def entry_point_run(
    entry_point: str, args: argparse.Namespace, *, stage: str = "train"
) -> Iterator[mlflow.ActiveRun]:
    """A tracked run in ``stage`` with every flag but ``--run-name`` logged as a parameter."""
    params = {k: v for k, v in vars(args).items() if k != "run_name"}
    with tracking.tracked_run(
        entry_point=entry_point, stage=stage, params=params, run_name=args.run_name
    ) as run:
        yield run


def hyperparameters(
    train: Callable, args: argparse.Namespace, *, exclude: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The parsed flags that are keyword arguments of ``train``, minus ``exclude``.

    ``task`` (resolved from the data) and ``seed`` are always passed explicitly instead.
    """
    accepted = inspect.signature(train).parameters
    skip = {"task", "seed", *exclude}
    return {k: v for k, v in vars(args).items() if k in accepted and k not in skip}


def load_data(
    args: argparse.Namespace, model_type: Callable[[str], str]
) -> tuple[TabularData, Split]:
    """Seed, load and validate ``--data``, log it as the run's input, name the run, split it.

    Args:
        args: Parsed flags from ``common.cli.build_parser``.
        model_type: Maps the resolved task to the run's ``model_type`` tag.
    """
    seeding.seed_everything(args.seed)
    table = data.load(args.data, target=args.target, task=args.task)
    tracking.log_dataset(table, data_version=args.data_version)
    tracking.name_run(model_type(table.task))
    return table, data.split(table, test_size=args.test_size, seed=args.seed)


def log_trained_model(
    table: TabularData,
    split: Split,
    *,
    preprocessor,
    estimator,
    loader: str,
    estimator_file: str,
    save_estimator: Callable[[Any, Path], None],
    extra_requirements: tuple[str, ...] = (),
) -> dict[str, float]:
    """Evaluate on the test split, log metrics and plots, then log the pyfunc model.

    Args:
        loader: ``"module:function"`` that loads the saved estimator at serving time.
        estimator_file: File (or folder) name of the saved estimator inside the model.
        save_estimator: Writes the estimator to a path, in a safe format.
        extra_requirements: Framework packages the estimator needs at serving time.
    """
    results = evaluation.evaluate(table, split, preprocessor, estimator)
    spec = pyfunc.ModelSpec(
        task=table.task,
        numeric=table.numeric,
        categorical=table.categorical,
        classes=table.classes,
        estimator_loader=loader,
        estimator_file=estimator_file,
    )
    pyfunc.log_model(
        spec=spec,
        preprocessor=preprocessor,
        estimator=estimator,
        save_estimator=save_estimator,
        example=table.raw_rows(split.X_test.index[:5]),
        extra_requirements=extra_requirements,
    )
    print(" ".join(f"{k}={v:.4f}" for k, v in results.items()))
    return results

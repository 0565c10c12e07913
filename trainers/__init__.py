"""The model families this project trains, and the one registry that lists them.

A trainer is one module here holding everything about one model family, and nothing about
MLflow runs or command lines; what it must define is ``trainers/contract.py``'s
``TrainerModule`` (and ``SparkTrainerModule`` for its Spark module), checked by a test.

``TRAINERS`` below is the only list of trainers: the run layer (``jobs/``), the served model and
the tests read it. A new family is one module here, one entry below, one thin
``entrypoints/train_<name>.py`` and one MLproject entry point (``make mlproject`` writes its
command). Each family's names, in one table:

    name      entry point     module (+ Spark module)                  flags' group
    sklearn   train_sklearn   random_forest                            random forest
    xgboost   train_xgboost   boosted_trees (+ boosted_trees_spark)    boosting
    pytorch   train_pytorch   mlp, mlp_network (+ mlp_spark)           network and optimisation

``name`` is ``-P trainer=`` of tune and main, the ``trainer`` of a model's config.json and the
key of ``TRAINERS``; everything else is derived from the entry below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.errors import UserInputError
from trainers.contract import FitRequest, SparkTrainerModule, StepCallback, TrainerModule

__all__ = ["TRAINERS", "FitRequest", "StepCallback", "Trainer", "by_entry_point", "get"]

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from common.columns import Roles


@dataclass(frozen=True)
class Trainer:
    """One model family as the rest of the project sees it."""

    name: str  # ``-P trainer=<name>`` of tune and main; the entry point is train_<name>
    module_name: str  # imported on first use, so listing trainers imports no framework
    family: str  # what the command line calls its hyperparameter group
    default_data: str
    estimator_file: str  # file or folder name of the saved estimator inside a logged model
    serving_requirements: tuple[str, ...] = ()  # packages beyond common's to load the model
    autolog: str | None = None  # MLflow autolog flavour for its parameters and training metrics
    steps: tuple[str, str] | None = None  # (step label, Params field with the planned count)
    # ``-P engine=spark``: the module training on Spark (``train(frame, ...)``, ``fit_report``)
    # and the flag with its worker count; or why there is none.
    spark_module_name: str | None = None
    spark_workers: str | None = None
    spark_refusal: str = ""

    @property
    def entry_point(self) -> str:
        return f"train_{self.name}"

    @property
    def module(self) -> TrainerModule:
        """The trainer's module (imports its framework)."""
        return importlib.import_module(self.module_name)

    @property
    def spark_module(self) -> SparkTrainerModule:
        """The module that trains this family on Spark (imports pyspark and the framework)."""
        return importlib.import_module(self.spark_module_name)

    def params(self, **values: Any) -> Any:
        """The trainer's ``Params`` with ``values``, defaults for the rest."""
        return self.module.Params(**values)

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        *,
        task: str,
        seed: int,
        params: Any,
        threads: int | None = None,
        on_step: StepCallback | None = None,
        roles: Roles | None = None,
    ) -> tuple[Any, Any]:
        """Train with ``params`` (this trainer's ``Params``): (fitted preprocessor, estimator).

        See ``FitRequest`` for the other arguments.
        """
        request = FitRequest(
            X, y, task=task, seed=seed, threads=threads, on_step=on_step, roles=roles
        )
        return self.module.train(request, params)

    def load_estimator(self, path: str, task: str) -> Any:
        return self.module.load_estimator(path, task)


TRAINERS: dict[str, Trainer] = {
    trainer.name: trainer
    for trainer in (
        Trainer(
            name="sklearn",
            module_name="trainers.random_forest",
            family="random forest",
            default_data="builtin:breast_cancer",
            estimator_file="estimator.skops",
            autolog="sklearn",
            spark_refusal=(
                "a scikit-learn forest needs the whole table in one process, and Spark MLlib's "
                "forest is a different model; use train_xgboost -P engine=spark (boosted trees "
                "on Spark, same servable model) for tables beyond one machine"
            ),
        ),
        Trainer(
            name="xgboost",
            module_name="trainers.boosted_trees",
            family="boosting",
            default_data="builtin:diabetes",
            estimator_file="estimator.json",
            serving_requirements=("xgboost-cpu",),
            autolog="xgboost",
            steps=("round", "n_estimators"),
            spark_module_name="trainers.boosted_trees_spark",
            spark_workers="num_workers",
        ),
        Trainer(
            name="pytorch",
            module_name="trainers.mlp",
            family="network and optimisation",
            default_data="builtin:breast_cancer",
            estimator_file="estimator",
            serving_requirements=("torch",),
            steps=("epoch", "epochs"),
            spark_module_name="trainers.mlp_spark",
            spark_workers="num_processes",
        ),
    )
}

# Loaders of models logged before the trainers registry existed (their config.json named a
# function in entrypoints/); the saved formats are unchanged, so the registry's loaders read them.
LEGACY_LOADERS = {
    f"entrypoints.{trainer.entry_point}:load_estimator": trainer.name
    for trainer in TRAINERS.values()
}


def get(name: str) -> Trainer:
    """The trainer called ``name``; a clear error naming the known ones otherwise."""
    try:
        return TRAINERS[name]
    except KeyError:
        raise UserInputError(
            f"trainer '{name}': expected one of {', '.join(sorted(TRAINERS))}"
        ) from None


def by_entry_point(entry_point: str) -> Trainer:
    """The trainer whose entry point is ``entry_point`` (``train_sklearn`` -> sklearn)."""
    for trainer in TRAINERS.values():
        if trainer.entry_point == entry_point:
            return trainer
    raise UserInputError(f"entry point '{entry_point}' trains no registered model family")

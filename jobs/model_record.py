"""The record every trained model's run gets, whichever engine fitted it.

``log_fitted`` logs, in this order: the fit report (rounds run, best step), the learning curve,
features.json and importances, the evaluation on the test split (scored by the engine), and the
servable pyfunc with its signature, example and size. ``jobs.training`` (one node, and tune's
final model) and ``jobs.spark_engine`` hand it a ``Fitted``. Before fitting, both engines call
``screen_leaks`` on the training rows: the suspected leaks (``common.leakage``) are printed
under the column summary, tagged ``suspected_leaks`` and marked in features.json.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd

from common import (
    business,
    columns,
    evaluation,
    importance,
    leakage,
    plots,
    preprocessing,
    profile,
    pyfunc,
)
from common.data import TabularData
from common.step_metrics import StepMetricsLogger
from jobs import artifact_budget

# Training rows the model's input types are inferred from (5 example rows can all be missing).
SCHEMA_ROWS = 10_000
# The run tag naming the suspected leaks, comma-separated; "" when the screen found none.
LEAK_TAG = "suspected_leaks"

if TYPE_CHECKING:
    from trainers import Trainer


@dataclass
class Fitted:
    """What an engine fitted, and what the record of it needs from the engine.

    ``table`` is the whole table on one node and the bounded sample on Spark: its rows give the
    model's input example and signature, its roles features.json.
    """

    preprocessor: Any
    estimator: Any
    table: TabularData
    example_index: pd.Index
    schema_index: pd.Index
    # Scores the test split with the business metric's settings, logs the evaluation and
    # returns the test metrics and the model's output there (probabilities or values).
    evaluate: Callable[[business.Settings], tuple[dict[str, float], np.ndarray]]
    # The reference profile of the training table, from the test output and metrics.
    describe: Callable[[np.ndarray, dict[str, float]], profile.Profile]
    # Test rows of ``table`` (on Spark: the sample's) and their labels, for permutation
    # importance over the raw columns; empty: none to measure on.
    test_index: pd.Index | None = None
    test_y: np.ndarray | None = None
    # The engine's trainer module's fit_report: metrics about the fit, a one-line summary.
    report: tuple[dict[str, float], str] = ({}, "")
    steps: StepMetricsLogger | None = None  # per-step metrics, for the learning curve
    fit_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    leaks: leakage.Screen | None = None  # each column's score alone (``screen_leaks``)


def log_fitted(
    trainer: Trainer, fitted: Fitted, settings: business.Settings | None = None
) -> dict[str, float]:
    """Record a fitted model, the same for every engine: fit report, learning curve,
    features.json and importances, the test evaluation, the pyfunc; returns the test metrics."""
    report, summary = fitted.report
    if report or fitted.fit_metrics:
        mlflow.log_metrics({**report, **fitted.fit_metrics})
    if summary:
        print(summary)
    log_learning_curve(trainer, fitted.steps, fitted.estimator)
    describe_features(trainer, fitted.table, fitted.preprocessor, fitted.estimator, fitted.leaks)
    results, output = fitted.evaluate(settings or business.Settings())
    log_permutation_importance(trainer, fitted)
    log_servable(
        trainer, fitted.table, fitted.preprocessor, fitted.estimator,
        example_index=fitted.example_index, schema_index=fitted.schema_index,
        reference=fitted.describe(output, results),
    )  # fmt: skip
    print(" ".join(f"{k}={v:.4f}" for k, v in results.items()))
    return results


def log_permutation_importance(trainer: Trainer, fitted: Fitted) -> None:
    """``permutation_importance.csv`` and ``plots/permutation_importance.png``: each raw input
    column's importance through the served model on (a sample of) the test split
    (``common.importance``), comparable across model families."""
    if fitted.test_index is None or not len(fitted.test_index):
        return
    import time

    table = fitted.table
    model = pyfunc.TabularModel(model_spec(trainer, table), fitted.preprocessor, fitted.estimator)
    started = time.perf_counter()
    found, metric, rows = importance.permutation_importance(
        model, table.raw_rows(fitted.test_index), fitted.test_y, task=table.task,
        classes=table.classes,
    )  # fmt: skip
    mlflow.log_metric("permutation_importance_seconds", time.perf_counter() - started)
    mlflow.log_text(found.to_csv(index=False, float_format="%.6g"), "permutation_importance.csv")
    title = f"Permutation importance: loss of {metric} when shuffled ({rows} test rows)"
    figure = plots.feature_importance_figure(
        found["column"].tolist(), found["importance"].to_numpy(), title=title
    )
    mlflow.log_figure(figure, "plots/permutation_importance.png")
    log_contributions(trainer, fitted, fitted.test_index[: importance.MAX_ROWS])


def log_contributions(trainer: Trainer, fitted: Fitted, index: pd.Index) -> None:
    """``shap_importance.csv`` and ``plots/shap_importance.png`` where the framework computes
    per-row contributions itself (XGBoost's SHAP values): mean |contribution| per raw input
    column (its encoded features summed) on the test rows at ``index``."""
    table = fitted.table
    rows = preprocessing.normalize_features(table.raw_rows(index), table.roles)
    values = trainer.module.contributions(fitted.estimator, fitted.preprocessor.transform(rows))
    if values is None:
        return
    owners = preprocessing.raw_columns(fitted.preprocessor)
    per_feature = pd.Series(np.asarray(values, dtype="float64").mean(axis=0), index=owners)
    found = per_feature.groupby(level=0, sort=False).sum().sort_values(ascending=False)
    frame = found.rename_axis("column").reset_index(name="mean_abs_shap")
    mlflow.log_text(frame.to_csv(index=False, float_format="%.6g"), "shap_importance.csv")
    title = f"Mean |SHAP value| per input column ({len(rows)} test rows, XGBoost's TreeSHAP)"
    figure = plots.feature_importance_figure(list(found.index), found.to_numpy(), title=title)
    mlflow.log_figure(figure, "plots/shap_importance.png")


def log_learning_curve(trainer: Trainer, steps: StepMetricsLogger | None, estimator) -> None:
    """``plots/learning_curve.png`` from the per-step metrics, the kept step marked, where the
    trainer draws one (``learning_curve`` of its module)."""
    curve = trainer.module.learning_curve(estimator)
    if curve is None or steps is None or not steps.history:
        return
    names = list(curve.metrics) or sorted(steps.history)  # train_<metric>, validation_<metric>
    figure = plots.learning_curve_figure(
        steps.history, names, best_step=curve.best_step, step_label=trainer.steps[0],
        ylabel=curve.ylabel or names[0].removeprefix("train_"),
    )  # fmt: skip
    mlflow.log_figure(figure, "plots/learning_curve.png")


def screen_leaks(
    table: TabularData, features: pd.DataFrame, y: np.ndarray, *, seed: int
) -> leakage.Screen:
    """Score each used column alone against the target on the training rows, before training:
    print the suspected leaks (a line under ``columns.summary``) and set the ``suspected_leaks``
    tag ("" when none). Nothing is refused.

    Args:
        features: The training split's features (on Spark: the sample's training rows).
        y: Their target.
        seed: The run's seed (which rows are sampled and folded).
    """
    screen = leakage.screen(features, y, task=table.task, roles=table.roles, seed=seed)
    if line := screen.line():
        print(line)
    mlflow.set_tag(LEAK_TAG, screen.tag())
    return screen


def describe_features(
    trainer: Trainer,
    table: TabularData,
    preprocessor,
    estimator,
    leaks: leakage.Screen | None = None,
) -> None:
    """Log features.json (every column's role, with each used column's score alone and the
    suspected leaks marked when ``leaks`` is given) and the estimator's feature importances."""
    names = preprocessing.feature_names(preprocessor)
    described = columns.describe(table.roles, table.raw.drop(columns=[table.target]), names)
    if leaks is not None:
        described = leaks.annotate(described)
    mlflow.log_dict(described, "features.json")
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
    reference: profile.Profile | None = None,
) -> None:
    """Log the pyfunc with its input example and schema from ``table``'s rows at those indexes,
    its reference profile (``common.profile``) among its artifacts, and its size as
    ``model_size_mb``."""
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
        reference=reference,
    )
    mlflow.log_metric("model_size_mb", artifact_budget.model_size_mb(info))

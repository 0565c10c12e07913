"""The boosted trees of ``trainers.boosted_trees``, trained on Spark by ``xgboost.spark``.

The same ``Params`` and the same booster: each of ``num_workers`` barrier tasks holds a shard of
the encoded rows and XGBoost's workers build every tree together (histograms all-reduced), so the
result is one booster, saved in the same JSON format and served by the same pyfunc. Early
stopping watches the rows marked ``validation``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import TYPE_CHECKING

from trainers.boosted_trees import Params

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

VALIDATION = "__validation__"
# Rounds are logged by the driver after the fit, not by the workers.
LOGS_STEPS = False


def train(
    frame: DataFrame,
    *,
    features: list[str],
    label: str,
    split: str,
    task: str,
    classes: list | None,
    seed: int,
    params: Params,
    workers: int,
    run_id: str | None = None,
    tracking_uri: str | None = None,
):
    """Boost on ``frame``'s rows: ``features`` doubles, ``label`` class codes or values, and
    ``split`` ``train`` or ``validation`` (the early-stopping rows). ``workers`` barrier tasks.
    The run's ``run_id`` and ``tracking_uri`` are unused: rounds are logged after the fit.

    Returns:
        (the booster as XGBoost's scikit-learn model, {"<train|validation>_<metric>": [...]})
    """
    from xgboost.spark import SparkXGBClassifier, SparkXGBRegressor

    # Its INFO lines (one per stage) and per-round prints would drown the run's own output.
    logging.getLogger("XGBoost-PySpark").setLevel(logging.WARNING)
    booster = asdict(params)
    del booster["validation_fraction"]
    estimator_cls = SparkXGBClassifier if task == "classification" else SparkXGBRegressor
    estimator = estimator_cls(
        **booster,
        features_col=features,
        label_col=label,
        validation_indicator_col=VALIDATION,
        num_workers=workers,
        tree_method="hist",
        random_state=seed,
        verbosity=0,
        verbose=False,  # XGBoost's per-round print in each worker
    )
    from pyspark.sql import functions as sf

    model = estimator.fit(frame.withColumn(VALIDATION, sf.col(split) == "validation"))
    summary = model.training_summary
    history = {
        **{f"train_{k}": v for k, v in summary.train_objective_history.items()},
        **{f"validation_{k}": v for k, v in summary.validation_objective_history.items()},
    }
    return model._xgb_sklearn_model, history


def autolog_params(model) -> dict[str, object]:
    """``-P autolog=true``: what ``mlflow.xgboost.autolog`` logs for a single-node fit, the
    booster's parameters and its round budget. The workers train the booster, where autologging
    cannot see it, so the driver logs them from the fitted model."""
    return {
        **model.get_xgb_params(),
        "num_boost_round": model.n_estimators,
        "early_stopping_rounds": model.early_stopping_rounds,
    }


def fit_report(model, history=None) -> tuple[dict[str, float], str]:
    """Rounds run and the best round (0-based), and a summary line."""
    rounds = len(next(iter(history.values())))
    best = model.best_iteration
    summary = f"stopped after {rounds} rounds; best round {best + 1}"
    return {"best_iteration": best, "rounds_run": rounds}, summary

"""What a model family is to the rest of the project, written down and type-checked.

A family is one module (``TrainerModule``) and, where it trains on Spark, a second one
(``SparkTrainerModule``); ``trainers.TRAINERS`` lists them. The run layer (``jobs/``) calls only
what is declared here, and tests/trainers/test_contract.py checks every registered module against
these Protocols, signatures included. Nothing here knows about MLflow runs or command lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from common.columns import Roles
    from trainers.search_space import Space

StepCallback = Callable[[int, Mapping[str, float]], None]
# Per-step metrics a fit reports: {name: [value per step]}.
History = Mapping[str, Sequence[float]]


@dataclass(frozen=True)
class FitRequest:
    """What every trainer's ``train`` is given besides its hyperparameters."""

    X: pd.DataFrame  # feature rows normalized by role (common.preprocessing)
    y: np.ndarray  # encoded labels (classification) or values (regression)
    task: str
    seed: int
    threads: int | None = None  # cores the fit may use; None: the framework's default
    on_step: StepCallback | None = None  # called per round or epoch with its metrics
    roles: Roles | None = None  # the columns' roles; None: numeric or categorical by dtype

    def preprocessor(self, kind: str = "standard"):
        """An unfitted preprocessor for ``X``'s columns by role, of the ``kind``
        ``common.preprocessing.build_preprocessor`` takes ("standard" or "native")."""
        from common.columns import Roles
        from common.preprocessing import build_preprocessor

        return build_preprocessor(self.roles or Roles.of_dtypes(self.X), kind)


@dataclass(frozen=True)
class LearningCurve:
    """How to draw a fit's per-step metrics: the step it kept (0-based) and which metrics.

    ``metrics`` empty: every per-step metric the fit reported; ``ylabel`` empty: the metric's
    name without its ``train_`` prefix.
    """

    best_step: int
    metrics: tuple[str, ...] = ()
    ylabel: str = ""


@runtime_checkable
class TrainerModule(Protocol):
    """A model family trained in one process (``trainers/<family>.py``)."""

    # Frozen dataclass of the hyperparameters (fields from ``common.params.hyperparameter``):
    # names, defaults, types. The command line is built from it; MLproject is checked against it.
    Params: type

    def model_type(self, task: str) -> str:
        """The run's ``model_type`` tag, e.g. ``xgboost_classifier``."""
        ...

    def search_space(self) -> Space:
        """``tune``'s space over ``Params``' fields, declared once for every tuner
        (``trainers.search_space``: Uniform, Integer, Choice)."""
        ...

    def train(self, request: FitRequest, params: Any) -> tuple[Any, Any]:
        """Fit: (fitted preprocessor, estimator)."""
        ...

    def fit_report(self, estimator: Any, history: History | None = None) -> tuple[dict, str]:
        """Metrics about the fit itself (rounds run, best epoch) and a one-line summary."""
        ...

    def importances(self, estimator: Any) -> tuple[np.ndarray, str] | None:
        """(importance per encoded feature, chart title), or None."""
        ...

    def contributions(self, estimator: Any, encoded: np.ndarray) -> np.ndarray | None:
        """Hook: |per-row contribution| of each encoded feature (n, features), from the
        framework's own explainer where it is cheap (XGBoost's SHAP values), or None."""
        ...

    def learning_curve(self, estimator: Any) -> LearningCurve | None:
        """Hook: how to draw the per-step metrics, or None for a fit without steps."""
        ...

    def run_tags(self, params: Any) -> dict[str, str]:
        """Hook: tags only this family knows (the device a network trains on)."""
        ...

    def save_estimator(self, estimator: Any, path: Path) -> None:
        """Write the estimator in its safe on-disk format (skops, XGBoost JSON, state_dict)."""
        ...

    def load_estimator(self, path: str, task: str) -> Any:
        """Read back what ``save_estimator`` wrote; the served model calls this."""
        ...


@runtime_checkable
class SparkTrainerModule(Protocol):
    """A model family trained on Spark's executors (``trainers/<family>_spark.py``)."""

    # True when the workers log per-step metrics to the run themselves while training.
    LOGS_STEPS: bool

    def train(
        self,
        frame: Any,
        *,
        features: list[str],
        label: str,
        split: str,
        task: str,
        classes: list | None,
        seed: int,
        params: Any,
        workers: int,
        run_id: str | None = None,
        tracking_uri: str | None = None,
    ) -> tuple[Any, History]:
        """Fit on encoded Spark rows: (estimator the single-node module saves, history)."""
        ...

    def fit_report(self, estimator: Any, history: History | None = None) -> tuple[dict, str]:
        """As ``TrainerModule.fit_report``."""
        ...

    def autolog_params(self, estimator: Any) -> dict[str, object]:
        """``-P autolog=true``: the parameters autologging would log for a single-node fit."""
        ...

"""The business metric: the one place where a fork says what a model is worth in its own terms.

Every trainer logs what ``compute`` returns next to the fixed metrics of ``common.metrics``,
``tune -P metric=<name>`` can optimise it and ``register``'s gate can judge by it (the
candidate, the champion and the baseline scored alike). To define your own:

1. add its parameters to ``Settings`` (each becomes a ``--flag`` of every trainer, ``tune`` and
   ``main``; declare the same names in MLproject's ``x-data-params``, a test checks it);
2. compute it in ``compute`` (return ``{}`` where it does not apply);
3. say which way is better in ``GREATER_IS_BETTER``.

The shipped example is the expected cost of a binary classifier's decisions per row, from the
cost of a false positive and of a false negative (``-P cost_fp=5 -P cost_fn=1``). The positive
class is the later of the two labels in sorted order (``1``, ``True``, ``yes``). Lower is
better; with both costs 1 it is the error rate.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from common.errors import UserInputError
from common.params import float_in, hyperparameter

GREATER_IS_BETTER = {"test_expected_cost": False}
TASK = {"test_expected_cost": "classification"}  # the task each applies to
CLASSES = {"test_expected_cost": 2}  # the number of classes it needs, where it needs one


# A cost per decision up to a trillion: any currency's amounts, and an expected cost per row that
# stays finite (1e308 per false positive made the logged metric inf on a FINISHED run).
_COST = float_in(0.0, 1e12, low_open=False, high_open=False)


@dataclass(frozen=True)
class Settings:
    """The business metric's parameters, logged as run parameters like any other."""

    cost_fp: float = hyperparameter(1.0, _COST, "cost of a false positive (binary classification)")
    cost_fn: float = hyperparameter(1.0, _COST, "cost of a false negative (binary classification)")


def settings_of(values) -> Settings:
    """``Settings`` from parsed flags or a run's params (a Namespace or a mapping of text)."""
    get = (
        values.get
        if isinstance(values, dict)
        else lambda name, default: getattr(values, name, default)
    )
    chosen = {}
    for spec in fields(Settings):
        value = get(spec.name, None)
        if value is not None:
            chosen[spec.name] = spec.metadata["parse"](value) if isinstance(value, str) else value
    return Settings(**chosen)


def check_applies(metric: str, task: str, classes: list | None) -> None:
    """Refuse a business metric the table cannot have (e.g. expected cost on three classes)."""
    needed = CLASSES.get(metric)
    if needed is not None and (task != TASK[metric] or len(classes or ()) != needed):
        raise UserInputError(
            f"metric '{metric}' needs {TASK[metric]} with {needed} classes; this table has "
            + (f"{len(classes)} classes" if classes else "a numeric target")
        )


def compute(task: str, y_true: np.ndarray, output: np.ndarray, settings: Settings) -> dict:
    """The business metrics for ``output``: class probabilities (n, K) or predictions.

    Args:
        task: ``classification`` or ``regression``.
        y_true: Class codes 0..K-1 (sorted labels) or values.
        settings: The run's business parameters.
    """
    if task != "classification" or output.shape[1] != 2:
        return {}
    decided = output.argmax(axis=1)  # the label the served model predicts
    false_positives = np.sum((decided == 1) & (y_true == 0))
    false_negatives = np.sum((decided == 0) & (y_true == 1))
    cost = settings.cost_fp * false_positives + settings.cost_fn * false_negatives
    return {"test_expected_cost": float(cost / len(y_true))}

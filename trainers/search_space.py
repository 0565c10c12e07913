"""A trainer's search space, declared once, whichever tuner searches it.

Each family's ``search_space()`` returns ``{Params field: dimension}`` built from the three types
here; ``tune`` turns that into hyperopt's space (jobs/hyperopt_search.py) or Optuna's
distributions (jobs/optuna_search.py). A dimension a backend cannot express exactly is refused
there, naming the parameter, rather than searched approximately. Nothing here imports a tuner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _check_range(kind: str, low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{kind}: need finite low < high, got low={low}, high={high}")
    if log and low <= 0:
        raise ValueError(f"{kind}: a log scale needs low > 0, got low={low}")


@dataclass(frozen=True)
class Uniform:
    """A float drawn from [low, high], uniformly or, with ``log``, uniformly in log space."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        _check_range("Uniform", self.low, self.high, self.log)


@dataclass(frozen=True)
class Integer:
    """An integer of low, low + step, ..., high; with ``log``, spread uniformly in log space."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        _check_range("Integer", self.low, self.high, self.log)
        if self.step < 1 or (self.high - self.low) % self.step:
            raise ValueError(
                f"Integer: step must be >= 1 and divide high - low, got low={self.low}, "
                f"high={self.high}, step={self.step}"
            )


@dataclass(frozen=True)
class Choice:
    """One of ``options``, unordered (any values: None, numbers, tuples of layer sizes)."""

    options: tuple[Any, ...]

    def __post_init__(self) -> None:
        labels = self.labels()
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"Choice: need two or more distinct options, got {self.options!r}")

    def labels(self) -> list[str]:
        """Each option as text (what a tuner that takes only scalars chooses among)."""
        return [str(option) for option in self.options]


Dimension = Uniform | Integer | Choice
# {Params field: its dimension}: what ``TrainerModule.search_space()`` returns.
Space = Mapping[str, Dimension]

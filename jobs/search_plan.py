"""What ``tune`` hands a tuner backend and what it hands back, written once for both.

A backend (jobs/hyperopt_search.py, jobs/optuna_search.py) is a module with
``search(plan: SearchPlan) -> Found``; jobs/tuning.py imports it by name only when a run asks
for it, so a tuner that is not asked for is never imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainers.search_space import Space

# A trial's status in the objective's result: hyperopt's own values, so fmin takes the result
# as it is (tests/jobs/test_search_space.py checks they match).
STATUS_OK, STATUS_FAIL = "ok", "fail"
# The objective's result: {"status", "loss" (when ok), "run_id", "failure_reason" (when not)}.
Result = dict[str, Any]
# Per trial, in trial-number order: (number from 0, the parameter values it trained with, result).
Found = list[tuple[int, dict[str, Any], Result]]


@dataclass(frozen=True)
class SearchPlan:
    """One search: what to call per trial, over which declared space, how many times."""

    objective: Callable[[dict[str, Any]], Result]  # trains, scores, records the nested run
    space: Space
    max_evals: int
    parallelism: int  # > 1: trials run concurrently on Spark
    seed: int
    spark: Callable[[], Any]  # the Spark session, asked for only when parallelism > 1
    on_trial: Callable[[Result], None]  # called on the driver as each trial finishes

"""``tune -P backend=hyperopt`` (the default): TPE search with hyperopt's ``fmin``.

The declared space (trainers/search_space.py) becomes hyperopt's: ``Uniform`` ->
``hp.uniform``/``hp.loguniform``, ``Integer`` -> ``hp.quniform``/``hp.qloguniform`` cast to int,
``Choice`` -> ``hp.choice``, the same expressions the trainers wrote by hand before, so a seed
draws the trials it drew then. Sequential trials run in this process with ``Trials``;
``parallelism > 1`` runs them on Spark with ``SparkTrials``. Only this module imports hyperopt.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, hp, space_eval, tpe
from hyperopt.exceptions import AllTrialsFailed
from hyperopt.pyll import scope

from common.errors import UserInputError
from jobs.search_plan import Found, SearchPlan
from trainers.search_space import Choice, Dimension, Integer, Space, Uniform


def dimension(name: str, declared: Dimension):
    """One declared dimension as a hyperopt expression labelled ``name``."""
    if isinstance(declared, Uniform):
        if declared.log:
            return hp.loguniform(name, math.log(declared.low), math.log(declared.high))
        return hp.uniform(name, declared.low, declared.high)
    if isinstance(declared, Integer):
        # quniform/qloguniform draw round(x / q) * q: only multiples of q come out.
        if declared.low % declared.step:
            raise UserInputError(
                f"search space: hyperopt cannot draw '{name}' = Integer({declared.low}, "
                f"{declared.high}, step={declared.step}) exactly: its quantized draws are "
                f"multiples of step, and low={declared.low} is not one"
            )
        if declared.log:
            low, high = math.log(declared.low), math.log(declared.high)
            return scope.int(hp.qloguniform(name, low, high, declared.step))
        return scope.int(hp.quniform(name, declared.low, declared.high, declared.step))
    if isinstance(declared, Choice):
        return hp.choice(name, list(declared.options))
    raise UserInputError(f"search space: '{name}' is not a dimension hyperopt knows: {declared!r}")


def space(declared: Space) -> dict[str, Any]:
    """The declared space as hyperopt's ``{name: expression}``."""
    return {name: dimension(name, d) for name, d in declared.items()}


class _Progress:
    """hyperopt's ``show_progressbar`` callback: hands each newly finished trial's result, in
    tid order, to ``on_trial``; works for SparkTrials too, whose trials finish on workers."""

    def __init__(self, trials, on_trial: Callable[[dict], None]):
        self.trials, self.on_trial = trials, on_trial
        self.reported: set[int] = set()
        self.postfix = ""  # set by hyperopt; the lines say more

    @contextlib.contextmanager
    def __call__(self, initial: int, total: int):
        yield self

    def update(self, n: int) -> None:
        done = [
            t for t in self.trials.trials if t["result"].get("status") in (STATUS_OK, STATUS_FAIL)
        ]
        for trial in sorted(done, key=lambda t: t["tid"]):
            if trial["tid"] not in self.reported:
                self.reported.add(trial["tid"])
                self.on_trial(trial["result"])


def search(plan: SearchPlan) -> Found:
    """Run ``fmin`` with TPE, seeded by ``plan.seed``; the trials in tid order."""
    expressions = space(plan.space)  # a dimension hyperopt cannot draw fails before any trial
    if plan.parallelism > 1:
        from hyperopt import SparkTrials

        trials = SparkTrials(parallelism=plan.parallelism, spark_session=plan.spark())
    else:
        trials = Trials()
    with contextlib.suppress(AllTrialsFailed):  # tuning.search reports it, with the reasons
        fmin(
            plan.objective,
            expressions,
            algo=tpe.suggest,
            max_evals=plan.max_evals,
            trials=trials,
            rstate=np.random.default_rng(plan.seed),
            show_progressbar=_Progress(trials, plan.on_trial),
        )
    return [
        (int(t["tid"]), _values(expressions, t), t["result"])
        for t in sorted(trials.trials, key=lambda t: t["tid"])
    ]


def _values(expressions: dict[str, Any], trial: dict) -> dict[str, Any]:
    """The parameter values a trial trained with (hyperopt records choices as indices)."""
    drawn = {k: v[0] for k, v in trial["misc"]["vals"].items() if v}
    return space_eval(expressions, drawn)

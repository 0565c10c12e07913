"""``tune -P backend=optuna``: TPE search with Optuna, its study in memory on the driver.

The declared space (trainers/search_space.py) becomes Optuna's distributions: ``Uniform`` ->
``FloatDistribution(low, high, log=)``, ``Integer`` -> ``IntDistribution(low, high, step=, log=)``
(Optuna draws log-scale integers only with step 1: anything else is refused, naming the
parameter), ``Choice`` -> ``CategoricalDistribution`` over the options' labels (Optuna takes
only None, bool, int, float and str; a tuple of layer sizes is not one), mapped back to the
options before a trial trains. The driver asks the study for each trial with all its parameters
(``study.ask(distributions)``), the Objective trains, scores and records the nested run exactly
as under hyperopt, and the driver tells the study the loss, or FAIL for a trial that raised.

Seeded: ``TPESampler(seed=seed)`` in a sequential search draws the same trials for the same seed.

No pruning (``NopPruner``): a pruner stops a trial on the intermediate values it reports each
step (``trial.report``), but our trials are single fits scored once on the validation split,
with nothing reported between; XGBoost and the MLP already stop early inside their fit.

``parallelism > 1``: up to that many trials in flight, each one Spark job of one task launched
from a driver thread (SparkTrials' own design): the sampler stays on the driver, the workers
only fit and record, and the sampler's constant liar (TPESampler's default) keeps trials asked
for while others run apart. Not MLflow's ``mlflow.pyspark.optuna.study.MlflowSparkStudy``: it
runs a copy of the sampler in every Spark task over ``MlflowStorage``, which keeps a record of
its own (a study run as the trials' parent instead of tune's run, one run per trial holding
Optuna's parameter values and a ``value`` metric, a failure as ``error_message.txt``), ends that
study run itself, and reads every trial back from the store at each suggestion (calls growing
with the square of the trials on sqlite). Parallel trials are not reproducible: which trial
finishes first decides what TPE has seen (as with SparkTrials).
"""

from __future__ import annotations

import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from common.errors import UserInputError
from jobs.cli import verbose
from jobs.search_plan import STATUS_FAIL, STATUS_OK, Found, Result, SearchPlan
from trainers.search_space import Choice, Dimension, Integer, Space, Uniform


def distribution(name: str, declared: Dimension) -> BaseDistribution:
    """One declared dimension as Optuna's distribution."""
    if isinstance(declared, Uniform):
        return FloatDistribution(declared.low, declared.high, log=declared.log)
    if isinstance(declared, Integer):
        if declared.log and declared.step != 1:
            raise UserInputError(
                f"search space: Optuna cannot draw '{name}' = Integer({declared.low}, "
                f"{declared.high}, step={declared.step}, log=True): it draws log-scale "
                "integers only with step 1"
            )
        return IntDistribution(declared.low, declared.high, step=declared.step, log=declared.log)
    if isinstance(declared, Choice):
        return CategoricalDistribution(declared.labels())
    raise UserInputError(f"search space: '{name}' is not a dimension Optuna knows: {declared!r}")


def distributions(declared: Space) -> dict[str, BaseDistribution]:
    """The declared space as Optuna's ``{name: distribution}``."""
    return {name: distribution(name, d) for name, d in declared.items()}


def values(declared: Space, suggested: dict[str, Any]) -> dict[str, Any]:
    """A trial's suggested parameters as the values the trainer takes (labels -> options)."""
    found = {}
    for name, dim in declared.items():
        value = suggested[name]
        found[name] = dim.options[dim.labels().index(value)] if isinstance(dim, Choice) else value
    return found


def study(seed: int) -> optuna.Study:
    """A new in-memory study minimising the loss, TPE seeded by ``seed``, no pruner."""
    if not verbose():
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the trial lines say it all
    return optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.NopPruner(),
    )


@dataclass
class _Search:
    """The study, and the declared space it asks over (in Optuna's form as well)."""

    study: optuna.Study
    declared: Space
    asked: dict[str, BaseDistribution]

    def ask(self) -> tuple[optuna.Trial, dict[str, Any]]:
        """A new trial with every parameter drawn, and its values as the trainer takes them."""
        trial = self.study.ask(self.asked)
        return trial, values(self.declared, trial.params)

    def tell(self, trial: optuna.Trial, result: Result) -> None:
        """The objective's result, as a loss or a FAIL."""
        if result.get("status") == STATUS_OK:
            self.study.tell(trial, result["loss"])
        else:
            self.study.tell(trial, state=TrialState.FAIL)


def search(plan: SearchPlan) -> Found:
    """Ask, train, tell ``plan.max_evals`` times; the trials in number order."""
    asked = distributions(plan.space)  # a dimension Optuna cannot draw fails before any trial
    searching = _Search(study(plan.seed), plan.space, asked)
    if plan.parallelism > 1:
        return _on_spark(searching, plan, plan.spark())
    found: Found = []
    for _ in range(plan.max_evals):
        trial, params = searching.ask()
        result = plan.objective(params)
        searching.tell(trial, result)
        plan.on_trial(result)
        found.append((trial.number, params, result))
    return found


def _on_spark(searching: _Search, plan: SearchPlan, session) -> Found:
    """Keep ``plan.parallelism`` trials running as one-task Spark jobs; tell each as it ends."""
    parallelism, max_evals = plan.parallelism, plan.max_evals
    group = f"tune-optuna-{uuid.uuid4().hex[:8]}"
    found: Found = []
    running: dict[Future, tuple[optuna.Trial, dict[str, Any]]] = {}
    pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="tune-trial")
    try:
        while len(found) < max_evals:
            while len(running) < parallelism and len(found) + len(running) < max_evals:
                trial, params = searching.ask()
                running[pool.submit(_trial_job, session, group, plan.objective, params)] = (
                    trial,
                    params,
                )
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for job in sorted(finished, key=lambda j: running[j][0].number):
                trial, params = running.pop(job)
                result = _result_of(job)
                searching.tell(trial, result)
                plan.on_trial(result)
                found.append((trial.number, params, result))
    except BaseException:  # Ctrl-C or a failure here: stop the trials still on the cluster
        session.sparkContext.cancelJobGroup(group)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return sorted(found, key=lambda f: f[0])


def _trial_job(session, group: str, objective, params: dict[str, Any]) -> Result:
    context = session.sparkContext
    # A job group per search, set in this thread (PySpark pins Python threads to JVM threads).
    context.setJobGroup(group, "tune: Optuna trials", interruptOnCancel=True)
    return context.parallelize([params], 1).map(objective).collect()[0]


def _result_of(job: Future) -> Result:
    """The objective's result, or a failed trial's when its Spark task itself died (the
    objective records its own exceptions; this is a lost worker or an unpicklable value)."""
    try:
        return job.result()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        return {
            "status": STATUS_FAIL,
            "failure_reason": f"Spark task failed: {type(exc).__name__}: {first}"[:5000],
        }

"""The run of ``tune``: search a trainer's hyperparameters with hyperopt or Optuna, one nested
run per trial, then log the best.

Its command line is ``entrypoints/tune.py``. Trials train on part of the training split and are
scored on the rest (the validation split), so the test split stays unseen until the tuned model
is retrained on the whole training split and evaluated on it. ``backend`` picks the tuner
(jobs/hyperopt_search.py, the default, or jobs/optuna_search.py); each turns the trainer's
declared space (trainers/search_space.py) into its own form and hands back the same
``Trial`` records, so both leave the same record: a nested run per trial (FAILED for a trial
that raised, and the search goes on), one progress line per trial, ``best_*`` params, metric and
tags, ``trials.csv`` and the search-history plot on the parent, and the best retrained as the
parent's model. ``parallelism > 1`` runs trials concurrently on Spark (local Spark here, the
cluster on Databricks); 1 runs them in this process without Spark. Neither tuner is imported
until a run asks for it.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient

import trainers
from common import business, data, evaluation, metrics, seeding
from common.columns import Roles
from common.environment import JOB_PACKAGES, write_code_archive
from common.errors import UserInputError
from common.spark import session as spark_session
from jobs import context, training
from jobs.model_record import log_fitted
from jobs.search_plan import STATUS_FAIL, STATUS_OK, Found, SearchPlan
from trainers.search_space import Space

ENTRY_POINT = "tune"
# The tuners, by ``--backend``: the module that searches with each.
BACKENDS = {"hyperopt": "jobs.hyperopt_search", "optuna": "jobs.optuna_search"}


def trial_score(metric: str) -> tuple[str, int]:
    """(the trials' score for ``metric``, e.g. validation_roc_auc; the sign that turns it into
    the loss both tuners minimise, and back)."""
    return metric.replace("test_", "validation_"), -1 if metrics.GREATER_IS_BETTER[metric] else 1


@dataclass
class Objective:
    """One trial: train on the fit part, score on validation, record a nested run.

    Called with a trial's parameter values; returns ``{"status", "loss", "run_id"}`` (and
    ``failure_reason``), which hyperopt takes as it is and the Optuna search tells its study.
    Picklable, so Spark can ship it to workers; it talks to the tracking store only through an
    explicit client, parent run id and experiment id.
    """

    trainer: str
    task: str
    seed: int
    metric: str
    fit: data.Split  # X_train/y_train: trial training rows; X_test/y_test: validation rows
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    threads: int
    roles: Roles | None = None  # the columns' roles, as the table decided them
    settings: business.Settings | None = None  # the business metric's parameters

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        client = MlflowClient(self.tracking_uri)
        start_ms = int(time.time() * 1000)
        try:
            scores = self._train_and_score(params)
        except Exception as exc:  # a failed trial is recorded and the search goes on
            reason = f"{type(exc).__name__}: {exc}"[:5000]
            run_id = self._record(
                client, start_ms, params, {}, {"failure_reason": reason}, "FAILED"
            )
            return {"status": STATUS_FAIL, "run_id": run_id, "failure_reason": reason}
        run_id = self._record(client, start_ms, params, scores, {}, "FINISHED")
        name, sign = trial_score(self.metric)
        loss = sign * scores[name]
        return {"status": STATUS_OK, "loss": loss, "run_id": run_id}

    def _train_and_score(self, params: dict[str, Any]) -> dict[str, float]:
        trainer = trainers.get(self.trainer)
        preprocessor, estimator = trainer.fit(
            self.fit.X_train, self.fit.y_train, task=self.task, seed=self.seed,
            params=trainer.params(**params), threads=self.threads, roles=self.roles,
        )  # fmt: skip
        scores, _ = evaluation.score(
            self.task, preprocessor, estimator, self.fit.X_test, self.fit.y_test, self.settings
        )
        return {k.replace("test_", "validation_"): v for k, v in scores.items()}

    def _record(self, client, start_ms, params, scores, tags, status) -> str:
        return context.record_child_run(
            client,
            experiment_id=self.experiment_id,
            parent_run_id=self.parent_run_id,
            run_name="trial",  # numbered once the tuner's trial numbers are known
            start_ms=start_ms,
            params=params,
            metrics=scores,
            tags={"entry_point": "tune_trial", **tags},
            status=status,
        )


@dataclass(frozen=True)
class Trial:
    """One finished trial as both tuners report it: its number (hyperopt's tid, Optuna's
    trial.number, from 0), the parameter values it trained with, and the Objective's result."""

    number: int
    params: dict[str, Any]
    result: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.result.get("status") == STATUS_OK


def spark_for_trials(parallelism: int):
    """The active (or a local) Spark session, checked to have ``parallelism`` task slots, with
    this project's code shipped to its workers (other hosts need it to unpickle the Objective)."""
    spark = spark_session.get_or_create("tune", needed_for=f"parallelism={parallelism}")
    slots = spark.sparkContext.defaultParallelism
    if parallelism > slots:
        raise UserInputError(
            f"parallelism={parallelism} but Spark offers {slots} task slot(s) here; "
            f"use parallelism <= {slots}"
        )
    spark.sparkContext.addPyFile(_code_zip())
    return spark


def _code_zip() -> str:
    folder = Path(tempfile.mkdtemp(prefix="tune-code-"))
    return str(write_code_archive(folder / "project_code.zip", JOB_PACKAGES))


@dataclass
class TrialProgress:
    """One line per finished trial, printed on the driver as the tuner learns of it:

    ``trial 3/20  validation_roc_auc=0.9851  best 0.9859  (12.4 s)``, or the trial's failure.
    The same for both tuners, in process or with trials on Spark workers.
    """

    metric: str  # the test metric the search optimises
    total: int
    done: int = 0
    best_loss: float = float("inf")
    start: float = field(default_factory=time.perf_counter)

    def report(self, result: dict[str, Any]) -> None:
        """Print the line for one more finished trial (the Objective's ``result``)."""
        self.done += 1
        score_name, sign = trial_score(self.metric)
        head = f"trial {self.done}/{self.total}"
        elapsed = time.perf_counter() - self.start
        if result.get("status") == STATUS_OK:
            self.best_loss = min(self.best_loss, result["loss"])
            score, best = sign * result["loss"], sign * self.best_loss
            print(f"{head}  {score_name}={score:.4f}  best {best:.4f}  ({elapsed:.1f} s)")
        else:
            reason = result.get("failure_reason", "")[:200]
            print(f"{head}  failed: {reason}  ({elapsed:.1f} s)")


def backend_search(backend: str) -> Callable[[SearchPlan], Found]:
    """The ``search`` of ``backend``'s module, importing its tuner only now."""
    try:
        return importlib.import_module(BACKENDS[backend]).search
    except ImportError as exc:
        others = ", ".join(f"backend={b}" for b in BACKENDS if b != backend)
        raise UserInputError(
            f"backend={backend} needs the {exc.name or backend} package, which is not installed "
            f"here: install it as requirements.lock pins it (pip install -r requirements.lock), "
            f"or use {others}"
        ) from exc


def search(
    objective: Objective,
    space: Space,
    *,
    backend: str = "hyperopt",
    max_evals: int,
    parallelism: int,
    seed: int,
) -> tuple[list[Trial], Trial]:
    """Run ``backend``'s search over the declared ``space``; returns (trials, the best one).

    Raises UserInputError, with the trials' reasons, when every trial failed.
    """
    progress = TrialProgress(objective.metric, max_evals)
    plan = SearchPlan(
        objective, space, max_evals=max_evals, parallelism=parallelism, seed=seed,
        spark=lambda: spark_for_trials(parallelism), on_trial=progress.report,
    )  # fmt: skip
    found = backend_search(backend)(plan)
    trials = [Trial(number, params, result) for number, params, result in found]
    _number_trials(trials)
    ok = [t for t in trials if t.ok]
    if not ok:
        reasons = {t.result.get("failure_reason") for t in trials} - {None}
        raise UserInputError(f"all {len(trials)} trials failed: {'; '.join(sorted(reasons))}")
    return trials, min(ok, key=lambda t: t.result["loss"])


def _number_trials(trials: Sequence[Trial]) -> None:
    """Tag each trial's run with its trial number, known only once the tuner assigned it."""
    client = MlflowClient()
    for trial in trials:
        if run_id := trial.result.get("run_id"):
            number = str(trial.number)
            tags = [RunTag("trial", number), RunTag("mlflow.runName", f"trial_{number}")]
            client.log_batch(run_id, tags=tags)


def parse(parser, argv: Sequence[str] | None):
    given = sys.argv[1:] if argv is None else list(argv)
    if any(arg == "--engine" or arg.startswith("--engine=") for arg in given):
        # A Spark trainer inside a trial on Spark would nest one cluster job in another.
        raise UserInputError(
            "tune has no engine: each trial trains on one machine (parallelism spreads trials "
            "over Spark); tune on a sample of the table, then train the best parameters with "
            "train_<name> -P engine=spark"
        )
    return parser.parse_args(argv)


def run(args) -> int:
    with context.entry_point_run(ENTRY_POINT, args, stage="tune") as run:
        backend_search(args.backend)  # a tuner that is not installed fails before the data loads
        trainer = trainers.get(args.trainer)
        table, split, leaks = training.load_data(args, trainer.module.model_type)
        metric = metrics.resolve(args.metric, table.task)
        business.check_applies(metric, table.task, table.classes)
        fit = data.holdout(
            split.X_train, split.y_train, fraction=args.validation_fraction, seed=args.seed,
            stratify=table.task,
        )  # fmt: skip
        threads = max(1, (os.cpu_count() or 1) // args.parallelism)  # cores shared by trials
        objective = Objective(
            trainer=args.trainer, task=table.task, seed=args.seed, metric=metric, fit=fit,
            tracking_uri=mlflow.get_tracking_uri(), experiment_id=run.info.experiment_id,
            parent_run_id=run.info.run_id, threads=threads, roles=table.roles,
            settings=business.settings_of(args),
        )  # fmt: skip
        trials, best = search(
            objective, trainer.module.search_space(), backend=args.backend,
            max_evals=args.max_evals, parallelism=args.parallelism, seed=args.seed,
        )  # fmt: skip
        _log_search(trials, best, metric)
        seeding.seed_everything(args.seed)
        # The tuned model gets a direct run's record: rounds or epochs, learning curve, model.
        params = trainer.params(**best.params)
        mlflow.set_tags(trainer.module.run_tags(params))
        fitted = training.fit_one_node(
            trainer, table, split, params, seed=args.seed, run_id=run.info.run_id, leaks=leaks
        )
        log_fitted(trainer, fitted, business.settings_of(args))
    return 0


def _log_search(trials: Sequence[Trial], best: Trial, metric: str) -> None:
    """Log the best trial's params, score and run id, and the search's history, on the parent."""
    rows = [
        {
            "trial": trial.number,
            "status": trial.result.get("status"),
            "loss": trial.result.get("loss"),
            "run_id": trial.result.get("run_id"),
        }
        for trial in trials
    ]
    score_name, sign = trial_score(metric)
    mlflow.log_params({f"best_{k}": v for k, v in best.params.items()})
    mlflow.log_metrics(
        {
            f"best_{score_name}": sign * best.result["loss"],
            "trials_failed": sum(not trial.ok for trial in trials),
        }
    )
    mlflow.set_tags({"best_run_id": best.result["run_id"], "best_trial": str(best.number)})
    table = (
        pd.DataFrame(rows).assign(**{score_name: lambda t: sign * t["loss"]}).drop(columns="loss")
    )
    mlflow.log_text(table.to_csv(index=False), "trials.csv")
    mlflow.log_figure(_history_figure(table, score_name, sign), "plots/search_history.png")


def _history_figure(table: pd.DataFrame, score_name: str, sign: int):
    """Each finished trial's score by trial number (the tuner's, as in the trial run names)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    done = table.dropna(subset=[score_name]).sort_values("trial")
    best_so_far = (sign * done[score_name]).cummin() * sign
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.scatter(done["trial"], done[score_name], label="trial", s=18)
    ax.step(done["trial"], best_so_far, where="post", label="best so far", color="tab:red")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(score_name)
    ax.legend()
    ax.set_title("Hyperparameter search history")
    fig.tight_layout()
    return fig

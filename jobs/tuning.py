"""The run of ``tune``: search a trainer's hyperparameters with hyperopt, one nested run per trial,
then log the best.

Its command line is ``entrypoints/tune.py``. Trials train on part of the training split and are
scored on the rest (the validation split), so the test split stays unseen until the tuned model
is retrained on the whole training split and evaluated on it. ``parallelism > 1`` runs trials
concurrently with hyperopt's SparkTrials (local Spark here, the cluster on Databricks); 1 runs
them in this process without Spark.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, space_eval, tpe
from hyperopt.exceptions import AllTrialsFailed
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

ENTRY_POINT = "tune"


def trial_score(metric: str) -> tuple[str, int]:
    """(the trials' score for ``metric``, e.g. validation_roc_auc; the sign that turns it into
    hyperopt's loss, which is minimised, and back)."""
    return metric.replace("test_", "validation_"), -1 if metrics.GREATER_IS_BETTER[metric] else 1


@dataclass
class Objective:
    """One trial: train on the fit part, score on validation, record a nested run.

    Picklable, so SparkTrials can ship it to workers; it talks to the tracking store only
    through an explicit client, parent run id and experiment id.
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
            run_name="trial",  # numbered once hyperopt's trial ids are known
            start_ms=start_ms,
            params=params,
            metrics=scores,
            tags={"entry_point": "tune_trial", **tags},
            status=status,
        )


def spark_trials(parallelism: int):
    """SparkTrials on the active (or a local) Spark session, checked to have enough slots."""
    spark = spark_session.get_or_create("tune", needed_for=f"parallelism={parallelism}")
    from hyperopt import SparkTrials

    slots = spark.sparkContext.defaultParallelism
    if parallelism > slots:
        raise UserInputError(
            f"parallelism={parallelism} but Spark offers {slots} task slot(s) here; "
            f"use parallelism <= {slots}"
        )
    spark.sparkContext.addPyFile(_code_zip())  # workers on other hosts need this project's code
    return SparkTrials(parallelism=parallelism, spark_session=spark)


def _code_zip() -> str:
    folder = Path(tempfile.mkdtemp(prefix="tune-code-"))
    return str(write_code_archive(folder / "project_code.zip", JOB_PACKAGES))


class TrialProgress:
    """hyperopt's progress callback: one line per finished trial, on the driver.

    ``trial 3/20  validation_roc_auc=0.9851  best 0.9859  (12.4 s)``, or the trial's failure.
    Works the same for in-process trials and SparkTrials, whose trials run on workers.
    """

    def __init__(self, trials, metric: str):
        self.trials = trials
        self.metric, self.sign = trial_score(metric)
        self.reported: set[int] = set()
        self.best_loss = float("inf")
        self.total, self.start = 0, time.perf_counter()
        self.postfix = ""  # set by hyperopt; the lines say more

    @contextlib.contextmanager
    def __call__(self, initial: int, total: int):
        self.total, self.start = total, time.perf_counter()
        yield self

    def update(self, n: int) -> None:
        done = [
            t for t in self.trials.trials if t["result"].get("status") in (STATUS_OK, STATUS_FAIL)
        ]
        for trial in sorted(done, key=lambda t: t["tid"]):
            if trial["tid"] in self.reported:
                continue
            self.reported.add(trial["tid"])
            result, elapsed = trial["result"], time.perf_counter() - self.start
            head = f"trial {len(self.reported)}/{self.total}"
            if result["status"] == STATUS_OK:
                self.best_loss = min(self.best_loss, result["loss"])
                score, best = self.sign * result["loss"], self.sign * self.best_loss
                print(f"{head}  {self.metric}={score:.4f}  best {best:.4f}  ({elapsed:.1f} s)")
            else:
                print(
                    f"{head}  failed: {result.get('failure_reason', '')[:200]}  ({elapsed:.1f} s)"
                )


def search(objective: Objective, space: dict, *, max_evals: int, parallelism: int, seed: int):
    """Run the hyperopt search; returns (trials, best params as values)."""
    trials = spark_trials(parallelism) if parallelism > 1 else Trials()
    with contextlib.suppress(AllTrialsFailed):  # reported below with the trials' reasons
        fmin(
            objective,
            space,
            algo=tpe.suggest,
            max_evals=max_evals,
            trials=trials,
            rstate=np.random.default_rng(seed),
            show_progressbar=TrialProgress(trials, objective.metric),
        )
    _number_trials(trials)
    ok = [t for t in trials.trials if t["result"].get("status") == STATUS_OK]
    if not ok:
        reasons = {t["result"].get("failure_reason") for t in trials.trials} - {None}
        raise UserInputError(
            f"all {len(trials.trials)} trials failed: {'; '.join(sorted(reasons))}"
        )
    best = min(ok, key=lambda t: t["result"]["loss"])
    values = {k: v[0] for k, v in best["misc"]["vals"].items() if v}
    return trials, best, space_eval(space, values)


def _number_trials(trials) -> None:
    """Tag each trial's run with hyperopt's trial id, known only once the search has run."""
    client = MlflowClient()
    for trial in trials.trials:
        if run_id := trial["result"].get("run_id"):
            tid = str(trial["tid"])
            tags = [RunTag("trial", tid), RunTag("mlflow.runName", f"trial_{tid}")]
            client.log_batch(run_id, tags=tags)


def parse(parser, argv: Sequence[str] | None):
    given = sys.argv[1:] if argv is None else list(argv)
    if any(arg == "--engine" or arg.startswith("--engine=") for arg in given):
        # A Spark trainer inside a SparkTrials trial would nest one cluster job in another.
        raise UserInputError(
            "tune has no engine: each trial trains on one machine (parallelism spreads trials "
            "over Spark); tune on a sample of the table, then train the best parameters with "
            "train_<name> -P engine=spark"
        )
    return parser.parse_args(argv)


def run(args) -> int:
    with context.entry_point_run(ENTRY_POINT, args, stage="tune") as run:
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
        trials, best, best_params = search(
            objective, trainer.module.search_space(), max_evals=args.max_evals,
            parallelism=args.parallelism, seed=args.seed,
        )  # fmt: skip
        _log_search(trials, best, best_params, metric)
        seeding.seed_everything(args.seed)
        # The tuned model gets a direct run's record: rounds or epochs, learning curve, model.
        params = trainer.params(**best_params)
        mlflow.set_tags(trainer.module.run_tags(params))
        fitted = training.fit_one_node(
            trainer, table, split, params, seed=args.seed, run_id=run.info.run_id, leaks=leaks
        )
        log_fitted(trainer, fitted, business.settings_of(args))
    return 0


def _log_search(trials, best, best_params: dict[str, Any], metric: str) -> None:
    """Log the best trial's params, score and run id, and the search's history, on the parent."""
    rows = [
        {
            "trial": int(trial["tid"]),
            "status": trial["result"].get("status"),
            "loss": trial["result"].get("loss"),
            "run_id": trial["result"].get("run_id"),
        }
        for trial in trials.trials
    ]
    score_name, sign = trial_score(metric)
    mlflow.log_params({f"best_{k}": v for k, v in best_params.items()})
    mlflow.log_metrics(
        {
            f"best_{score_name}": sign * best["result"]["loss"],
            "trials_failed": sum(r["status"] != STATUS_OK for r in rows),
        }
    )
    mlflow.set_tags({"best_run_id": best["result"]["run_id"], "best_trial": str(best["tid"])})
    table = (
        pd.DataFrame(rows).assign(**{score_name: lambda t: sign * t["loss"]}).drop(columns="loss")
    )
    mlflow.log_text(table.to_csv(index=False), "trials.csv")
    mlflow.log_figure(_history_figure(table, score_name, sign), "plots/search_history.png")


def _history_figure(table: pd.DataFrame, score_name: str, sign: int):
    """Each finished trial's score by trial number (hyperopt's id, as in the trial run names)."""
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

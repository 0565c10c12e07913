"""Reading what the test's tracking store holds, and launching entry points into it."""

from __future__ import annotations

import importlib
from pathlib import Path

import mlflow
from mlflow.projects import run as mlflow_run
from mlflow.tracking import MlflowClient

import trainers

# Parameters that keep a run to a few seconds: the test suite's (out of the production registry).
QUICK_PARAMS: dict[str, dict[str, str]] = {
    "sklearn": {"n_estimators": "20"},
    "xgboost": {"n_estimators": "60"},
    "pytorch": {"epochs": "15"},
}


def all_runs(filter_string: str = ""):
    """Every run of the test's store matching ``filter_string``, oldest first."""
    experiments = [e.experiment_id for e in MlflowClient().search_experiments()]
    return MlflowClient().search_runs(
        experiments, filter_string=filter_string, order_by=["attributes.start_time ASC"]
    )


def only_run():
    """The store's one run; fails naming the runs when there are more or none."""
    runs = all_runs()
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def logged_models():
    """Every logged model of the test's store."""
    experiments = [e.experiment_id for e in MlflowClient().search_experiments()]
    return mlflow.search_logged_models(experiment_ids=experiments, output_format="list")


def quick_flags(trainer: trainers.Trainer) -> list[str]:
    """The trainer's quick parameters as command-line flags (``--n-estimators 20``)."""
    return [
        arg
        for name, value in QUICK_PARAMS[trainer.name].items()
        for arg in (f"--{name.replace('_', '-')}", value)
    ]


def launch(project: Path, entry_point: str, **params: str) -> str:
    """`mlflow run` an entry point of ``project`` (env manager local) into the train stage's
    experiment; returns the run id."""
    submitted = mlflow_run(
        str(project), entry_point=entry_point, parameters=params, env_manager="local",
        experiment_name="tabular-training/train",
    )  # fmt: skip
    return submitted.run_id


def train_main(trainer: trainers.Trainer, *argv: str) -> int:
    """Call the trainer's entry point's ``main`` in process with its quick flags and ``argv``."""
    entry_point = importlib.import_module(f"entrypoints.{trainer.entry_point}")
    return entry_point.main([*quick_flags(trainer), *argv])


def quick_params(trainer: trainers.Trainer):
    """The trainer's ``Params`` with its quick parameters, parsed as the command line would."""
    params = trainer.module.Params
    fields = params.__dataclass_fields__
    return params(
        **{k: fields[k].metadata["parse"](v) for k, v in QUICK_PARAMS[trainer.name].items()}
    )


def runs_in(experiment_name: str, filter_string: str = ""):
    """The runs of the experiment called ``experiment_name`` matching ``filter_string``, oldest
    first."""
    experiment = MlflowClient().get_experiment_by_name(experiment_name)
    assert experiment is not None, f"no experiment '{experiment_name}'"
    return MlflowClient().search_runs(
        [experiment.experiment_id],
        filter_string=filter_string,
        order_by=["attributes.start_time ASC"],
    )


def quick_mlflow_params(trainer: trainers.Trainer) -> list[str]:
    """The trainer's quick parameters as `mlflow run` options (``-P n_estimators=20``)."""
    return [
        arg
        for name, value in QUICK_PARAMS[trainer.name].items()
        for arg in ("-P", f"{name}={value}")
    ]

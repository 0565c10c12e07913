"""MLproject and the entry-point parsers describe the same parameters with the same defaults."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import shlex

import pytest
from mlflow.projects._project_spec import load_project

import trainers
from common import business, columns
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import QUICK_PARAMS

PROJECT = load_project(str(PROJECT_ROOT))
ENTRY_POINTS = sorted(PROJECT._entry_points)


def _flags(parser) -> set[str]:
    return {
        option[2:].replace("-", "_")
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def test_every_entry_point_has_a_module_of_the_same_name():
    assert set(ENTRY_POINTS) == {
        "deploy",
        "main",
        "monitor",
        "train_sklearn",
        "train_xgboost",
        "train_pytorch",
        "tune",
        "register",
        "predict",
        "reproduce",
    }
    for name in ENTRY_POINTS:
        assert f"python -m entrypoints.{name} " in PROJECT.get_entry_point(name).command


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_parameters_mirror_the_flags_and_the_defaults_agree(name):
    entry_point = PROJECT.get_entry_point(name)
    parser = importlib.import_module(f"entrypoints.{name}").build_parser()
    assert set(entry_point.parameters) == _flags(parser)
    # Parameters without a default are required on both sides; give them the same value.
    required = {k: "x" for k, p in entry_point.parameters.items() if p.default is None}
    defaults = {k: p.default for k, p in entry_point.parameters.items()} | required
    command = entry_point.compute_command(defaults, storage_dir=None)
    argv = shlex.split(command)[3:]  # drop "python -m entrypoints.<name>"
    given = [arg for k, v in required.items() for arg in (f"--{k.replace('_', '-')}", v)]
    assert vars(parser.parse_args(argv)) == vars(parser.parse_args(given))


TRAIN_ENTRY_POINTS = {name for name in ENTRY_POINTS if name.startswith("train_")}
# MLproject's x-data-params plus data: what every trainer takes besides its hyperparameters.
DATA_PARAMETERS = {
    "data", "target", "task", "test_size", "seed", "data_version", "run_name", *columns.OVERRIDES,
    *(spec.name for spec in dataclasses.fields(business.Settings)),
}  # fmt: skip


def test_the_trainers_registry_and_mlproject_list_the_same_trainers():
    registered = {t.entry_point for t in trainers.TRAINERS.values()}
    assert registered == TRAIN_ENTRY_POINTS
    for trainer in trainers.TRAINERS.values():
        entry_point = PROJECT.get_entry_point(trainer.entry_point)
        assert entry_point.parameters["data"].default == trainer.default_data
        assert trainers.by_entry_point(trainer.entry_point) is trainer
        module = importlib.import_module(f"entrypoints.{trainer.entry_point}")
        assert module.TRAINER is trainer


@pytest.mark.parametrize("name", ["main", "tune"])
def test_trainer_choices_of_the_pipeline_and_tune_are_the_registry(name):
    parser = importlib.import_module(f"entrypoints.{name}").build_parser()
    (action,) = [a for a in parser._actions if "--trainer" in a.option_strings]
    assert set(action.choices) == set(trainers.TRAINERS)


@pytest.mark.parametrize("name", sorted(trainers.TRAINERS))
def test_hyperparameters_are_declared_once_in_params(name):
    trainer = trainers.get(name)
    fields = {f.name for f in dataclasses.fields(trainer.module.Params)}
    entry_point = PROJECT.get_entry_point(trainer.entry_point)
    engine = {"engine", *filter(None, [trainer.spark_workers])}
    assert set(entry_point.parameters) - DATA_PARAMETERS - {"autolog"} - engine == fields
    assert engine <= set(entry_point.parameters)
    assert ("autolog" in entry_point.parameters) == (trainer.autolog is not None)
    assert set(trainer.module.search_space()) <= fields
    assert set(QUICK_PARAMS[trainer.name]) <= fields
    # train() takes the dataclass, so no keyword default can drift from it.
    signature = inspect.signature(trainer.module.train)
    assert all(p.default is inspect.Parameter.empty for p in signature.parameters.values()
               if p.name in fields)  # fmt: skip

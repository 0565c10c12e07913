"""Every registered model family keeps the written contract (trainers/contract.py)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest
import yaml

import trainers
from tests.helpers.project import PROJECT_ROOT
from trainers.contract import LearningCurve, SparkTrainerModule, TrainerModule

FAMILIES = sorted(trainers.TRAINERS)


def _members(protocol: type) -> dict[str, inspect.Signature]:
    """The protocol's methods and their signatures without ``self``."""
    found = {}
    for name, member in vars(protocol).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        signature = inspect.signature(member)
        found[name] = signature.replace(parameters=list(signature.parameters.values())[1:])
    return found


def _check_against(module, protocol: type) -> None:
    assert isinstance(module, protocol), f"{module.__name__} lacks a member of {protocol.__name__}"
    for name, expected in _members(protocol).items():
        actual = inspect.signature(getattr(module, name))
        shape = [(p.name, p.kind, p.default is p.empty) for p in actual.parameters.values()]
        wanted = [(p.name, p.kind, p.default is p.empty) for p in expected.parameters.values()]
        # A module may name its first parameter after what it is (forest, model, estimator).
        if wanted and shape and wanted[0][1] is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            shape[0], wanted[0] = shape[0][1:], wanted[0][1:]
        assert shape == wanted, f"{module.__name__}.{name}{actual} is not {name}{expected}"


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_module_keeps_the_trainer_contract(name):
    trainer = trainers.get(name)
    _check_against(trainer.module, TrainerModule)
    params = trainer.module.Params
    assert dataclasses.is_dataclass(params)
    assert params.__dataclass_params__.frozen
    for spec in dataclasses.fields(params):
        assert callable(spec.metadata.get("parse")), f"{name}.Params.{spec.name} has no parser"


@pytest.mark.parametrize("name", [n for n in FAMILIES if trainers.get(n).spark_module_name])
def test_each_spark_module_keeps_the_spark_trainer_contract(name):
    trainer = trainers.get(name)
    _check_against(trainer.spark_module, SparkTrainerModule)
    assert trainer.spark_workers, f"{name} trains on Spark but names no worker-count flag"


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_has_one_name_for_its_entry_point_module_and_mlproject(name):
    trainer = trainers.get(name)
    entry_points = yaml.safe_load((PROJECT_ROOT / "MLproject").read_text())["entry_points"]
    assert trainer.entry_point == f"train_{name}"
    assert trainer.entry_point in entry_points
    module = importlib.import_module(f"entrypoints.{trainer.entry_point}")
    assert module.TRAINER is trainer
    assert trainers.by_entry_point(trainer.entry_point) is trainer
    if not trainer.spark_module_name:
        assert trainer.spark_refusal, f"{name} has no Spark engine and says nothing of why"


def test_a_module_missing_a_hook_or_with_another_signature_is_caught():
    class NoCurve:  # a family module that forgot the learning-curve hook
        Params = trainers.get("sklearn").module.Params

    module = trainers.get("sklearn").module
    for member in _members(TrainerModule):
        if member != "learning_curve":
            setattr(NoCurve, member, staticmethod(getattr(module, member)))
    NoCurve.__name__ = "no_curve"
    with pytest.raises(AssertionError, match="lacks a member"):
        _check_against(NoCurve, TrainerModule)

    class OtherReport(NoCurve):
        learning_curve = staticmethod(lambda forest: None)
        fit_report = staticmethod(lambda forest: ({}, ""))  # no history parameter

    OtherReport.__name__ = "other_report"
    with pytest.raises(AssertionError, match="fit_report"):
        _check_against(OtherReport, TrainerModule)


def test_learning_curve_hooks_mark_the_kept_step():
    xgboost, pytorch = trainers.get("xgboost").module, trainers.get("pytorch").module

    class Booster:
        best_iteration = 7

    class Network:
        best_epoch = 3

    assert xgboost.learning_curve(Booster()) == LearningCurve(best_step=7)
    assert pytorch.learning_curve(Network()).best_step == 3
    assert pytorch.learning_curve(Network()).metrics == ("train_loss", "validation_loss")
    assert trainers.get("sklearn").module.learning_curve(object()) is None

"""MLproject and the entry-point parsers describe the same parameters with the same defaults."""

from __future__ import annotations

import importlib
import shlex

import pytest
from mlflow.projects._project_spec import load_project

from tests.conftest import PROJECT_ROOT

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
        "main",
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

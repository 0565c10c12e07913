"""The import graph runs one way: entrypoints -> trainers -> common.

The one exception is common/pyfunc.py, the servable model, which reads the trainers registry to
load an estimator by its trainer's name (never by a function named in the model's files).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers.project import PROJECT_ROOT

# Packages a logged model ships as its code must not need the command lines.
ALLOWED = {
    "common": {"common", "trainers"},
    "trainers": {"common", "trainers"},
    "entrypoints": {"common", "trainers", "entrypoints"},
}
COMMON_MODULES_READING_TRAINERS = {"common/pyfunc.py"}


def _runtime_imports(path: Path) -> set[str]:
    """Top-level packages of this project that ``path`` imports, outside ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and ast.unparse(branch.test) == "TYPE_CHECKING"
        for statement in branch.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(package):
    for path in sorted((PROJECT_ROOT / package).glob("*.py")):
        name = path.relative_to(PROJECT_ROOT).as_posix()
        allowed = ALLOWED[package]
        if package == "common" and name not in COMMON_MODULES_READING_TRAINERS:
            allowed = allowed - {"trainers"}
        assert _runtime_imports(path) <= allowed, name


def test_the_layout_check_sees_imports():
    assert _runtime_imports(PROJECT_ROOT / "entrypoints" / "tune.py") == {"common", "trainers"}
    assert _runtime_imports(PROJECT_ROOT / "common" / "training.py") == {"common"}

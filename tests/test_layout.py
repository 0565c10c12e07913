"""The import graph runs one way: entrypoints -> jobs -> trainers -> common, with no circles.

The one arrow up is common/pyfunc.py, the servable model, which reads the trainers registry to
load an estimator by its trainer's name (never by a function named in the model's files): a
logged model ships ``common`` and ``trainers`` together (``common.environment.MODEL_PACKAGES``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from common.environment import MODEL_PACKAGES
from tests.helpers.project import PROJECT_ROOT

LAYERS = ("entrypoints", "jobs", "trainers", "common")  # each imports only those after it
ALLOWED = {layer: set(LAYERS[i:]) - {"entrypoints"} for i, layer in enumerate(LAYERS)}
COMMON_MODULES_READING_TRAINERS = {"common/pyfunc.py"}
# What a logged model must never carry: command lines and process signal handling.
NOT_IN_A_MODEL = {"argparse", "signal"}


def _python_files(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, lazy: bool = True) -> set[str]:
    """Dotted names ``path`` imports outside ``if TYPE_CHECKING`` (inside functions too unless
    ``lazy`` is false)."""
    tree = ast.parse(path.read_text())
    skipped = set()
    for branch in ast.walk(tree):
        if isinstance(branch, ast.If) and ast.unparse(branch.test) == "TYPE_CHECKING":
            skipped |= {id(node) for statement in branch.body for node in ast.walk(statement)}
        if not lazy and isinstance(branch, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skipped |= {id(node) for statement in branch.body for node in ast.walk(statement)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _project_packages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imports(path)} & set(LAYERS)


def _graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (lazily or not)."""
    files = {_module_name(p): p for layer in LAYERS for p in _python_files(layer)}
    return {name: {m for m in _imports(path) if m in files and m != name}
            for name, path in files.items()}  # fmt: skip


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", LAYERS)
def test_each_layer_imports_only_the_layers_below_it(package):
    for path in _python_files(package):
        name = path.relative_to(PROJECT_ROOT).as_posix()
        allowed = ALLOWED[package]
        if package == "common" and name in COMMON_MODULES_READING_TRAINERS:
            allowed = allowed | {"trainers"}
        assert _project_packages(path) <= allowed, name


def test_no_module_imports_itself_through_others():
    assert _circles(_graph()) == []


def test_nothing_a_logged_model_ships_handles_command_lines_or_signals():
    for package in MODEL_PACKAGES:
        for path in _python_files(package):
            modules = {name.split(".")[0] for name in _imports(path)}
            assert not modules & NOT_IN_A_MODEL, path.relative_to(PROJECT_ROOT).as_posix()


def test_the_layout_checks_see_imports_and_circles():
    assert _project_packages(PROJECT_ROOT / "entrypoints" / "tune.py") == {
        "common", "trainers", "jobs",
    }  # fmt: skip
    assert _project_packages(PROJECT_ROOT / "jobs" / "training.py") == {"common", "jobs"}
    assert "jobs.spark_engine" in _graph()["jobs.training"]  # a lazy import is an arrow too
    assert "argparse" in _imports(PROJECT_ROOT / "jobs" / "cli.py")
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]

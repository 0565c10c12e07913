"""Regenerate the ``command:`` of every MLproject entry point from its declared parameters.

    make mlproject                      # rewrite MLproject's commands (what this does by default)
    python tools/mlproject.py --check   # exit 1, naming the entry points whose command differs

An entry point's parameters are the one place a parameter is written: its command is
``python -m entrypoints.<entry point>`` then ``--<name with - for _> {<name>}`` for each declared
parameter, in declaration order (a ``<<: *data_params`` merge puts its parameters where the
``<<:`` line stands), folded (``>-``) into lines of at most 100 characters. MLflow silently drops
a declared parameter that the command does not name; a generated command names them all.

Only the command blocks are rewritten, line by line; comments, anchors and every other line stay
byte-identical. tests/test_mlproject_source.py fails when MLproject is not in the generated form.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MLPROJECT = Path(__file__).resolve().parents[1] / "MLproject"
WIDTH = 100
MERGE_TAG = "tag:yaml.org,2002:merge"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BREAK = re.compile(r"(\r\n|[\n\r\x85\u2028\u2029])?\Z")


class MLprojectError(Exception):
    """MLproject is not a file this tool can rewrite safely."""


def _mapping(node: Node, what: str) -> MappingNode:
    if not isinstance(node, MappingNode):
        raise MLprojectError(f"{what} is not a mapping (line {node.start_mark.line + 1})")
    return node


def _get(node: MappingNode, key: str) -> tuple[ScalarNode, Node] | None:
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.tag != MERGE_TAG and k.value == key:
            return k, v
    return None


def declared_parameters(parameters: MappingNode) -> list[str]:
    """Parameter names in declaration order, each merge's names where its ``<<:`` stands; a name
    given twice (a merged one overridden) is one parameter, where it first appears."""
    names = []
    for key, value in parameters.value:
        if key.tag == MERGE_TAG:
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                names += declared_parameters(_mapping(source, "a merged parameter set"))
        else:
            names.append(key.value)
    return list(dict.fromkeys(names))


def command_lines(entry_point: str, parameters: list[str], indent: str) -> list[str]:
    """The folded command's lines: the module alone, then ``--flag {name}`` pairs filled greedily
    up to WIDTH characters per line (a pair is never split)."""
    lines, line = [f"{indent}python -m entrypoints.{entry_point}"], ""
    for name in parameters:
        if not NAME.fullmatch(name):
            raise MLprojectError(f"entry point {entry_point}: parameter {name!r} is not a name")
        pair = f"--{name.replace('_', '-')} {{{name}}}"
        if line and len(indent) + len(line) + 1 + len(pair) > WIDTH:
            lines.append(indent + line)
            line = pair
        else:
            line = f"{line} {pair}" if line else pair
    if line:
        lines.append(indent + line)
    return lines


def _lines(text: str) -> list[str]:
    """``text``'s lines with their breaks, numbered as YAML's marks number them (``\\r\\n`` is
    one break; ``str.splitlines`` would also break at characters YAML does not)."""
    return [line for line in re.split(r"(?<=[\n\x85\u2028\u2029])|(?<=\r)(?!\n)", text) if line]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def generate(text: str) -> tuple[str, list[str]]:
    """MLproject ``text`` with every command generated, and the entry points whose command
    changed (in file order)."""
    root = _mapping(yaml.compose(text, Loader=yaml.SafeLoader), "MLproject")
    found = _get(root, "entry_points")
    if found is None:
        raise MLprojectError("MLproject declares no entry_points")
    lines = _lines(text)
    blocks = []  # (first line, end line, new lines, entry point)
    commands = {}  # entry point -> the command its generated block folds to
    for key, node in _mapping(found[1], "entry_points").value:
        name = key.value
        entry_point = _mapping(node, f"entry point {name}")
        params, command = _get(entry_point, "parameters"), _get(entry_point, "command")
        if command is None:
            raise MLprojectError(f"entry point {name} has no command")
        declared = declared_parameters(_mapping(params[1], f"{name} parameters")) if params else []
        first, column = command[0].start_mark.line, command[0].start_mark.column
        if _indent(lines[first]) != column or not lines[first][column:].startswith("command:"):
            raise MLprojectError(
                f"entry point {name}: write its command as a block-style `command:` key on its "
                f"own line (line {first + 1})"
            )
        end = first + 1  # the value: every following line indented deeper than the key
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > column):
            end += 1
        while not lines[end - 1].strip():  # blank lines after it separate, they are not in it
            end -= 1
        body = command_lines(name, declared, " " * (column + 2))
        newline = BREAK.search(lines[first]).group() or "\n"
        new = [line + newline for line in [" " * column + "command: >-", *body]]
        if not BREAK.search(lines[end - 1]).group():  # the file's unended last line stays so
            new[-1] = new[-1].removesuffix(newline)
        blocks.append((first, end, new, name))
        commands[name] = " ".join(line.strip() for line in body)
    changed = [name for first, end, new, name in blocks if lines[first:end] != new]
    for first, end, new, _ in sorted(blocks, reverse=True):
        lines[first:end] = new
    result = "".join(lines)
    _verify(text, result, commands)
    return result, changed


def _verify(before: str, after: str, commands: dict[str, str]) -> None:
    """The rewritten text reads as the generated commands, each naming exactly its entry point's
    parameters, and nothing but the commands changed."""
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    for name, entry_point in new["entry_points"].items():
        command = entry_point.pop("command")
        old["entry_points"][name].pop("command")
        named = set(re.findall(r"\{(\w+)\}", command))
        if command != commands[name] or named != set(entry_point.get("parameters") or {}):
            raise MLprojectError(f"entry point {name}: the rewritten command reads {command!r}")
    if old != new:
        raise MLprojectError("the rewrite changed more than the commands")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("path", nargs="?", type=Path, default=MLPROJECT, help="the MLproject")
    args = parser.parse_args(argv)
    try:
        with open(args.path, encoding="utf-8", newline="") as file:  # keep its line endings
            text = file.read()
        generated, changed = generate(text)
    except (OSError, MLprojectError, yaml.YAMLError) as exc:
        print(f"{args.path}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print(
                f"{args.path}: the command of {', '.join(changed)} is not the one generated from "
                "its parameters; run `make mlproject`",
                file=sys.stderr,
            )
            return 1
        return 0
    if generated != text:
        args.path.write_text(generated, encoding="utf-8", newline="")
        print(f"{args.path}: regenerated the command of {', '.join(changed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""MLproject's commands are generated from the parameters (tools/mlproject.py): one source."""

from __future__ import annotations

import importlib.util
import string
import subprocess
import sys

import pytest
import yaml

from tests.helpers.project import PROJECT_ROOT

MLPROJECT = PROJECT_ROOT / "MLproject"
TOOL = PROJECT_ROOT / "tools" / "mlproject.py"
_spec = importlib.util.spec_from_file_location("tools_mlproject", TOOL)
mlproject = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mlproject)
ENTRY_POINTS = yaml.safe_load(MLPROJECT.read_text())["entry_points"]

# A merge in the middle of the parameters, a comment, and `fit` dropping the declared run_name
# (what MLflow would silently accept); `score` is already in the generated form.
BROKEN = """\
name: small

# Shared parameters.
x-shared: &shared
  seed: {type: string, default: "1"}
  run_name: {type: string, default: ""}

entry_points:
  fit:
    parameters:
      data: {type: string}
      <<: *shared
      learning_rate: {type: string, default: "0.1"}  # stays as it is
      early_stopping_rounds: {type: string, default: "30"}
      validation_fraction: {type: string, default: "0.15"}
    command: >-
      python -m entrypoints.fit --data {data} --seed {seed}
      --learning-rate {learning_rate} --early-stopping-rounds {early_stopping_rounds}
      --validation-fraction {validation_fraction}

  score:
    parameters:
      model_uri: {type: string}
    command: >-
      python -m entrypoints.score
      --model-uri {model_uri}
"""
# Line 2 of fit's command is 87 characters (the next pair would make it 135), line 3 is 97.
GENERATED = BROKEN.replace(
    """\
      python -m entrypoints.fit --data {data} --seed {seed}
      --learning-rate {learning_rate} --early-stopping-rounds {early_stopping_rounds}
      --validation-fraction {validation_fraction}
""",
    """\
      python -m entrypoints.fit
      --data {data} --seed {seed} --run-name {run_name} --learning-rate {learning_rate}
      --early-stopping-rounds {early_stopping_rounds} --validation-fraction {validation_fraction}
""",
)


def test_the_committed_mlproject_is_in_the_generated_form():
    done = subprocess.run(
        [sys.executable, str(TOOL), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert mlproject.generate(MLPROJECT.read_text()) == (MLPROJECT.read_text(), [])


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_declared_parameter_is_in_the_command_and_only_those(name):
    entry_point = ENTRY_POINTS[name]
    # MLflow fills the command with str.format, so these are the fields it substitutes.
    fields = [f for _, f, _, _ in string.Formatter().parse(entry_point["command"]) if f]
    declared = set(entry_point.get("parameters") or {})
    assert sorted(fields) == sorted(set(fields)), f"a parameter named twice: {fields}"
    assert set(fields) == declared, (
        f"declared, not in the command: {declared - set(fields)}; "
        f"in the command, not declared: {set(fields) - declared}"
    )


def test_the_generator_rewrites_a_broken_command_and_check_names_it(tmp_path, capsys):
    assert "run_name" not in yaml.safe_load(BROKEN)["entry_points"]["fit"]["command"]
    path = tmp_path / "MLproject"
    path.write_text(BROKEN)
    assert mlproject.main(["--check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "the command of fit is not" in err
    assert "score" not in err
    assert path.read_text() == BROKEN  # --check changes nothing

    assert mlproject.main([str(path)]) == 0
    assert path.read_text() == GENERATED
    assert mlproject.main(["--check", str(path)]) == 0
    assert mlproject.generate(GENERATED) == (GENERATED, [])  # deterministic, a fixed point


def test_a_line_is_filled_up_to_100_characters_and_not_one_more():
    names = ["a" * 20, "b" * 23]  # two pairs: 45 + 1 + 51 characters
    assert [len(line) for line in mlproject.command_lines("e", names, " " * 3)] == [26, 100]
    assert [len(line) for line in mlproject.command_lines("e", names, " " * 4)] == [27, 49, 55]


def test_a_command_that_is_not_a_block_key_is_refused_not_mangled(tmp_path, capsys):
    path = tmp_path / "MLproject"
    path.write_text("entry_points:\n  fit: {parameters: {a: {type: string}}, command: run}\n")
    assert mlproject.main(["--check", str(path)]) == 2
    assert (
        "entry point fit: write its command as a block-style `command:`" in capsys.readouterr().err
    )

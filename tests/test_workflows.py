"""The CI workflow a fork gets (.github/workflows/ci.yml), validated offline against GitHub's
workflow schema (check-jsonschema's vendored copy): a misspelt key or a bad value fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers.project import PROJECT_ROOT

WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))
CHECKER = Path(sys.executable).parent / "check-jsonschema"


def _validate(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHECKER), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_workflows_validate_against_githubs_schema():
    assert [p.name for p in WORKFLOWS] == ["ci.yml"]
    done = _validate(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_runs_the_readme_test_command_with_the_venv_cached_by_the_locks():
    workflow = yaml.safe_load(WORKFLOWS[0].read_text())
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert any(r.startswith("make test") for r in runs)
    assert "make test" in (PROJECT_ROOT / "README.md").read_text()
    (cache,) = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert cache["with"]["path"] == ".venv"
    assert "hashFiles('requirements.lock', 'requirements-dev.lock')" in cache["with"]["key"]
    (python,) = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert (
        python["with"]["python-version"]
        == yaml.safe_load((PROJECT_ROOT / "python_env.yaml").read_text())["python"]
    )


@pytest.mark.parametrize(
    ("change", "found"),
    [
        (("runs-on: ubuntu-24.04", "run-on: ubuntu-24.04"), "runs-on"),
        (("timeout-minutes: 90", "timeout-minutes: ninety"), "ninety"),
        (("    steps:", "    step:"), "step"),
    ],
    ids=["misspelt-key", "bad-value", "no-steps"],
)
def test_a_broken_workflow_fails_the_check(tmp_path, change, found):
    broken = tmp_path / "ci.yml"
    text = WORKFLOWS[0].read_text()
    assert change[0] in text
    broken.write_text(text.replace(*change))
    done = _validate(broken)
    assert done.returncode == 1
    assert found in done.stdout

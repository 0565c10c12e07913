"""The pinned environment is one set of pins everywhere: pyproject, locks, python_env, venv."""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib

import pytest
import yaml

from common.environment import (
    JOB_LOCK_FILE,
    RUNTIME_FRAMEWORKS,
    locked_versions,
    model_requirements,
    normalize_name,
)
from tests.helpers.project import PROJECT_ROOT

LOCK = PROJECT_ROOT / "requirements.lock"
DEV_LOCK = PROJECT_ROOT / "requirements-dev.lock"
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        name, sep, version = requirement.partition("==")
        assert sep, f"not an exact pin: {requirement}"
        pins[normalize_name(name)] = version
    return pins


def test_python_env_builds_from_the_lock_with_the_pinned_python():
    env = yaml.safe_load((PROJECT_ROOT / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.lock"]
    assert env["python"] == PYPROJECT["requires-python"].removeprefix("==")
    assert all("==" in dep for dep in env["build_dependencies"])


def test_direct_pins_match_the_lock():
    locked = locked_versions(LOCK)
    direct = _pins(PYPROJECT["dependencies"])
    drift = {n: (v, locked.get(n)) for n, v in direct.items() if locked.get(n) != v}
    assert not drift, f"pyproject pin vs requirements.lock: {drift}"


def test_dev_pins_match_the_dev_lock_and_do_not_override_runtime_pins():
    dev_locked = locked_versions(DEV_LOCK)
    direct = _pins(PYPROJECT["optional-dependencies"]["dev"])
    assert {n: dev_locked.get(n) for n in direct} == direct
    assert not set(dev_locked) & set(locked_versions(LOCK))


@pytest.mark.parametrize("lock", [LOCK, DEV_LOCK], ids=["runtime", "dev"])
def test_this_environment_is_exactly_the_lock(lock):
    drift = {}
    for name, version in locked_versions(lock).items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed is None or installed.split("+")[0] != version:
            drift[name] = (version, installed)
    assert not drift, f"lock vs installed in {sys.prefix}: {drift}"


def test_model_requirements_are_exact_pins_plus_the_lock_as_constraints():
    reqs = model_requirements("xgboost-cpu")
    locked = locked_versions(LOCK)
    assert reqs[-1] == f"-c {LOCK}"
    assert {normalize_name(r.split("==")[0]): r.split("==")[1] for r in reqs[:-1]} == {
        n: locked[n] for n in ("mlflow", "numpy", "pandas", "scikit-learn", "skops", "xgboost-cpu")
    }


def test_model_requirements_refuse_a_package_missing_from_the_lock():
    with pytest.raises(ValueError, match="no pin for not-a-package"):
        model_requirements("not-a-package")


def test_conda_yaml_holds_the_same_python_pip_and_lock():
    """conda.yaml (for teams on conda) agrees with python_env.yaml and installs the lock."""
    conda = yaml.safe_load((PROJECT_ROOT / "conda.yaml").read_text())
    env = yaml.safe_load((PROJECT_ROOT / "python_env.yaml").read_text())
    (pip,) = [d for d in env["build_dependencies"] if d.startswith("pip==")]
    python, pip_pin, pip_section = conda["dependencies"]
    assert python == f"python={env['python']}"
    assert pip_pin == f"pip={pip.removeprefix('pip==')}"
    assert pip_section == {"pip": ["-r requirements.lock"]}
    assert conda["channels"] == ["conda-forge"]


def test_the_job_lock_is_the_lock_less_the_frameworks_a_runtime_brings():
    """What databricks.yml's tasks install: every pin of requirements.lock but torch, whose
    runtime build serves (and never pyspark, in neither lock: the runtime's Spark is the job's)."""
    job = locked_versions(JOB_LOCK_FILE)
    locked = locked_versions(LOCK)
    assert set(RUNTIME_FRAMEWORKS) == {"torch"}
    assert job == {n: v for n, v in locked.items() if n not in RUNTIME_FRAMEWORKS}
    assert "pyspark" not in locked


def test_a_model_trained_on_a_runtimes_torch_requires_that_torch(tmp_path):
    """On a Databricks runtime the torch that trained the model is the runtime's, not the lock's:
    the model's requirements name it, and its constraints leave torch out so they can be met."""
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        LOCK.read_text().replace(f"torch=={locked_versions(LOCK)['torch']}", "torch==1.0.0")
    )
    running = importlib.metadata.version("torch").split("+")[0]
    reqs = model_requirements("torch", lock_file=lock)
    assert f"torch=={running}" in reqs
    assert reqs[-1] == f"-c {JOB_LOCK_FILE}"
    assert "torch==" not in JOB_LOCK_FILE.read_text()
    # Where the running torch is the lock's, the model is logged exactly as before.
    assert model_requirements("torch")[-1] == f"-c {LOCK}"

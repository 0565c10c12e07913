"""A run imports only the frameworks it uses (a fact about sys.modules, not a timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import trainers
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import quick_flags

FRAMEWORKS = ("torch", "xgboost", "hyperopt", "optuna")
USES = {"sklearn": set(), "xgboost": {"xgboost"}, "pytorch": {"torch"}}
SCRIPT = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
code = module.main(sys.argv[3:])
loaded = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
spark = sys.modules.get("pyspark.sql.session")
if spark is not None and spark.SparkSession._instantiatedSession is not None:
    loaded.append("a Spark session")
print(json.dumps({"code": code, "loaded": loaded}))
"""


def _loaded_after(
    entry_point: str, argv: list[str], tmp_path, watched: tuple[str, ...] = FRAMEWORKS
) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"entrypoints.{entry_point}", json.dumps(watched),
         *argv],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
        # the venv's python only for the pipeline's steps (`mlflow run` children)
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
             "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"},
    )  # fmt: skip
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, done.stderr[-3000:]
    return set(result["loaded"])


@pytest.mark.parametrize("name", sorted(trainers.TRAINERS))
def test_a_trainer_imports_its_own_framework_only(name, tmp_path):
    trainer = trainers.get(name)
    # MLflow imports pyspark whenever it is installed (mlflow/types/schema.py, ~0.1 s); what a
    # run must not do without being asked is start Spark.
    assert _loaded_after(trainer.entry_point, quick_flags(trainer), tmp_path) == USES[name]


def test_tune_adds_hyperopt_only(tmp_path):
    argv = ["--trainer", "sklearn", "--max-evals", "2"]
    assert _loaded_after("tune", argv, tmp_path) == {"hyperopt"}


def test_tune_with_optuna_adds_optuna_only(tmp_path):
    argv = ["--trainer", "sklearn", "--max-evals", "2", "--backend", "optuna"]
    assert _loaded_after("tune", argv, tmp_path) == {"optuna"}


def test_no_entry_point_module_imports_a_tuner():
    # Importing is not running: a tuner is imported by tune's run, for the backend it asks for.
    modules = [f"entrypoints.{p.stem}" for p in (PROJECT_ROOT / "entrypoints").glob("[!_]*.py")]
    code = (
        f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; "
        "print(sorted(m for m in ('optuna', 'hyperopt') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(modules) >= 10
    assert done.stdout.split() == ["[]"]


@pytest.mark.slow
def test_the_pipeline_process_imports_no_training_stack(tmp_path):
    # main only parses, launches its steps (each its own process) and reads their runs: the
    # scikit-learn stack, plots and skops would be ~0.5 s on the pipeline's critical path.
    argv = ["--tune", "false", "--trainer", "sklearn", "--train-params", "n_estimators=10",
            "--env-manager", "local"]  # fmt: skip
    assert _loaded_after("main", argv, tmp_path, ("sklearn", "skops", "matplotlib")) == set()

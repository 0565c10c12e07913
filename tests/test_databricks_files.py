"""databricks/cluster.json and databricks.yml, checked against Databricks' own typed models.

No workspace is reachable here, so the files are checked structurally: a misspelt field fails
(the SDK drops unknown keys, so its round trip differs; databricks-bundles raises), and every
task's entry point and flags parse with the project's own parsers.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re

import pytest
import yaml
from databricks.bundles.jobs import Job
from databricks.sdk.service.compute import ClusterSpec, Library

import trainers
from common.environment import locked_versions
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import all_runs, quick_flags

CLUSTER = json.loads((PROJECT_ROOT / "databricks" / "cluster.json").read_text())
BUNDLE = yaml.safe_load((PROJECT_ROOT / "databricks.yml").read_text())
JOBS = BUNDLE["resources"]["jobs"]
RUNNER = PROJECT_ROOT / "databricks" / "run_entry_point.py"


def _resolved(value, variables: dict[str, str]):
    """The bundle with ``${var.x}`` replaced by each variable's default."""
    if isinstance(value, dict):
        return {k: _resolved(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, variables) for v in value]
    if isinstance(value, str):
        return re.sub(r"\$\{var\.(\w+)\}", lambda m: variables[m.group(1)], value)
    return value


def test_cluster_spec_is_a_valid_new_cluster_with_pinned_libraries():
    assert set(CLUSTER) == {"new_cluster", "libraries"}  # the form MLflow's backend expects
    assert ClusterSpec.from_dict(CLUSTER["new_cluster"]).as_dict() == CLUSTER["new_cluster"]
    for library in CLUSTER["libraries"]:
        assert Library.from_dict(library).as_dict() == library
    dev_pins = locked_versions(PROJECT_ROOT / "requirements-dev.lock")
    assert {"pypi": {"package": f"uv=={dev_pins['uv']}"}} in CLUSTER["libraries"]


def test_a_misspelt_field_would_fail_these_checks():
    misspelt = {**CLUSTER["new_cluster"], "num_worker": 1}
    assert ClusterSpec.from_dict(misspelt).as_dict() != misspelt
    job = {**JOBS["tabular_training_pipeline"], "max_concurent_runs": 1}
    with pytest.raises(ValueError, match="max_concurent_runs"):
        Job.from_dict(job)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_bundle_jobs_are_valid_and_run_real_entry_points(name):
    variables = {k: str(v["default"]) for k, v in BUNDLE["variables"].items()}
    job = _resolved(JOBS[name], variables)
    assert Job.from_dict(job).name == job["name"]
    for cluster in job["job_clusters"]:
        assert ClusterSpec.from_dict(cluster["new_cluster"]).as_dict() == cluster["new_cluster"]
    keys = {c["job_cluster_key"] for c in job["job_clusters"]}
    for task in job["tasks"]:
        assert task["job_cluster_key"] in keys
        assert (PROJECT_ROOT / task["spark_python_task"]["python_file"]).is_file()
        for library in task["libraries"]:
            assert (PROJECT_ROOT / library["requirements"]).is_file()
        entry_point, *argv = task["spark_python_task"]["parameters"]
        parser = importlib.import_module(f"entrypoints.{entry_point}").build_parser()
        parser.parse_args(argv)  # refuses unknown flags and bad values


def test_bundle_targets_and_name():
    assert BUNDLE["bundle"]["name"] == "tabular-training"
    assert BUNDLE["targets"]["dev"]["default"] is True


def test_run_entry_point_runs_main_of_an_entry_point(capsys):
    # Loaded from its file, as a spark_python_task runs it ("databricks" is the SDK's package).
    spec = importlib.util.spec_from_file_location("run_entry_point", RUNNER)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    assert runner.main(["nothing"]) == 2
    assert "first argument must be an entry point: main, predict" in capsys.readouterr().err
    quick = quick_flags(trainers.get("sklearn"))
    assert runner.main(["train_sklearn", *quick, "--autolog", "false"]) == 0
    (run,) = all_runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["entry_point"] == "train_sklearn"

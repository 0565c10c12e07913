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
JOB_PARAMETER = re.compile(r"\{\{job\.parameters\.(\w+)\}\}")
VARIABLES = {k: str(v["default"]) for k, v in BUNDLE["variables"].items()}


def _resolved(value, variables: dict[str, str]):
    """The bundle with ``${var.x}`` replaced by each variable's default."""
    if isinstance(value, dict):
        return {k: _resolved(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, variables) for v in value]
    if isinstance(value, str):
        return re.sub(r"\$\{var\.(\w+)\}", lambda m: variables[m.group(1)], value)
    return value


def _task_argv(job: dict, task: dict) -> list[str]:
    """A task's parameters as its entry point gets them: each ``{{job.parameters.x}}`` replaced
    by that job parameter's default (a reference to an undeclared parameter fails)."""
    defaults = {p["name"]: str(p["default"]) for p in job.get("parameters", [])}

    def value(match: re.Match) -> str:
        assert match.group(1) in defaults, f"undeclared job parameter {match.group(0)}"
        return defaults[match.group(1)]

    return [JOB_PARAMETER.sub(value, a) for a in task["spark_python_task"]["parameters"]]


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
    job = _resolved(JOBS[name], VARIABLES)
    assert Job.from_dict(job).name == job["name"]
    for cluster in job["job_clusters"]:
        assert ClusterSpec.from_dict(cluster["new_cluster"]).as_dict() == cluster["new_cluster"]
    keys = {c["job_cluster_key"] for c in job["job_clusters"]}
    for task in job["tasks"]:
        assert task["job_cluster_key"] in keys
        assert (PROJECT_ROOT / task["spark_python_task"]["python_file"]).is_file()
        for library in task["libraries"]:
            assert (PROJECT_ROOT / library["requirements"]).is_file()
        entry_point, *argv = _task_argv(job, task)
        parser = importlib.import_module(f"entrypoints.{entry_point}").build_parser()
        parser.parse_args(argv)  # refuses unknown flags and bad values


def test_distributed_job_trains_each_spark_trainer_on_several_workers():
    job = _resolved(JOBS["tabular_training_distributed"], VARIABLES)
    assert job["max_concurrent_runs"] == 1
    clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
    trained = set()
    for task in job["tasks"]:
        cluster = clusters[task["job_cluster_key"]]
        # The worker count against the task slots (workers x cores / spark.task.cpus) depends on
        # the node type and is checked on the cluster (common.spark.tables.check_slots).
        assert cluster["num_workers"] > 1
        assert int(cluster["spark_conf"]["spark.task.cpus"]) >= 1  # var.task_cpus reaches it
        entry_point, *argv = _task_argv(job, task)
        trainer = trainers.get(entry_point.removeprefix("train_"))
        assert trainer.entry_point == entry_point
        assert trainer.spark_module_name
        workers_flag = f"--{trainer.spark_workers.replace('_', '-')}"
        raw = task["spark_python_task"]["parameters"]
        assert workers_flag in raw, f"{task['task_key']}: no {workers_flag}"
        # Set per run (--params num_workers=...), like the data and the target.
        assert JOB_PARAMETER.fullmatch(raw[raw.index(workers_flag) + 1])
        args = importlib.import_module(f"entrypoints.{entry_point}").build_parser().parse_args(argv)
        assert args.engine == "spark"
        assert getattr(args, trainer.spark_workers) > 1
        assert args.data
        assert args.target
        trained.add(trainer.name)
    assert trained == {"xgboost", "pytorch"}
    # Run one after the other: two barrier stages on one cluster would wait for each other's slots.
    (second,) = [t for t in job["tasks"] if t.get("depends_on")]
    assert [d["task_key"] for d in second["depends_on"]] == [job["tasks"][0]["task_key"]]


def test_job_parameter_references_are_substituted_and_checked():
    job = {"parameters": [{"name": "data", "default": "main.ml.big_table"}]}
    task = {"spark_python_task": {"parameters": ["x", "--data", "{{job.parameters.data}}"]}}
    assert _task_argv(job, task) == ["x", "--data", "main.ml.big_table"]
    task["spark_python_task"]["parameters"][2] = "{{job.parameters.dta}}"
    with pytest.raises(AssertionError, match="undeclared job parameter"):
        _task_argv(job, task)


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

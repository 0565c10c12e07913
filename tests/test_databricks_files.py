"""databricks/cluster.json and databricks.yml, checked against Databricks' own typed models.

No workspace is reachable here, so the files are checked structurally: a misspelt field fails
(the SDK drops unknown keys, so its round trip differs; databricks-bundles raises), and every
task's entry point and flags parse with the project's own parsers.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
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
GIT = {
    "bundle.git.commit": "0123456789abcdef0123456789abcdef01234567",
    "bundle.git.origin_url": "https://github.com/acme/tabular-training.git",
    "bundle.git.branch": "main",
}


def _load(path):
    """A file of databricks/ as a module ("databricks" is the SDK's package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK = _load(PROJECT_ROOT / "databricks" / "check_bundle.py")


def _resolved_jobs(target: str = "dev", bundle: dict = BUNDLE, **given) -> dict:
    """The bundle's jobs for ``target`` as the CLI resolves them (check_bundle does the same)."""
    return CHECK.resolve(bundle, target, given, git=GIT)["jobs"]


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
    job = _resolved_jobs()[name]
    assert Job.from_dict(job).name == job["name"]
    for cluster in job["job_clusters"]:
        assert ClusterSpec.from_dict(cluster["new_cluster"]).as_dict() == cluster["new_cluster"]
    keys = {c["job_cluster_key"] for c in job["job_clusters"]}
    for task in job["tasks"]:
        if "condition_task" in task:  # runs no code: checked where its job is
            continue
        assert task["job_cluster_key"] in keys
        assert (PROJECT_ROOT / task["spark_python_task"]["python_file"]).is_file()
        for library in task["libraries"]:
            assert (PROJECT_ROOT / library["requirements"]).is_file()
        entry_point, *argv = _task_argv(job, task)
        parser = importlib.import_module(f"entrypoints.{entry_point}").build_parser()
        parser.parse_args(argv)  # refuses unknown flags and bad values


def test_distributed_job_trains_each_spark_trainer_on_several_workers():
    job = _resolved_jobs()["tabular_training_distributed"]
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


def test_monitoring_job_retrains_only_when_monitor_says_so():
    from jobs import monitoring

    for target, paused in (("dev", "PAUSED"), ("prod", "UNPAUSED")):
        job = _resolved_jobs(target)["tabular_training_monitoring"]
        assert job["schedule"]["pause_status"] == paused
        CHECK.check_cron(job["schedule"]["quartz_cron_expression"])
        tasks = {t["task_key"]: t for t in job["tasks"]}
        monitor = importlib.import_module("entrypoints.monitor").build_parser()
        watched = monitor.parse_args(_task_argv(job, tasks["monitor"])[1:])
        assert watched.engine == "spark"
        assert (
            watched.model_uri == f"models:/main.{'ml_dev' if target == 'dev' else 'ml'}"
            ".tabular_training@champion"
        )
        (condition,) = [t for t in job["tasks"] if "condition_task" in t]
        assert [d["task_key"] for d in condition["depends_on"]] == ["monitor"]
        left = condition["condition_task"]["left"]
        assert left == f"{{{{tasks.monitor.values.{monitoring.TASK_VALUE}}}}}"
        assert condition["condition_task"] == {
            "op": "EQUAL_TO",
            "left": left,
            "right": monitoring.RETRAIN,
        }
        retrain = tasks["retrain"]
        assert retrain["depends_on"] == [{"task_key": condition["task_key"], "outcome": "true"}]
        entry_point, *argv = _task_argv(job, retrain)
        assert entry_point == "main"
        args = importlib.import_module("entrypoints.main").build_parser().parse_args(argv)
        assert args.retrain == "if_drift"
        assert args.model_name == watched.model_uri.removeprefix("models:/").split("@")[0]
        assert [d["task_key"] for d in tasks["deploy"]["depends_on"]] == ["retrain"]
        typed = Job.from_dict(job)
        assert [t.task_key for t in typed.tasks] == list(tasks)


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
    runner = _load(RUNNER)  # from its file, as a spark_python_task runs it
    assert runner.main(["nothing"]) == 2
    assert (
        "first argument must be an entry point: deploy, main, monitor, predict"
        in capsys.readouterr().err
    )
    quick = quick_flags(trainers.get("sklearn"))
    assert runner.main(["train_sklearn", *quick, "--autolog", "false"]) == 0
    (run,) = all_runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["entry_point"] == "train_sklearn"


def _cluster_envs(jobs: dict) -> list[dict]:
    return [c["new_cluster"]["spark_env_vars"] for j in jobs.values() for c in j["job_clusters"]]


def test_dev_and_prod_keep_their_models_experiments_and_artifacts_apart():
    dev, prod = _resolved_jobs("dev"), _resolved_jobs("prod")
    for isolated in CHECK.ISOLATED:
        (dev_value,) = {env[isolated] for env in _cluster_envs(dev)}  # one per target
        (prod_value,) = {env[isolated] for env in _cluster_envs(prod)}
        assert dev_value != prod_value, isolated
    assert {env["TABULAR_MODEL_NAMESPACE"] for env in _cluster_envs(prod)} == {"main.ml"}
    assert {env["TABULAR_MODEL_NAMESPACE"] for env in _cluster_envs(dev)} == {"main.ml_dev"}
    # Every task naming a model names its own target's: dev's pipeline and scoring never
    # touch prod's champion (register refuses any other name: tests/entrypoints/test_register).
    for jobs, namespace in ((dev, "main.ml_dev."), (prod, "main.ml.")):
        named = [
            value
            for job in jobs.values()
            for task in job["tasks"]
            if "spark_python_task" in task
            for flag, value in itertools.pairwise(task["spark_python_task"]["parameters"])
            if flag in ("--model-name", "--model-uri")
        ]
        # The pipeline's and its serving step's, the scoring job's, the monitoring job's three.
        assert len(named) == 6
        assert all(v.removeprefix("models:/").startswith(namespace) for v in named), named
    CHECK.check_isolation(BUNDLE)
    with pytest.raises(CHECK.BundleError, match="targets 'dev' and 'prod' share"):
        CHECK.check_isolation(BUNDLE, "dev", {"schema": "ml"})


def test_job_clusters_say_which_commit_they_run():
    for target in ("dev", "prod"):
        for env in _cluster_envs(_resolved_jobs(target)):
            assert env["TABULAR_GIT_COMMIT"] == GIT["bundle.git.commit"]
            assert env["TABULAR_GIT_ORIGIN"] == GIT["bundle.git.origin_url"]
            assert env["TABULAR_GIT_BRANCH"] == "main"
            assert env["TABULAR_BUNDLE_TARGET"] == target
            assert env["TABULAR_GIT_DIRTY"] == "true"  # unless make deploy found it clean
    clean = _resolved_jobs("prod", git_dirty="false")
    assert {env["TABULAR_GIT_DIRTY"] for env in _cluster_envs(clean)} == {"false"}


def test_the_pipeline_runs_on_a_schedule_paused_in_dev_and_failures_notify():
    for target, paused in (("dev", "PAUSED"), ("prod", "UNPAUSED")):
        jobs = _resolved_jobs(target, failure_emails=["ml-oncall@example.com"])
        schedule = jobs["tabular_training_pipeline"]["schedule"]
        assert schedule["pause_status"] == paused
        CHECK.check_cron(schedule["quartz_cron_expression"])
        for job in jobs.values():
            assert job["max_concurrent_runs"] == 1
            assert job["email_notifications"]["on_failure"] == ["ml-oncall@example.com"]
            assert Job.from_dict(job).email_notifications.on_failure == ["ml-oncall@example.com"]


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 3 1 * ?",
        "0 */15 * ? * MON-FRI",
        "0 30 6 ? * 2#1",
        "0 0 0 L * ?",
        "0 0 12 15W 1,7 ? 2027",
    ],
)
def test_quartz_schedules_that_databricks_takes_pass(expression):
    CHECK.check_cron(expression)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 3 * * *", "has 6 or 7 fields"),
        ("0 0 25 1 * ?", "hours field '25'"),
        ("0 0 3 * * *", "exactly one of day-of-month and day-of-week"),
        ("0 0 3 1 FOO ?", "month field 'FOO'"),
        ("0 0/0 3 1 * ?", "minutes field '0/0'"),
    ],
)
def test_a_schedule_that_does_not_parse_is_one_line_before_deploying(expression, message, capsys):
    assert CHECK.main(["--target", "prod", "--var", f"pipeline_schedule={expression}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: schedule ")
    assert message in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--var", "scheme=ml"], "--var scheme: no such variable"),
        (["--var", 'failure_emails=["ml-oncall"]'], "'ml-oncall' is not an address"),
        (["--var", "schedule_timezone=Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_bundle_values_are_one_line_before_deploying(argv, message, capsys):
    assert CHECK.main(["--target", "prod", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_an_unresolved_bundle_variable_is_named(tmp_path, capsys):
    bundle = yaml.safe_load((PROJECT_ROOT / "databricks.yml").read_text())
    del bundle["targets"]["prod"]["variables"]["schema"]
    with pytest.raises(CHECK.BundleError, match="variable 'schema' has no value for target 'prod'"):
        CHECK.resolve(bundle, "prod", git=GIT)
    bundle = yaml.safe_load((PROJECT_ROOT / "databricks.yml").read_text())
    bundle["resources"]["jobs"]["tabular_training_pipeline"]["name"] = "x ${var.nme}"
    path = tmp_path / "databricks.yml"
    path.write_text(yaml.safe_dump(bundle))
    assert CHECK.main(["--target", "dev", "--bundle", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: resources.jobs.tabular_training_pipeline.name: ${var.nme} is not a declared "
        "variable\n"
    )
    assert CHECK.main(["--target", "dev"]) == 0
    assert "bundle ok for target dev: models in main.ml_dev" in capsys.readouterr().out

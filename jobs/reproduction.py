"""The run of ``reproduce``: rerun a run exactly (same commit, entry point, parameters,
environment) and compare metrics.

Its command line is ``entrypoints/reproduce.py``. The original's code is checked out at its
recorded commit into a scratch folder, from the repository this command runs in or the one
``--repo`` names, and run from there with ``mlflow run`` as a child of this run. Where the run
says its code came from (its ``project_repo`` and ``mlflow.source.git.repoURL`` tags) is shown
but never cloned unasked: anyone who can tag a run could otherwise make whoever reproduces it
run their code.

Every metric of the two runs is compared; ``reproduction.csv`` lists metric, original, rerun and
difference, and both runs are tagged ``reproduces`` / ``reproduced``. Timings (``*_seconds``,
``*_per_second``) and system metrics (``system/...``) are listed but not judged. Refused: runs
that did not finish, have no metrics, or were made from a dirty working tree or without a commit.
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import trainers
from common import metrics, tracking
from common.errors import UserInputError
from jobs import context, launcher

ENTRY_POINT = "reproduce"


# Logged on a training run later, by register's gate: a rerun cannot have them.
ADDED_LATER = ("baseline_",)


# Entry points whose rerun only trains and logs; register, main and predict act on the registry
# or write files, so rerunning them is not a side-effect-free check.
REPRODUCIBLE = (*(t.entry_point for t in trainers.TRAINERS.values()), "tune")


COMMIT = re.compile(r"[0-9a-f]{40}")


def original_run(run_id: str):
    """The run to reproduce, refused when its code or launch cannot be recovered."""
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise UserInputError(f"run_id '{run_id}': no such run") from exc
    tags = run.data.tags
    if "mlflow.source.git.commit" not in tags:
        raise UserInputError(f"run {run_id} has no git commit (mlflow.source.git.commit)")
    if not COMMIT.fullmatch(tags["mlflow.source.git.commit"]):
        raise UserInputError(
            f"run {run_id}: mlflow.source.git.commit {tags['mlflow.source.git.commit']!r} is "
            "not a full commit sha"
        )
    if tags.get("git_dirty") != "false":
        raise UserInputError(
            f"run {run_id} was made from a dirty working tree (git_dirty="
            f"{tags.get('git_dirty', 'not recorded')}): its code is not in commit "
            f"{tags['mlflow.source.git.commit']}, so it cannot be reproduced"
        )
    entry_point = tags.get("mlflow.project.entryPoint")
    if entry_point is None:
        raise UserInputError(
            f"run {run_id} was not started by 'mlflow run' (no mlflow.project.entryPoint tag); "
            "reproduce reruns launcher runs, whose parameters are the MLproject's"
        )
    if entry_point not in REPRODUCIBLE:
        hint = f" (its training run: {tags['train_run_id']})" if "train_run_id" in tags else ""
        raise UserInputError(
            f"run {run_id} is a '{entry_point}' run, which acts on the registry or writes files; "
            f"reproduce reruns {', '.join(REPRODUCIBLE)} runs{hint}"
        )
    if run.info.status != "FINISHED":
        raise UserInputError(
            f"run {run_id} is {run.info.status}: only a FINISHED run has results to reproduce"
        )
    if not [name for name in run.data.metrics if not metrics.is_measurement(name)]:
        raise UserInputError(f"run {run_id} has no metrics to compare a rerun with")
    return run


def recorded_location(tags: dict[str, str]) -> str:
    """Where the run says its code came from, for the user to read (never cloned from here)."""
    places = [tags.get("project_repo"), tags.get("mlflow.source.git.repoURL")]
    return " or ".join(repr(p) for p in places if p) or "nowhere (no project_repo/repoURL tag)"


def project_subdir(tags: dict[str, str]) -> str:
    """The project's folder inside its repository, refused when it would leave the checkout."""
    subdir = tags.get("project_subdir", "")
    parts = Path(subdir).parts
    if Path(subdir).is_absolute() or ".." in parts or any(p.startswith("-") for p in parts):
        raise UserInputError(f"project_subdir tag {subdir!r}: not a folder inside a repository")
    return subdir


def checkout(source: str, tags: dict[str, str], into: Path) -> Path:
    """Clone ``source`` and check out the run's commit in ``into``; returns the project folder."""
    commit, subdir = tags["mlflow.source.git.commit"], project_subdir(tags)
    repo = into / "checkout"
    steps = [
        ["git", "clone", "--quiet", "--no-checkout", "--", source, str(repo)],
        ["git", "-C", str(repo), "checkout", "--quiet", "--detach", commit],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["git failed"])[-1]
            raise UserInputError(
                f"commit {commit} could not be checked out from '{source}' ({reason}). The run "
                f"records its code at {recorded_location(tags)}: if you trust that, pass it "
                "as repo=<location>"
            )
    project = repo / subdir
    if not (project / "MLproject").is_file():
        raise UserInputError(f"commit {commit} has no MLproject in '{subdir or '.'}' of '{source}'")
    return project


def source_repository(repo: str) -> str:
    """``repo`` as given, else the git repository this command runs from."""
    if repo:
        return repo
    location = tracking.git_location()
    if location is None:
        raise UserInputError(
            "reproduce does not run from a git repository: pass repo=<path or URL>"
        )
    return location[0]


def launch_parameters(run, project_dir: Path) -> dict[str, str]:
    """The entry point's parameters as the launcher received them (it logs them shell-quoted)."""
    entry_point = run.data.tags["mlflow.project.entryPoint"]
    logged = run.data.params
    return {
        name: launcher.launched_value(logged[name])
        for name in launcher.entry_point_parameters(entry_point, project_dir)
        if name != "run_name" and name in logged
    }


def compare(original: dict[str, float], rerun: dict[str, float], tolerance: float):
    """(report table, names of judged metrics that differ or are missing on one side)."""
    rows, failed = [], []
    for name in sorted(set(original) | set(rerun)):
        a, b = original.get(name), rerun.get(name)
        judged = not metrics.is_measurement(name) and not name.startswith(ADDED_LATER)
        same = (
            a is not None
            and b is not None
            and math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
        )
        if judged and not same:
            failed.append(name)
        difference = None if a is None or b is None else b - a
        rows.append(
            {"metric": name, "original": a, "rerun": b, "difference": difference, "judged": judged}
        )
    return pd.DataFrame(rows), failed


def run(args) -> int:
    with context.entry_point_run(ENTRY_POINT, args, stage="reproduce"):
        original = original_run(args.run_id)
        tags = original.data.tags
        env_manager = args.env_manager
        if env_manager == "auto":
            env_manager = launcher.env_manager_of(tags)
        mlflow.set_tags({"reproduces": args.run_id, "env_manager": env_manager})
        source = source_repository(args.repo)
        mlflow.set_tag("reproduced_from", source)
        print(f"run {args.run_id} records its code at {recorded_location(tags)}")
        with tempfile.TemporaryDirectory(prefix="reproduce-") as scratch:
            project_dir = checkout(source, tags, Path(scratch))
            entry_point, commit = (
                tags["mlflow.project.entryPoint"],
                tags["mlflow.source.git.commit"],
            )
            print(f"rerunning {entry_point} of run {args.run_id} at commit {commit}")
            parameters = launch_parameters(original, project_dir)
            rerun_id = launcher.run_child(project_dir, entry_point, parameters, env_manager)
        client = MlflowClient()
        rerun_metrics = client.get_run(rerun_id).data.metrics
        table, failed = compare(original.data.metrics, rerun_metrics, args.tolerance)
        reproduced = "false" if failed else "true"
        client.set_tag(rerun_id, "reproduces", args.run_id)
        client.set_tag(rerun_id, "reproduced", reproduced)
        mlflow.set_tags({"reproduced": reproduced, "rerun_run_id": rerun_id})
        mlflow.log_text(table.to_csv(index=False), "reproduction.csv")
        judged = table[table["judged"]]
        largest = pd.to_numeric(judged["difference"], errors="coerce").abs().max()
        if not pd.isna(largest):
            mlflow.log_metric("max_abs_difference", float(largest))
        print(table.to_string(index=False))
        if failed:
            raise UserInputError(
                f"run {args.run_id} did not reproduce (tolerance {args.tolerance}): "
                + ", ".join(failed)
            )
        print(f"reproduced run {args.run_id} as {rerun_id}: {len(judged)} metrics equal")
    return 0

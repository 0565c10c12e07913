"""Rerun a run exactly (same commit, entry point, parameters, environment) and compare metrics.

    mlflow run . -e reproduce --env-manager local -P run_id=<run id>
    python -m entrypoints.reproduce --run-id <run id> --tolerance 1e-6

The original's code is checked out at its recorded commit (from the repository it ran in, or
its git remote for git-URL runs) into a scratch folder and run from there with ``mlflow run``
as a child of this run. Every metric of the two runs is compared; ``reproduction.csv`` lists
metric, original, rerun and difference, and both runs are tagged ``reproduces`` /
``reproduced``. Timings (``*_seconds``, ``*_per_second``) are listed but not judged. Runs made
from a dirty working tree, or without a commit, are refused: their code cannot be recovered.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import trainers
from common import cli, launcher, tracking
from common.errors import UserInputError

ENTRY_POINT = "reproduce"
TIMINGS = ("_seconds", "_per_second")
# Entry points whose rerun only trains and logs; register, main and predict act on the registry
# or write files, so rerunning them is not a side-effect-free check.
REPRODUCIBLE = (*(t.entry_point for t in trainers.TRAINERS.values()), "tune")


def build_parser() -> cli.StrictParser:
    parser = cli.StrictParser(description=__doc__)
    parser.add_argument("--run-id", required=True, help="the run to reproduce")
    parser.add_argument(
        "--tolerance",
        type=cli.float_in(0.0, float("inf"), low_open=False),
        default=0.0,
        help="allowed absolute or relative difference per metric (0: exact; GPU runs need more)",
    )
    parser.add_argument(
        "--env-manager",
        choices=["auto", "local", "uv", "virtualenv"],
        default="auto",
        help="auto: the original's (its mlflow.project.env tag, else local)",
    )
    parser.add_argument("--run-name", default="")
    return parser


def original_run(run_id: str):
    """The run to reproduce, refused when its code or launch cannot be recovered."""
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise UserInputError(f"run_id '{run_id}': no such run") from exc
    tags = run.data.tags
    if "mlflow.source.git.commit" not in tags:
        raise UserInputError(f"run {run_id} has no git commit (mlflow.source.git.commit)")
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
    return run


def checkout(tags: dict[str, str], into: Path) -> Path:
    """Clone the original's repository at its commit into ``into``; returns the project folder."""
    commit = tags["mlflow.source.git.commit"]
    sources = [tags.get("project_repo"), tags.get("mlflow.source.git.repoURL")]
    tried = []
    for source in filter(None, sources):
        repo = into / f"checkout{len(tried)}"
        clone = ["git", "clone", "--quiet", "--no-checkout", source, str(repo)]
        done = subprocess.run(clone, capture_output=True, text=True, timeout=600)
        if done.returncode == 0:
            done = subprocess.run(
                ["git", "-C", str(repo), "checkout", "--quiet", commit],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
        if done.returncode == 0:
            return repo / tags.get("project_subdir", "")
        tried.append(f"{source}: {done.stderr.strip().splitlines()[-1:]}")
    raise UserInputError(
        f"commit {commit} could not be checked out from "
        + ("; ".join(tried) or "anywhere: the run has no project_repo or repoURL tag")
    )


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
        judged = not name.endswith(TIMINGS)
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


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    with tracking.entry_point_run(ENTRY_POINT, args, stage="reproduce"):
        original = original_run(args.run_id)
        tags = original.data.tags
        env_manager = args.env_manager
        if env_manager == "auto":
            env_manager = launcher.env_manager_of(tags)
        mlflow.set_tags({"reproduces": args.run_id, "env_manager": env_manager})
        with tempfile.TemporaryDirectory(prefix="reproduce-") as scratch:
            project_dir = checkout(tags, Path(scratch))
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
        largest = judged["difference"].abs().max()
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


if __name__ == "__main__":
    raise SystemExit(main())

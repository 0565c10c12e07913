"""Rerun a run exactly (same commit, entry point, parameters, environment) and compare metrics.

    mlflow run . -e reproduce --env-manager local --experiment-name tabular-training/reproduce \
        -P run_id=<run id>
    python -m entrypoints.reproduce --run-id <run id> --repo /path/to/clone --tolerance 1e-6

The original's code is checked out at its recorded commit into a scratch folder, from the
repository this command runs in or the one ``--repo`` names, and run from there with
``mlflow run`` as a child of this run. Where the run says its code came from (its
``project_repo`` and ``mlflow.source.git.repoURL`` tags) is shown but never cloned unasked:
anyone who can tag a run could otherwise make whoever reproduces it run their code.

Every metric of the two runs is compared; ``reproduction.csv`` lists metric, original, rerun
and difference, and both runs are tagged ``reproduces`` / ``reproduced``. Timings
(``*_seconds``, ``*_per_second``) are listed but not judged. Refused: runs that did not finish,
have no metrics, or were made from a dirty working tree or without a commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from jobs import cli, reproduction


def build_parser() -> cli.StrictParser:
    parser = cli.StrictParser(description=__doc__)
    parser.add_argument("--run-id", required=True, help="the run to reproduce")
    parser.add_argument(
        "--repo",
        default="",
        help="git repository (path or URL) holding the run's commit; default: the one this "
        "command runs from. The run's recorded location is printed, never used unasked",
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: reproduction.run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

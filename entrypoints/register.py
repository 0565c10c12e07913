"""Validate a trained run's model against gates, then register it and move aliases.

    mlflow run . -e register --env-manager local -P run_id=<run id> -P model_name=churn
    python -m entrypoints.register --run-id best --metric test_roc_auc --promote true

The model name defaults to ``tabular-<dataset>`` (the candidate's table: ``tabular-churn_sample``,
``tabular-breast_cancer``), so each table has its own champion. Gates (``jobs/gate.py``): the
candidate must beat a naive baseline, pass ``threshold`` and beat the current ``champion``
(within ``margin``), all scored on the candidate run's own test split; a champion trained on other
data (task, target, input columns) is a refusal, never a comparison. On pass the version gets the
``challenger`` alias (``champion`` too with ``promote``); on fail nothing is registered
(``mode=enabled``); ``dry_run`` records the verdict and registers anyway; ``disabled`` skips the
scores (the champion's data is still checked).

``run_id=best`` takes the best FINISHED run by ``metric`` among the runs of one table: those
with the ``data_version`` and target of the experiment's newest run, or of ``data_version=<label>``;
``data_version=any`` ranks every run.
"""

from __future__ import annotations

from collections.abc import Sequence

from jobs import cli, gate, registration


def build_parser() -> cli.StrictParser:
    parser = cli.StrictParser(description=__doc__)
    parser.add_argument("--run-id", required=True, help="a run id, or 'best' (see --experiment)")
    parser.add_argument(
        "--experiment", default="", help="for run_id=best; default: the train stage's"
    )
    parser.add_argument(
        "--data-version",
        default="",
        help="for run_id=best: rank runs of this data_version ('any': all runs); default: the "
        "data_version and target of the experiment's newest run",
    )
    parser.add_argument(
        "--model-name",
        default="",
        help="default: tabular-<dataset of the run>; catalog.schema.model on Unity Catalog",
    )
    parser.add_argument(
        "--metric", default="auto", help="default: test_roc_auc or test_rmse by task"
    )
    parser.add_argument(
        "--threshold", type=cli.optional_float, default=None, help="None = no absolute gate"
    )
    parser.add_argument(
        "--margin", type=cli.non_negative_float, default=0.0, help="tolerated loss vs the champion"
    )
    parser.add_argument(
        "--baseline", type=cli.boolean, default=True, help="must beat class priors / the mean"
    )
    parser.add_argument("--mode", choices=registration.MODES, default="enabled")
    parser.add_argument(
        "--schema-change",
        choices=gate.SCHEMA_CHANGES,
        default="refuse",
        help="a champion whose schema is not comparable (jobs/gate.py): refuse, or replace it "
        "judged by the baseline and threshold only (default: %(default)s)",
    )
    parser.add_argument("--alias", default="challenger")
    parser.add_argument("--promote", type=cli.boolean, default=False, help="also move 'champion'")
    parser.add_argument("--registry-uri", default="", help="e.g. databricks-uc; default: tracking")
    parser.add_argument(
        "--stage", default="", help="legacy stage transition (deprecated, workspace registry only)"
    )
    parser.add_argument("--run-name", default="")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: registration.run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

"""Score a CSV or Parquet file with a registered or logged model; write and log the predictions.

    mlflow run . -e predict --env-manager local -P model_uri=models:/tabular-churn_sample@champion \
        -P input=new_rows.csv -P output=/abs/path/scored.parquet
    python -m entrypoints.predict --model-uri runs:/<run id>/model --input rows.csv --engine spark

The output is the input's rows with the model's columns appended (``prediction``, and
``probability_<class>`` for classifiers). ``engine=pandas`` scores in this process;
``engine=spark`` scores with ``mlflow.pyfunc.spark_udf`` on the active Spark session (the
cluster's on Databricks, local Spark here) and writes Spark's output folder. Either way the
output is logged as an artifact under ``predictions/`` with the row counts as metrics. The run is
named ``predict_<model>_v<version>`` (``predict_run_<run id>`` for a ``runs:/`` URI).
"""

from __future__ import annotations

from collections.abc import Sequence

from jobs import cli, scoring


def build_parser() -> cli.StrictParser:
    parser = cli.StrictParser(description=__doc__)
    parser.add_argument(
        "--model-uri",
        default="models:/tabular-breast_cancer@champion",
        help="models:/<name>@<alias> or runs:/<run id>/model",
    )
    parser.add_argument("--input", required=True, help="CSV/Parquet path or URI")
    parser.add_argument("--output", default="", help="absolute .csv/.parquet path; default: none")
    parser.add_argument(
        "--overwrite", type=cli.boolean, default=False, help="replace an existing output"
    )
    parser.add_argument("--engine", choices=["pandas", "spark"], default="pandas")
    parser.add_argument("--run-name", default="")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: scoring.run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

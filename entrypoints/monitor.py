"""Compare a batch of rows with a model's reference profile: drift per column and in its
predictions, and with labels its metrics against its test metrics.

    mlflow run . -e monitor --env-manager local --experiment-name tabular-training/monitor \
        -P model_uri=models:/tabular-churn_sample@champion -P input=/abs/path/march.csv
    python -m entrypoints.monitor --model-uri runs:/<run id>/model --input rows.csv \
        --target churned --engine spark --fail-on-drift true

A column drifts when its population stability index (PSI) over the profile's buckets reaches
``psi_threshold`` (default 0.1, the usual "moderate shift" mark) and exceeds what chance gives a
batch of its size (``common.drift``). With ``target``, the model's metric on the batch is
compared with its test value and the naive baseline's: a drop beyond ``max_metric_drop`` (a
fraction of the test value) or a model no better than the baseline degrades it. Either sets the
verdict ``retrain``, tagged on the run and on the registered version (``main -P
retrain=if_drift`` reads it); ``fail_on_drift=true`` then ends the run FAILED with one line
naming the drifted columns. See docs/monitoring.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from common import drift, metrics
from jobs import cli, monitoring


def build_parser() -> cli.StrictParser:
    parser = cli.StrictParser(description=__doc__)
    parser.add_argument(
        "--model-uri",
        default="models:/tabular-breast_cancer@champion",
        help="models:/<name>@<alias>, models:/<name>/<version> or runs:/<run id>/model",
    )
    parser.add_argument(
        "--input", required=True, help="CSV/Parquet path or URI; on Spark also a folder or table"
    )
    parser.add_argument("--target", default="", help="label column: judge the metrics too")
    parser.add_argument("--engine", choices=["pandas", "spark"], default="pandas")
    parser.add_argument(
        "--psi-threshold",
        type=cli.float_in(0.0, 10.0, high_open=False),
        default=drift.PSI_THRESHOLD,
        help="PSI at which a column counts as drifted (default: %(default)s)",
    )
    parser.add_argument(
        "--max-metric-drop",
        type=cli.float_in(0.0, 10.0, high_open=False),
        default=drift.MAX_METRIC_DROP,
        help="largest drop of the metric, as a fraction of its test value (default: %(default)s)",
    )
    parser.add_argument(
        "--metric",
        choices=["auto", *metrics.GREATER_IS_BETTER],
        default="auto",
        help="the metric judged with a target (auto: test_roc_auc or test_rmse)",
    )
    parser.add_argument(
        "--fail-on-drift",
        type=cli.boolean,
        default=False,
        help="end the run FAILED when the verdict is retrain (default: false)",
    )
    parser.add_argument("--run-name", default="", help="default: monitor_<model>_v<version>")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: monitoring.run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

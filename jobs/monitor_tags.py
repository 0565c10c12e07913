"""The tags a ``monitor`` run leaves on the registered model version it watched, and its
verdicts: ``jobs.monitoring`` writes them, ``main -P retrain=if_drift`` (``jobs.pipeline``) reads
them without importing what monitoring needs (scikit-learn, matplotlib)."""

RUN_TAG = "monitoring_run_id"
VERDICT_TAG = "monitoring_verdict"
COLUMNS_TAG = "monitoring_drifted_columns"
RETRAIN, OK = "retrain", "ok"

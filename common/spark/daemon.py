"""A Spark Python daemon that imports the training stack once, before it forks workers.

hyperopt's SparkTrials runs each trial as a task that never reads its input partition, so
Spark cannot reuse the Python worker and forks a fresh one per trial; every trial then paid
~3-5 s here to import mlflow, torch and scikit-learn again. Forked from this daemon, a worker
starts with them loaded. Spark starts it as ``python -m common.spark.daemon`` when
``spark.python.daemon.module`` names it (see ``common.spark.session.get_or_create``).
"""

if __name__ == "__main__":
    import mlflow  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import torch  # noqa: F401
    import xgboost  # noqa: F401
    from pyspark import daemon

    daemon.manager()

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient

from common.step_metrics import StepMetricsLogger


def test_steps_reach_the_run_in_batches_with_history_and_sparse_progress(capsys):
    with (
        mlflow.start_run() as run,
        StepMetricsLogger(run.info.run_id, total_steps=700, label="round") as steps,
    ):
        for step in range(700):
            steps(step, {"train_loss": 1 / (step + 1), "validation_loss": 2 / (step + 1)})
        # 1400 values: one full batch of 1000 already sent, the rest on exit
        sent = MlflowClient().get_metric_history(run.info.run_id, "train_loss")
        assert 0 < len(sent) < 700
    history = MlflowClient().get_metric_history(run.info.run_id, "validation_loss")
    assert sorted((m.step, m.value) for m in history) == steps.history["validation_loss"]
    assert len(history) == 700
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("round 70/700 train_loss=")
    assert lines[-1].startswith("round 700/700 ")


def test_quiet_logger_prints_nothing(capsys):
    with (
        mlflow.start_run() as run,
        StepMetricsLogger(run.info.run_id, total_steps=3, quiet=True) as s,
    ):
        s(0, {"a": 1.0})
    assert capsys.readouterr().out == ""

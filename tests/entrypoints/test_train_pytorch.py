"""train_pytorch specifics: per-epoch metrics, early stopping, safe weights, bad input."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from entrypoints import train_pytorch
from tests.helpers.runs import all_runs, only_run


def test_epochs_are_step_metrics_and_the_best_epoch_is_restored(capsys):
    assert (
        train_pytorch.main(["--epochs", "200", "--patience", "3", "--learning-rate", "0.01"]) == 0
    )
    run = only_run()
    client = MlflowClient()
    losses = client.get_metric_history(run.info.run_id, "validation_loss")
    ran = int(run.data.metrics["epochs_run"])
    best = int(run.data.metrics["best_epoch"])
    assert len(losses) == ran < 200  # stopped early
    assert ran == best + 3
    by_step = {m.step: m.value for m in losses}
    assert by_step[best - 1] == min(by_step.values())
    assert run.data.tags["device"] == "cpu"
    assert f"stopped after {ran} epochs; best epoch {best}" in capsys.readouterr().out
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/learning_curve.png" in plots


def test_weights_are_a_plain_state_dict_loadable_with_weights_only():
    assert train_pytorch.main(["--epochs", "5"]) == 0
    run = only_run()
    model_dir = mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model")
    state = torch.load(f"{model_dir}/artifacts/estimator/weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert state["net.0.weight"].shape == (128, 30)


@pytest.mark.parametrize(
    ("argv", "message", "run_made"),
    [
        (["--batch-size", "5000"], "batch_size=5000 is larger than the", True),
        (["--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'", False),
        (["--learning-rate", "-0.1"], "argument --learning-rate: expected a number in", False),
        (["--hidden-sizes", "64,x"], "expected comma-separated integers", False),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(argv, message, run_made, capsys):
    assert train_pytorch.main(argv) == 2
    assert message in capsys.readouterr().err
    if run_made:
        assert only_run().info.status == "FAILED"
    else:
        assert not all_runs()


def test_string_regression_target_is_refused(tmp_path, capsys):
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": range(10), "y": ["1.5", "2", "abc"] + ["3"] * 7}).to_csv(path, index=False)
    argv = ["--data", str(path), "--target", "y", "--task", "regression"]
    assert train_pytorch.main(argv) == 2
    assert "target column 'y' has non-numeric value(s) such as 'abc'" in capsys.readouterr().err
    assert only_run().info.status == "FAILED"

"""Helpers for end-to-end tests that go through `mlflow run` as users do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def launch_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Launch from a scratch directory so MLflow's default ./mlruns never lands in the repo."""
    path = tmp_path / "launch"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


def mlflow_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 600):
    """Run the `mlflow` CLI of this environment; returns the CompletedProcess."""
    return subprocess.run(
        [str(BIN / "mlflow"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def predict_in_fresh_process(model_uri: str, rows: pd.DataFrame, cwd: Path) -> pd.DataFrame:
    """Load ``model_uri`` in a new interpreter whose working directory is ``cwd``.

    PYTHONPATH is cleared so the model must bring its own code (code_paths) to load.
    """
    script = textwrap.dedent(
        """
        import sys, mlflow, pandas as pd
        rows = pd.read_json(sys.stdin, orient="split")
        model = mlflow.pyfunc.load_model(sys.argv[1])
        sys.stdout.write(model.predict(rows).to_json(orient="split", double_precision=15))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script, model_uri],
        input=rows.to_json(orient="split"),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return pd.DataFrame(**json.loads(done.stdout))

"""Subprocesses the end-to-end tests start: the mlflow CLI, fresh interpreters, servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pandas as pd

BIN = Path(sys.executable).parent


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll ``url`` until it answers 200; fail with the log if ``process`` dies first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{url} did not answer in {timeout} s"
        time.sleep(0.5)

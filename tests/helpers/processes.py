"""Subprocesses the end-to-end tests start: the mlflow CLI, fresh interpreters, servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

BIN = Path(sys.executable).parent


def run_tree(
    args,
    *,
    timeout: float,
    cwd=None,
    env=None,
    input: str | None = None,
    capture_output: bool = True,
    text: bool = True,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """``subprocess.run`` with output captured as text, except that a timeout ends the command's
    whole process tree (the entry point ``mlflow run`` started, its Spark JVM and workers), not
    only the command: a test that times out leaves nothing running beside the rest of the suite.
    """
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdin=subprocess.PIPE if input is not None else None,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    if not (capture_output and text):
        raise ValueError("run_tree always captures text output")
    try:
        stdout, stderr = process.communicate(input, timeout=timeout)
    except BaseException:  # a timeout, or Ctrl-C on the suite
        end_group(process)
        raise
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check:
        done.check_returncode()
    return done


def end_group(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM the process group of ``process`` (its runs end KILLED), SIGKILL what stays."""
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            break
        try:
            process.communicate(timeout=wait)
            if signum == signal.SIGTERM:
                os.killpg(process.pid, signal.SIGKILL)  # the group's stragglers
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            pass
        break


def mlflow_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 600):
    """Run the `mlflow` CLI of this environment; returns the CompletedProcess."""
    return run_tree(
        [str(BIN / "mlflow"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
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


@contextmanager
def mlflow_server(
    folder: Path, *options: str, env: dict | None = None, name: str = "mlflow-server"
) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 with a sqlite store in ``folder`` and ``options``
    (e.g. ``--artifacts-destination DIR``); its URL. Stopped (the whole process group) on exit."""
    port = free_port()
    log_path = folder / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"sqlite:///{folder / f'{name}.db'}", "--workers", "1",
             *options],
            env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process, log_path)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def one_error_line(stderr: str) -> str:
    """The single ``error: ...`` line of a refused command's stderr (asserts there is one and
    no traceback)."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]

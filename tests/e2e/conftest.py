"""Fixtures for end-to-end tests that go through `mlflow run` as users do."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.helpers.processes import BIN, free_port, wait_for_http


@pytest.fixture(autouse=True)
def _launch_from_scratch(launch_dir: Path) -> Path:
    """Every end-to-end test launches from a scratch directory (see ``launch_dir``)."""
    return launch_dir


@pytest.fixture
def mlflow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (sqlite store, proxied artifacts); its URL is the
    test's tracking URI."""
    port = free_port()
    log_path = tmp_path / "mlflow-server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
             "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process, log_path)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        mlflow.set_tracking_uri(url)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

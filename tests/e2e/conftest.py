"""Fixtures for end-to-end tests that go through `mlflow run` as users do."""

from __future__ import annotations

import os
import secrets
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


@pytest.fixture
def auth_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real `mlflow server --app-name basic-auth` on 127.0.0.1 (sqlite stores, proxied
    artifacts); its URL is the test's tracking URI, and this process talks to it as the admin
    (MLFLOW_TRACKING_USERNAME/PASSWORD), whose password is random for each test."""
    admin_password = secrets.token_urlsafe(16)
    config = tmp_path / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path / 'auth.db'}\n"
        "admin_username = admin\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    config.chmod(0o600)
    port = free_port()
    log_path = tmp_path / "mlflow-auth-server.log"
    server_env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # MLflow's GenAI job runner: not needed
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--app-name", "basic-auth",
             "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
             "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
            env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process, log_path)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", admin_password)
        mlflow.set_tracking_uri(url)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

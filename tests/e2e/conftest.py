"""Fixtures for end-to-end tests that go through `mlflow run` as users do."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.helpers.processes import mlflow_server as mlflow_server_process


@pytest.fixture(autouse=True)
def _launch_from_scratch(launch_dir: Path) -> Path:
    """Every end-to-end test launches from a scratch directory (see ``launch_dir``)."""
    return launch_dir


@pytest.fixture
def mlflow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (sqlite store, proxied artifacts); its URL is the
    test's tracking URI."""
    with mlflow_server_process(
        tmp_path, "--artifacts-destination", str(tmp_path / "server-artifacts")
    ) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        mlflow.set_tracking_uri(url)
        yield url


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
    server_env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # MLflow's GenAI job runner: not needed
    }
    with mlflow_server_process(
        tmp_path, "--app-name", "basic-auth",
        "--artifacts-destination", str(tmp_path / "server-artifacts"),
        env=server_env, name="mlflow-auth-server",
    ) as url:  # fmt: skip
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", admin_password)
        mlflow.set_tracking_uri(url)
        yield url

"""A local stand-in for the Databricks REST endpoints that MLflow's databricks backend calls.

It answers the DBFS and Jobs calls `mlflow run -b databricks` makes: DBFS ``get-status``, the
raw tarball upload to ``/dbfs/...``, ``jobs/runs/submit``, ``runs/get`` and ``runs/cancel``
(``SubmittedRun.cancel()``). The "cluster" is a subprocess that runs the submitted
``shell_command_task`` unchanged except that the cluster's absolute folders (``/dbfs``,
``/databricks/mlflow``) live under a scratch root.
Every request must carry the bearer token it was created with.

With ``tracking_server`` (the URL of a real ``mlflow server``) it is also a Databricks tracking
endpoint for ``MLFLOW_TRACKING_URI=databricks``: the SCIM ``Me`` call (the user is ``user``),
workspace ``mkdirs`` and ``get-status`` over an in-memory folder tree (``PROTECTED`` folders
refuse ``mkdirs`` as Databricks refuses writes outside your permissions), and the MLflow REST API
passed through to the server, except that creating an experiment whose parent folder does not
exist is refused with RESOURCE_DOES_NOT_EXIST, as Databricks does. Artifacts are not emulated:
the server's artifact root is a local folder, so runs write there instead of through
Databricks' artifact credentials API.

Model Serving's endpoints API (``serving-endpoints``: create, get, update config) is answered
over an in-memory set of endpoints: a new configuration is IN_PROGRESS for ``rollout_polls``
reads, then goes live, or, for a version in ``failing_versions``, ends UPDATE_FAILED with the
previous configuration still serving, as Databricks does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlparse
from urllib.request import Request, urlopen

# Databricks runtimes have rsync; where this machine lacks it, the cluster gets a stand-in that
# does what the backend's command asks of it (`rsync -a -v --ignore-existing SRC DESTDIR`).
RSYNC_STAND_IN = """#!/usr/bin/env bash
src="${@: -2:1}"; dest="${@: -1}"
cp -n "$src" "$dest"/
"""


PROTECTED = ("/Repos", "/Shared/protected")


class Workspace:
    """The emulated workspace; ``url`` is its DATABRICKS_HOST."""

    def __init__(
        self,
        root: Path,
        token: str,
        cluster_path: str,
        *,
        tracking_server: str | None = None,
        user: str = "someone@example.com",
    ):
        self.root, self.token = root, token
        self.tracking_server, self.user = tracking_server, user
        self.folders: set[str] = {"/", "/Users", f"/Users/{user}", "/Shared"}
        self.mkdirs: list[str] = []
        self.uploads: dict[str, bytes] = {}
        self.submitted: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self.unauthorized: list[str] = []
        self.jobs: dict[int, subprocess.Popen] = {}
        self.cancelled: set[int] = set()
        self.endpoints: dict[str, dict] = {}
        self.failing_versions: set[str] = set()
        self.rollout_polls = 2
        bin_dir = root / "cluster-bin"
        bin_dir.mkdir(parents=True)
        if shutil.which("rsync") is None:
            (bin_dir / "rsync").write_text(RSYNC_STAND_IN)
            (bin_dir / "rsync").chmod(0o755)
        self.cluster_env = {
            "PATH": os.pathsep.join([str(bin_dir), cluster_path]),
            "HOME": str(root / "home"),
            "LANG": "C.UTF-8",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
        (root / "home").mkdir()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Workspace:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for process in self.jobs.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        self._server.shutdown()
        self._server.server_close()

    def local(self, cluster_path: str) -> Path:
        """Where an absolute path of the cluster lives on this machine."""
        return self.root / cluster_path.lstrip("/")

    def wait(self, run_id: int, timeout: float) -> int:
        """Wait for a job's command to end; its exit status."""
        return self.jobs[run_id].wait(timeout=timeout)

    def job_log(self, run_id: int) -> str:
        return (self.root / f"job-{run_id}.log").read_text()

    def _start_job(self, body: dict) -> int:
        run_id = len(self.jobs) + 1
        task = body["shell_command_task"]
        command = [
            part.replace("/dbfs/", f"{self.local('/dbfs')}/").replace(
                "/databricks/mlflow", str(self.local("/databricks/mlflow"))
            )
            for part in task["command"]
        ]
        log = (self.root / f"job-{run_id}.log").open("w")
        self.jobs[run_id] = subprocess.Popen(
            command, env={**self.cluster_env, **task.get("env_vars", {})}, cwd=self.root,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        return run_id

    def _state(self, run_id: int) -> dict:
        code = self.jobs[run_id].poll()
        if code is None:
            return {"life_cycle_state": "RUNNING", "state_message": "running"}
        if run_id in self.cancelled:
            return {"life_cycle_state": "TERMINATED", "result_state": "CANCELED"}
        return {
            "life_cycle_state": "TERMINATED",
            "result_state": "SUCCESS" if code == 0 else "FAILED",
        }

    def _endpoint(self, name: str) -> dict:
        """An endpoint as ``GET serving-endpoints/<name>`` answers, its rollout moved on a step."""
        endpoint = self.endpoints[name]
        pending = endpoint.get("pending_config")
        if pending is not None:
            endpoint["polls_left"] -= 1
            if endpoint["polls_left"] <= 0:
                versions = {e["entity_version"] for e in pending["served_entities"]}
                if versions & self.failing_versions:
                    for entity in pending["served_entities"]:
                        entity["state"] = {
                            "deployment": "DEPLOYMENT_FAILED",
                            "deployment_state_message": "Container image build failed: "
                            "pip could not install the model's requirements",
                        }
                    endpoint["state"]["config_update"] = "UPDATE_FAILED"
                else:
                    for entity in pending["served_entities"]:
                        entity["state"] = {"deployment": "DEPLOYMENT_READY"}
                    endpoint["config"] = pending
                    endpoint["pending_config"] = None
                    endpoint["state"] = {"config_update": "NOT_UPDATING", "ready": "READY"}
        return {k: v for k, v in endpoint.items() if k != "polls_left" and v is not None}

    def _routes_unknown(self, config: dict) -> list[str]:
        """Traffic routes naming no served entity (Databricks refuses such a configuration)."""
        served = {e.get("name") for e in config.get("served_entities", [])}
        routes = (config.get("traffic_config") or {}).get("routes", [])
        named = [r.get("served_entity_name") or r.get("served_model_name") for r in routes]
        return [name for name in named if name not in served]

    def _configure(self, name: str, config: dict) -> dict:
        endpoint = self.endpoints[name]
        version = (endpoint.get("config") or {}).get("config_version", 0) + 1
        entities = [{**e, "state": {"deployment": "DEPLOYMENT_CREATING"}}
                    for e in config.get("served_entities", [])]  # fmt: skip
        endpoint["pending_config"] = {
            **config, "served_entities": entities, "config_version": version,
        }  # fmt: skip
        endpoint["polls_left"] = self.rollout_polls
        endpoint["state"] = {
            "config_update": "IN_PROGRESS",
            "ready": "READY" if endpoint.get("config") else "NOT_READY",
        }
        return {k: v for k, v in endpoint.items() if k != "polls_left" and v is not None}

    def _serving(self, method: str, path: str, body: bytes) -> tuple[int, dict] | None:
        """(status, payload) for a serving-endpoints call, None for any other path."""
        parts = path.removeprefix("/api/2.0/serving-endpoints").strip("/").split("/")
        if not path.startswith("/api/2.0/serving-endpoints"):
            return None
        missing = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "endpoint not found"}
        invalid = {"error_code": "INVALID_PARAMETER_VALUE", "message": "route names no entity"}
        if method == "POST" and parts == [""]:
            request = json.loads(body)
            name = request["name"]
            if self._routes_unknown(request.get("config", {})):
                return HTTPStatus.BAD_REQUEST, invalid
            if name in self.endpoints:
                return HTTPStatus.CONFLICT, {"error_code": "RESOURCE_ALREADY_EXISTS"}
            self.endpoints[name] = {"name": name, "config": None, "pending_config": None}
            return 200, self._configure(name, request.get("config", {}))
        name = parts[0]
        if name not in self.endpoints:
            return HTTPStatus.NOT_FOUND, missing
        if method == "GET" and len(parts) == 1:
            return 200, self._endpoint(name)
        if method == "PUT" and parts[1:] == ["config"]:
            if self.endpoints[name]["state"]["config_update"] == "IN_PROGRESS":
                return HTTPStatus.CONFLICT, {"error_code": "RESOURCE_CONFLICT"}
            if self._routes_unknown(json.loads(body)):
                return HTTPStatus.BAD_REQUEST, invalid
            return 200, self._configure(name, json.loads(body))
        return HTTPStatus.NOT_FOUND, {"error_code": "ENDPOINT_NOT_FOUND"}

    def _make_folders(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        for end in range(1, len(parts) + 1):
            self.folders.add("/" + "/".join(parts[:end]))

    def _forward(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """Pass an MLflow REST call to the tracking server; (status, body)."""
        request = Request(
            f"{self.tracking_server}{path}", data=body or None, method=method,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except HTTPError as error:
            return error.code, error.read()

    def _handler(self):
        workspace = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {workspace.token}":
                    return True
                workspace.unauthorized.append(self.path)
                self._reply(HTTPStatus.UNAUTHORIZED, {"error_code": "UNAUTHENTICATED"})
                return False

            def _raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _tracking(self, method: str, url, body: bytes) -> bool:
                """Answer the SCIM, workspace and MLflow calls of a tracking endpoint."""
                if workspace.tracking_server is None:
                    return False
                path = url.path
                if path == "/api/2.0/preview/scim/v2/Me":
                    self._reply(200, {"id": "1", "userName": workspace.user, "active": True})
                elif path == "/api/2.0/workspace/get-status":
                    query = parse_qs(url.query).get("path", [""])[0]
                    wanted = query or json.loads(body or b"{}").get("path", "")
                    if wanted.rstrip("/") in workspace.folders:
                        self._reply(200, {"path": wanted, "object_type": "DIRECTORY"})
                    else:
                        self._reply(
                            HTTPStatus.NOT_FOUND,
                            {"error_code": "RESOURCE_DOES_NOT_EXIST",
                             "message": f"Path ({wanted}) doesn't exist."},
                        )  # fmt: skip
                elif path == "/api/2.0/workspace/mkdirs":
                    wanted = json.loads(body)["path"]
                    workspace.mkdirs.append(wanted)
                    if wanted.startswith(PROTECTED):
                        self._reply(
                            HTTPStatus.FORBIDDEN,
                            {"error_code": "PERMISSION_DENIED",
                             "message": f"You do not have permission to write to {wanted}"},
                        )  # fmt: skip
                    else:
                        workspace._make_folders(wanted)
                        self._reply(200, {})
                elif path.startswith(("/api/2.0/mlflow/", "/api/2.0/preview/mlflow/")):
                    if path.endswith("/experiments/create"):
                        name = json.loads(body)["name"]
                        parent = name.rsplit("/", 1)[0] or "/"
                        if parent not in workspace.folders:
                            self._reply(
                                HTTPStatus.NOT_FOUND,
                                {"error_code": "RESOURCE_DOES_NOT_EXIST",
                                 "message": f"Parent directory {parent} does not exist."},
                            )  # fmt: skip
                            return True
                    query = f"?{url.query}" if url.query else ""
                    self._raw(*workspace._forward(method, path + query, body))
                else:
                    return False
                return True

            def do_PATCH(self) -> None:
                url = urlparse(self.path)
                workspace.requests.append(("PATCH", url.path))
                if self._authorized() and not self._tracking("PATCH", url, self._body()):
                    self._reply(HTTPStatus.NOT_FOUND, {"error_code": "ENDPOINT_NOT_FOUND"})

            def do_DELETE(self) -> None:
                url = urlparse(self.path)
                workspace.requests.append(("DELETE", url.path))
                if self._authorized() and not self._tracking("DELETE", url, self._body()):
                    self._reply(HTTPStatus.NOT_FOUND, {"error_code": "ENDPOINT_NOT_FOUND"})

            def _served(self, method: str, url, body: bytes) -> bool:
                answer = workspace._serving(method, url.path, body)
                if answer is not None:
                    self._reply(*answer)
                return answer is not None

            def do_PUT(self) -> None:
                url = urlparse(self.path)
                workspace.requests.append(("PUT", url.path))
                if self._authorized() and not self._served("PUT", url, self._body()):
                    self._reply(HTTPStatus.NOT_FOUND, {"error_code": "ENDPOINT_NOT_FOUND"})

            def do_GET(self) -> None:
                url = urlparse(self.path)
                workspace.requests.append(("GET", url.path))
                if url.path.startswith("/api/2.0/serving-endpoints"):
                    if self._authorized():
                        self._served("GET", url, b"")
                    return
                if workspace.tracking_server and url.path.startswith(
                    ("/api/2.0/preview/scim", "/api/2.0/workspace/", "/api/2.0/mlflow/",
                     "/api/2.0/preview/mlflow/")
                ):  # fmt: skip
                    if self._authorized():
                        self._tracking("GET", url, self._body())
                    return
                if url.path == "/api/2.0/dbfs/get-status" and self._authorized():
                    path = json.loads(self._body() or b"{}").get("path", "")
                    if path in workspace.uploads:
                        size = len(workspace.uploads[path])
                        self._reply(200, {"path": path, "is_dir": False, "file_size": size})
                    else:
                        self._reply(
                            HTTPStatus.NOT_FOUND,
                            {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"{path}"},
                        )
                elif url.path == "/api/2.0/jobs/runs/get" and self._authorized():
                    run_id = int(parse_qs(url.query)["run_id"][0])
                    self._reply(
                        200,
                        {
                            "run_id": run_id,
                            "job_id": 1000 + run_id,
                            "run_page_url": f"{workspace.url}/#job/1/run/{run_id}",
                            "state": workspace._state(run_id),
                        },
                    )
                elif url.path in ("/api/2.0/dbfs/get-status", "/api/2.0/jobs/runs/get"):
                    pass  # already answered 401
                else:  # e.g. the SDK's /.well-known/databricks-config probe
                    self._reply(HTTPStatus.NOT_FOUND, {"error_code": "ENDPOINT_NOT_FOUND"})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                workspace.requests.append(("POST", url.path))
                if not self._authorized():
                    return
                body = self._body()
                if self._tracking("POST", url, body) or self._served("POST", url, body):
                    return
                if url.path.startswith("/dbfs/"):
                    dbfs_path = url.path.removeprefix("/dbfs")
                    if dbfs_path in workspace.uploads:
                        self._reply(
                            HTTPStatus.CONFLICT,
                            {
                                "error_code": "RESOURCE_ALREADY_EXISTS",
                                "message": "File already exists",
                            },
                        )
                        return
                    workspace.uploads[dbfs_path] = body
                    target = workspace.local("/dbfs") / dbfs_path.lstrip("/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(body)  # what the cluster sees through its DBFS mount
                    self._reply(200, {})
                elif url.path == "/api/2.0/jobs/runs/submit":
                    request = json.loads(body)
                    workspace.submitted.append(request)
                    self._reply(200, {"run_id": workspace._start_job(request)})
                elif url.path == "/api/2.0/jobs/runs/cancel":
                    run_id = int(json.loads(body)["run_id"])
                    workspace.cancelled.add(run_id)
                    job = workspace.jobs[run_id]
                    if job.poll() is None:  # the whole command: bash, mlflow run, the script
                        os.killpg(job.pid, signal.SIGTERM)
                        job.wait(timeout=60)
                    self._reply(200, {})
                else:
                    self._reply(HTTPStatus.NOT_FOUND, {"error_code": "ENDPOINT_NOT_FOUND"})

        return Handler

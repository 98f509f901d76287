"""A real Airflow 3 for tests (the pinned venv of tests/run.sh, PIPELINECTL_AIRFLOW_PYTHON):
SQLite in a temporary AIRFLOW_HOME, the FAB auth manager (a user and password, and JWTs from
/auth/token), and its processes each in a process group of its own, stopped (the whole group)
on the way out.

    with airflow_server(airflow_python, tmp / "dags", tmp) as server:
        server.base            # http://127.0.0.1:<port>, answering
        server.login()         # a JWT of the admin (ADMIN, password ADMIN_PASSWORD)
        server.cli("dags", "list")

`airflow_server` runs `airflow db migrate`, makes the admin, and starts the API server (the
core API and the execution API the tasks talk to), the scheduler (LocalExecutor) and the dag
processor; it returns once the API server answers and the dag processor has parsed every file
of the DAGs folder. Whatever does not come up in time fails with the end of its log.
`api_server` alone starts only the API server, for tests that parse DAGs themselves
(tests/admin/test_airflow_tenancy.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADMIN = "root"
ADMIN_PASSWORD = "root-pw"
START_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(base: str, method: str, path: str, token: str | None = None,
         body: Any = None) -> tuple[int, Any]:
    """An HTTP request to the API server: its status and JSON body (None when empty)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    return status, json.loads(text) if text else None


def call_ok(base: str) -> bool:
    try:
        return call(base, "GET", "/api/v2/monitor/health")[0] == 200
    except OSError:
        return False


def login(base: str, user: str, password: str) -> str:
    """A JWT of `user` from /auth/token."""
    status, body = call(base, "POST", "/auth/token", body={"username": user,
                                                           "password": password})
    assert status == 201, body
    token: str = body["access_token"]
    return token


def start(argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process in a session (and process group) of its own, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group, SIGKILL after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def tail(log: Path, size: int = 4000) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return f"--- {log.name} ---\n{text[-size:]}"


def wait_for(ready: Any, processes: list[tuple[subprocess.Popen[bytes], Path]], what: str,
             timeout: float = START_TIMEOUT) -> None:
    """Poll `ready()` until it is true; fail with the logs when a process ends or time is up."""
    deadline = time.monotonic() + timeout
    while not ready():
        for process, log in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{log.stem} ended ({process.returncode}) before {what}\n"
                                   + "\n".join(tail(lg) for _, lg in processes))
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s\n"
                               + "\n".join(tail(lg) for _, lg in processes))
        time.sleep(0.3)


@contextlib.contextmanager
def api_server(python: str, env: Mapping[str, str], log: Path,
               apps: str = "core") -> Iterator[str]:
    """`airflow api-server` (`apps`: core, execution or all) on a free loopback port, in a
    process group of its own, stopped (the whole group) on the way out: its base URL once it
    answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start([python, "-m", "airflow", "api-server", "--apps", apps, "-H", "127.0.0.1",
                    "-p", str(port)], {**env, **_execution_api(base)}, log)
    try:
        wait_for(lambda: call_ok(base), [(server, log)], "the API server answered")
        yield base
    finally:
        stop(server)


def _execution_api(base: str) -> dict[str, str]:
    return {"AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/"}


@dataclass(frozen=True)
class AirflowServer:
    base: str  # the API server's URL
    env: Mapping[str, str]  # Airflow's environment (AIRFLOW_HOME, settings)
    python: str
    home: Path

    def login(self, user: str = ADMIN, password: str = ADMIN_PASSWORD) -> str:
        return login(self.base, user, password)

    def cli(self, *args: str) -> str:
        """`airflow ARGS...` against this Airflow's database: its output."""
        done = subprocess.run([self.python, "-m", "airflow", *args], env=dict(self.env),
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout


def airflow_env(home: Path, dags: Path, extra: Mapping[str, str] | None = None
                ) -> dict[str, str]:
    """Airflow's environment for a test: SQLite in `home`, the DAGs of `dags`, no examples,
    the FAB auth manager, fixed secrets, and quick dag processing."""
    return {**os.environ, "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt-secret",
            "AIRFLOW__API__SECRET_KEY": "test-only-secret-key",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            **(extra or {})}


@contextlib.contextmanager
def airflow_server(python: str, dags: Path, tmp: Path,
                   extra: Mapping[str, str] | None = None) -> Iterator[AirflowServer]:
    """A whole Airflow 3 (see the module docstring) over the DAG files in `dags`, with its
    home and logs under `tmp`; `extra` settings override the defaults of airflow_env."""
    home = tmp / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(home, dags, extra)
    server = AirflowServer("", env, python, home)
    server.cli("db", "migrate")
    server.cli("users", "create", "-u", ADMIN, "-p", ADMIN_PASSWORD, "-r", "Admin",
               "-f", "Root", "-l", "Admin", "-e", "root@example.org")
    with api_server(python, env, tmp / "api-server.log", apps="all") as base:
        env = {**env, **_execution_api(base)}
        processes = [(start([python, "-m", "airflow", name], env, tmp / f"{name}.log"),
                      tmp / f"{name}.log") for name in ("scheduler", "dag-processor")]
        try:
            ready = AirflowServer(base, env, python, home)
            token = ready.login()
            expected = {path.stem for path in dags.glob("*.py")}
            wait_for(lambda: _parsed(base, token) >= expected, processes,
                     f"the dag processor parsed {sorted(expected)}")
            yield ready
        finally:
            for process, _ in processes:
                stop(process)


def _parsed(base: str, token: str) -> set[str]:
    """The files (by name without .py) Airflow holds DAGs or import errors of."""
    status, dags = call(base, "GET", "/api/v2/dags?limit=1000", token)
    _, errors = call(base, "GET", "/api/v2/importErrors?limit=1000", token)
    files = [d["fileloc"] for d in dags["dags"]] if status == 200 else []
    files += [e["filename"] for e in (errors or {}).get("import_errors", [])]
    return {Path(f).stem for f in files}

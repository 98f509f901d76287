"""The platform's airflow.api and the REST client's failures (adapters/airflowapi.py), against a
tiny local HTTP server that answers what each test says: a refused password, a missing DAG,
a server error, garbage, a redirect, a closed port. What a real Airflow 3 answers is
tests/deploy/test_airflowapi_real.py."""

from __future__ import annotations

import datetime
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipelinectl import wiring
from pipelinectl.adapters.airflowapi import AirflowApiError, AirflowRestApi
from pipelinectl.deploy.ports import AirflowDag
from pipelinectl.errors import InvalidInput
from pipelinectl.spec import platform
from tests.support.airflowserver import free_port
from tests.support.repo import write

PASSWORD = "s3cret-pw"
ENV = {"AF_USER": "bot", "AF_PASSWORD": PASSWORD}
PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: registry.example.org/data-pipelines
teams:
  epi: {namespace: epi-ns}
airflow:
  api:
    url: URL
    username_env: AF_USER
    password_env: AF_PASSWORD
"""
TOKEN = {"access_token": "tok-1"}
DAG = {"dag_id": "epi__daily", "is_paused": False, "dag_display_name": "epi__daily"}


# --- the platform's airflow.api ---------------------------------------------------------------

def load(tmp_path: Path, text: str) -> platform.Platform:
    return platform.load(str(write(tmp_path / "platform.yaml", text)))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        load(tmp_path, text)
    return [p.render().split("platform.yaml:", 1)[1] for p in caught.value.problems]


def test_the_api_settings_are_read(tmp_path: Path) -> None:
    config = load(tmp_path, PLATFORM.replace("URL", "https://airflow.example.org/"))
    assert config.airflow.api == platform.AirflowApi("https://airflow.example.org",
                                                     "AF_USER", "AF_PASSWORD")
    assert config.in_environment("production").airflow.api == config.airflow.api
    bare = load(tmp_path, PLATFORM.split("airflow:")[0])
    assert bare.airflow.api is None and wiring.airflow_api(bare, ENV) is None
    client = wiring.airflow_api(config, ENV)
    assert isinstance(client, AirflowRestApi)
    assert client.location == "https://airflow.example.org"


@pytest.mark.parametrize("url", ["airflow.example.org", "ftp://airflow.example.org",
                                 "https://bot:hunter2@airflow.example.org",
                                 "https://airflow.example.org/?x=1", "https://"])
def test_a_url_that_is_not_an_api_servers_is_refused(tmp_path: Path, url: str) -> None:
    assert problems(tmp_path, PLATFORM.replace("URL", url)) == [
        "8:10: airflow.api.url: is not an http(s) URL of an Airflow API server without user, "
        "password, query or fragment\n"
        "  hint: write http(s)://host[:port][/path], e.g. https://airflow.example.org, with "
        "the credentials in the variables of username_env and password_env"]


@pytest.mark.parametrize("value", ["hunter2", "AF-PASSWORD", "1PASSWORD", "P" * 129])
def test_a_variable_name_is_checked_without_repeating_the_value(tmp_path: Path,
                                                                value: str) -> None:
    # Someone may write the password itself where its variable's name goes.
    found = problems(tmp_path, PLATFORM.replace("URL", "http://airflow:8080")
                     .replace("password_env: AF_PASSWORD", f"password_env: {value}"))
    assert found == [
        "10:19: airflow.api.password_env: is not the name of an environment variable\n"
        "  hint: name the variable, not its value: uppercase letters, digits and '_', e.g. "
        "AIRFLOW_API_PASSWORD"]


def test_the_three_settings_are_required_and_the_variables_differ(tmp_path: Path) -> None:
    text = PLATFORM.replace("URL", "http://airflow:8080")
    assert problems(tmp_path, text.replace("    username_env: AF_USER\n", "")) == [
        "8:5: airflow.api: missing required key 'username_env'"]
    assert problems(tmp_path, text.replace("password_env: AF_PASSWORD",
                                           "password_env: AF_USER")) == [
        "10:19: airflow.api.password_env: AF_USER is also username_env: the username and "
        "the password come from two variables\n"
        "  hint: e.g. username_env: AIRFLOW_API_USERNAME, password_env: AIRFLOW_API_PASSWORD"]


# --- a stub server ----------------------------------------------------------------------------

@dataclass
class Stub:
    """Answers (method, path) with (status, body, headers) from `routes`; records requests."""

    routes: dict[tuple[str, str], list[tuple[int, bytes, dict[str, str]]]] = \
        field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    url: str = ""

    def on(self, method: str, path: str, status: int, body: Any = None,
           headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else b"" if body is None else \
            json.dumps(body).encode()
        self.routes.setdefault((method, path), []).append((status, raw, headers or {}))

    def answer(self, method: str, path: str) -> tuple[int, bytes, dict[str, str]]:
        queue = self.routes.get((method, path)) or [(599, b"no route", {})]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def handler(stub: Stub) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            stub.seen.append((self.command, self.path, dict(self.headers), body))
            status, raw, headers = stub.answer(self.command, self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = do_PUT = _any

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def stub() -> Iterator[Stub]:
    found = Stub()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(found))
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


def client(stub: Stub, environ: dict[str, str] | None = None) -> AirflowRestApi:
    return AirflowRestApi(stub.url, "AF_USER", "AF_PASSWORD", ENV if environ is None
                          else environ)


def failure(call: Any) -> str:
    with pytest.raises(AirflowApiError) as caught:
        call()
    text = caught.value.render()
    assert PASSWORD not in text and "tok-1" not in text
    return text


# --- requests ---------------------------------------------------------------------------------

def test_it_signs_in_once_and_quotes_every_path_segment(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("GET", "/api/v2/dags/a%2F..%3Fx", 200, {**DAG, "dag_id": "a/..?x"})
    stub.on("PATCH", "/api/v2/dags/epi__daily", 200, {**DAG, "is_paused": True})
    api = client(stub)
    assert api.dag("a/..?x") == AirflowDag("a/..?x", False)
    assert api.set_paused("epi__daily", True) == AirflowDag("epi__daily", True)
    assert [(m, p, b) for m, p, _, b in stub.seen] == [
        ("POST", "/auth/token", {"username": "bot", "password": PASSWORD}),
        ("GET", "/api/v2/dags/a%2F..%3Fx", None),
        ("PATCH", "/api/v2/dags/epi__daily", {"is_paused": True})]
    assert [h.get("Authorization") for _, _, h, _ in stub.seen] == [None, "Bearer tok-1",
                                                                     "Bearer tok-1"]


def test_trigger_and_backfill_send_what_airflow_takes(stub: Stub) -> None:
    run = {"dag_id": "d", "dag_run_id": "manual__1", "state": "queued", "run_type": "manual",
           "logical_date": "2026-03-01T00:00:00Z", "start_date": None, "end_date": None,
           "conf": {"region": "north"}}
    backfill = {"id": 7, "dag_id": "d", "from_date": "2026-01-01T00:00:00Z",
                "to_date": "2026-01-03T00:00:00Z", "max_active_runs": 1,
                "reprocess_behavior": "none", "is_paused": False, "dag_run_conf": {},
                "completed_at": None}
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("POST", "/api/v2/dags/d/dagRuns", 200, run)
    stub.on("POST", "/api/v2/backfills", 200, backfill)
    api = client(stub)
    found = api.trigger("d", {"region": "north"}, datetime.datetime(2026, 3, 1))
    assert (found.run_id, found.logical_date, found.conf) == (
        "manual__1", datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC), {"region": "north"})
    made = api.create_backfill("d", datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
                               datetime.datetime(2026, 1, 3, tzinfo=datetime.UTC), 1, {})
    assert (made.id, made.max_active_runs, made.completed_at) == (7, 1, None)
    assert [b for _, _, _, b in stub.seen[1:]] == [
        {"logical_date": "2026-03-01T00:00:00+00:00", "conf": {"region": "north"}},
        {"dag_id": "d", "from_date": "2026-01-01T00:00:00+00:00",
         "to_date": "2026-01-03T00:00:00+00:00", "max_active_runs": 1, "dag_run_conf": {},
         "reprocess_behavior": "none", "run_backwards": False}]


def test_an_expired_token_is_renewed_once(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("GET", "/api/v2/dags/d", 401, {"detail": "Token expired"})
    stub.on("GET", "/api/v2/dags/d", 200, {**DAG, "dag_id": "d"})
    assert client(stub).dag("d") == AirflowDag("d", False)
    assert [m + " " + p for m, p, _, _ in stub.seen] == [
        "POST /auth/token", "GET /api/v2/dags/d", "POST /auth/token", "GET /api/v2/dags/d"]


def test_a_trigger_note_and_a_log_with_its_exception(stub: Stub) -> None:
    run = {"dag_id": "d", "dag_run_id": "manual__1", "state": "queued", "run_type": "manual",
           "logical_date": None, "start_date": None, "end_date": None, "conf": {}}
    # as Airflow 3.1 answers a failed DockerOperator task's log (trimmed)
    log = {"content": [
        {"event": "::group::Log message source details"},
        {"timestamp": "2026-12-01T03:25:48.898407Z", "event": "no data for south",
         "level": "info"},
        {"timestamp": "2026-12-01T03:25:49.043096Z", "event": "Task failed with exception",
         "level": "error", "error_detail": [
             {"exc_type": "DockerContainerFailedException",
              "exc_value": "Docker container failed: {'Error': None, 'StatusCode': 3}",
              "exc_notes": [], "frames": [], "is_cause": False}, "odd", {"exc_type": 3}]},
        "a plain line\nand another", 7], "continuation_token": None}
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("POST", "/api/v2/dags/d/dagRuns", 200, run)
    stub.on("GET", "/api/v2/dags/d/dagRuns/r/taskInstances/t/logs/2?full_content=true&"
            "map_index=-1", 200, log)
    api = client(stub)
    api.trigger("d", {}, None, "manual__1", "triggered by ada with pipelinectl trigger")
    assert stub.seen[1][3] == {"logical_date": None, "conf": {}, "dag_run_id": "manual__1",
                               "note": "triggered by ada with pipelinectl trigger"}
    assert api.task_log("d", "r", "t", 2, lines=4) == [
        "Task failed with exception",
        "DockerContainerFailedException: Docker container failed: {'Error': None, "
        "'StatusCode': 3}", "a plain line", "and another"]


# --- failures ---------------------------------------------------------------------------------

def test_refused_credentials_name_the_variables_never_the_values(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 401,
            {"detail": [{"loc": ["body", "password"], "msg": "bad", "input": PASSWORD}]})
    assert failure(lambda: client(stub).dag("d")) == (
        f"error: Airflow at {stub.url} refused the user and password from $AF_USER and "
        "$AF_PASSWORD (401)\n"
        "  hint: set AF_USER and AF_PASSWORD to the name and password of an Airflow user (in "
        "CI: masked variables); see docs/how-to/airflow-api.md")


def test_an_unset_variable_is_named(stub: Stub) -> None:
    assert failure(lambda: client(stub, {"AF_USER": "bot"}).dag("d")) == (
        "error: airflow.api: the environment variable AF_PASSWORD is not set\n"
        "  hint: set AF_USER and AF_PASSWORD to the name and password of an Airflow user (in "
        "CI: masked variables); see docs/how-to/airflow-api.md")
    assert stub.seen == []


def test_a_missing_dag_is_none_to_read_and_an_error_to_change(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("GET", "/api/v2/dags/gone", 404, {"detail": "The Dag with ID: `gone` not found"})
    stub.on("PATCH", "/api/v2/dags/gone", 404, {"detail": "not found"})
    stub.on("GET", "/api/v2/backfills/9", 404, {"detail": "not found"})
    api = client(stub)
    assert api.dag("gone") is None
    assert failure(lambda: api.set_paused("gone", True)) == (
        f"error: Airflow at {stub.url} has no DAG 'gone'\n"
        "  hint: Airflow knows a DAG once its dag processor has parsed the deployed file: "
        "check that the pipeline is deployed and its DAG has no import errors")
    assert failure(lambda: api.backfill(9)) == f"error: Airflow at {stub.url} has no backfill 9"


def test_a_denied_request_names_the_user_variable(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("POST", "/api/v2/dags/d/dagRuns", 403, {"detail": "Forbidden"})
    assert failure(lambda: client(stub).trigger("d", {})) == (
        f"error: Airflow at {stub.url} denied POST /api/v2/dags/d/dagRuns to the user from "
        "$AF_USER (403)\n"
        "  hint: give that user a role that may read DAGs and their runs, trigger and pause "
        "them (see docs/how-to/airflow-api.md)")


def test_a_server_error_quotes_its_detail_on_one_line_without_secrets(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("GET", "/api/v2/dags/d", 500,
            {"detail": f"db down\n::error::x for bot/{PASSWORD} tok-1\x1b[2J"})
    assert failure(lambda: client(stub).dag("d")) == (
        f"error: Airflow at {stub.url} failed GET /api/v2/dags/d (500): db down\\n::error::x "
        "for bot/*** ***\\x1b[2J\n"
        "  hint: try again; if it persists, see the API server's log")


def test_a_refused_request_quotes_the_validation_error_not_the_input(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("POST", "/api/v2/backfills", 422, {"detail": [
        {"loc": ["body", "max_active_runs"], "msg": "Input should be a valid integer",
         "input": "secret-ish"}]})
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    assert failure(lambda: client(stub).create_backfill("d", moment, moment, 1, {})) == (
        f"error: Airflow at {stub.url} refused POST /api/v2/backfills (422): "
        "body.max_active_runs: Input should be a valid integer")


def test_a_long_detail_is_cut(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("PUT", "/api/v2/backfills/3/cancel", 409, {"detail": "x" * 1000})
    assert failure(lambda: client(stub).cancel_backfill(3)) == (
        f"error: Airflow at {stub.url} refused PUT /api/v2/backfills/3/cancel (409): "
        + "x" * 300 + "...")


def test_an_answer_that_is_not_json(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("GET", "/api/v2/dags/d", 200, b"<html>Sign in</html>")
    assert failure(lambda: client(stub).dag("d")) == (
        f"error: Airflow at {stub.url} answered GET /api/v2/dags/d with something that is not "
        "JSON\n"
        "  hint: check that airflow.api.url is the Airflow API server itself (Airflow 3), not "
        "a proxy's login page")


@pytest.mark.parametrize(("answer", "what"), [
    ({**DAG, "is_paused": "no"}, "is_paused that is not true or false"),
    ({"is_paused": True}, "dag_id that is not a string"),
    ([DAG], "an item that is not an object"),
])
def test_an_answer_of_another_shape(stub: Stub, answer: Any, what: str) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("GET", "/api/v2/dags/d", 200, answer)
    assert failure(lambda: client(stub).dag("d")) == (
        f"error: Airflow at {stub.url} answered GET .../dags with {what}\n"
        "  hint: pipelinectl speaks Airflow 3's REST API (/api/v2): check that "
        "airflow.api.url is an Airflow 3 API server")


def test_runs_with_a_bad_time_or_count(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    run = {"dag_id": "d", "dag_run_id": "r", "state": "success", "run_type": "manual",
           "logical_date": "yesterday", "conf": None}
    stub.on("GET", "/api/v2/dags/d/dagRuns?limit=5&order_by=-run_after", 200,
            {"dag_runs": [run]})
    stub.on("GET", "/api/v2/dags/d/dagRuns/r/taskInstances?limit=1000", 200,
            {"task_instances": [{"task_id": "t", "map_index": -1, "state": "failed",
                                 "try_number": True, "max_tries": 0}]})
    api = client(stub)
    assert "with logical_date that is not a time" in failure(lambda: api.runs("d"))
    assert "with try_number that is not an integer" in failure(
        lambda: api.task_instances("d", "r"))


def test_a_token_answer_without_a_token(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, {"token": "x"})
    assert failure(lambda: client(stub).dag("d")) == (
        f"error: Airflow at {stub.url} answered POST /auth/token without an access_token\n"
        "  hint: check that airflow.api.url is an Airflow 3 API server")


def test_a_server_without_the_token_endpoint(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 404, {"detail": "Not Found"})
    assert failure(lambda: client(stub).dag("d")) == (
        f"error: Airflow at {stub.url} has no /auth/token\n"
        "  hint: airflow.api.url must be the base URL of an Airflow 3 API server (Airflow 2 "
        "has no /auth/token)")
    stub.routes.clear()
    stub.on("POST", "/auth/token", 503, {"detail": "starting"})
    assert failure(lambda: client(stub).dag("d")) == (
        f"error: Airflow at {stub.url} failed POST /auth/token (503): starting\n"
        "  hint: try again; if it persists, see the API server's log")


def test_a_redirect_is_not_followed_with_the_token(stub: Stub) -> None:
    stub.on("POST", "/auth/token", 201, TOKEN)
    stub.on("GET", "/api/v2/dags/d", 302, b"", {"Location": "http://elsewhere.example/x"})
    assert failure(lambda: client(stub).dag("d")) == (
        f"error: Airflow at {stub.url} redirected GET /api/v2/dags/d to "
        "http://elsewhere.example/x\n"
        "  hint: set airflow.api.url to the API server's own address (pipelinectl does not "
        "follow redirects with its token)")


def test_an_unreachable_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    api = AirflowRestApi(url, "AF_USER", "AF_PASSWORD", ENV, timeout=5)
    assert failure(lambda: api.dag("d")) == (
        f"error: cannot reach Airflow's API at {url}: [Errno 111] Connection refused\n"
        "  hint: check airflow.api.url in the platform file, and that the Airflow API server "
        "is up and reachable from here")

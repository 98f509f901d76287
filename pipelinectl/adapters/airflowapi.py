"""A small client of Airflow 3's REST API (/api/v2) over urllib: the AirflowApi port
(deploy/ports.py).

It signs in with `POST <url>/auth/token` (the FAB and the simple auth manager both serve it)
as the user and password held by the environment variables that the platform's airflow.api
names, and sends the JWT as a Bearer token; an expired token is renewed once. Every failure
becomes a UserError that names the server and the variables, never their values: a server's
answer may echo what it was sent, so the password and the token are blotted out of anything
quoted from it. Whatever the server answers is untrusted and type-checked as it is read.
Redirects are not followed: they would carry the token to another address.
"""

from __future__ import annotations

import datetime
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pipelinectl.deploy.ports import (
    AirflowBackfill,
    AirflowDag,
    AirflowRun,
    AirflowTaskInstance,
    ReprocessBehavior,
)
from pipelinectl.errors import UserError
from pipelinectl.textsafe import inline

TIMEOUT = 30.0
MAX_BODY = 16 * 1024 * 1024  # an answer larger than this is not one pipelinectl asked for
MAX_DETAIL = 300  # characters of a server's error detail quoted in a message
GUIDE = "docs/how-to/airflow-api.md"
T = TypeVar("T")


class AirflowApiError(UserError):
    """Airflow's API could not be reached, refused us, or answered something unexpected."""


class _Shape(Exception):
    """An answer without the field, or the type, that Airflow 3's API gives."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


class AirflowRestApi:
    """The REST API at `url`, signed in as the user whose name and password the environment
    variables `username_env` and `password_env` hold (read at the first request)."""

    def __init__(self, url: str, username_env: str, password_env: str,
                 environ: Mapping[str, str], timeout: float = TIMEOUT) -> None:
        self.location = url.rstrip("/")
        self.username_env = username_env
        self.password_env = password_env
        self._environ = environ
        self._timeout = timeout
        self._token: str | None = None
        self._secrets: tuple[str, ...] = ()
        self._opener = urllib.request.build_opener(_NoRedirect)

    # -- DAGs ----------------------------------------------------------------------------
    def dag(self, dag_id: str) -> AirflowDag | None:
        found = self._call("GET", _path("dags", dag_id), missing=None)
        return None if found is None else self._read(found, _dag, "GET", "dags")

    def set_paused(self, dag_id: str, paused: bool) -> AirflowDag:
        found = self._call("PATCH", _path("dags", dag_id), {"is_paused": paused},
                           missing=f"DAG {dag_id!r}")
        return self._read(found, _dag, "PATCH", "dags")

    # -- runs ----------------------------------------------------------------------------
    def runs(self, dag_id: str, limit: int = 5, run_type: str | None = None
             ) -> list[AirflowRun]:
        query: dict[str, str | int] = {"limit": limit, "order_by": "-run_after"}
        if run_type is not None:
            query["run_type"] = run_type
        found = self._call("GET", _path("dags", dag_id, "dagRuns"), query=query,
                           missing=f"DAG {dag_id!r}")
        return self._read(found, lambda d: _items(d, "dag_runs", _run), "GET", "dagRuns")

    def run(self, dag_id: str, run_id: str) -> AirflowRun:
        found = self._call("GET", _path("dags", dag_id, "dagRuns", run_id),
                           missing=f"run {run_id!r} of DAG {dag_id!r}")
        return self._read(found, _run, "GET", "dagRuns")

    def task_instances(self, dag_id: str, run_id: str) -> list[AirflowTaskInstance]:
        found = self._call("GET", _path("dags", dag_id, "dagRuns", run_id, "taskInstances"),
                           query={"limit": 1000},
                           missing=f"run {run_id!r} of DAG {dag_id!r}")
        return self._read(found, lambda d: _items(d, "task_instances", _task_instance),
                          "GET", "taskInstances")

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int,
                 map_index: int = -1, lines: int = 20) -> list[str]:
        found = self._call("GET", _path("dags", dag_id, "dagRuns", run_id, "taskInstances",
                                        task_id, "logs", str(try_number)),
                           query={"full_content": "true", "map_index": map_index},
                           missing=f"try {try_number} of task {task_id!r} in run "
                                   f"{run_id!r} of DAG {dag_id!r}")
        events = self._read(found, _log_lines, "GET", "logs")
        return events[-lines:] if lines > 0 else []

    def trigger(self, dag_id: str, conf: Mapping[str, Any],
                logical_date: datetime.datetime | None = None,
                run_id: str | None = None, note: str | None = None) -> AirflowRun:
        body: dict[str, Any] = {"logical_date": _iso(logical_date), "conf": dict(conf)}
        if run_id is not None:
            body["dag_run_id"] = run_id
        if note is not None:
            body["note"] = note
        found = self._call("POST", _path("dags", dag_id, "dagRuns"), body,
                           missing=f"DAG {dag_id!r}")
        return self._read(found, _run, "POST", "dagRuns")

    # -- backfills -----------------------------------------------------------------------
    def create_backfill(self, dag_id: str, from_date: datetime.datetime,
                        to_date: datetime.datetime, max_active_runs: int,
                        conf: Mapping[str, Any],
                        reprocess_behavior: ReprocessBehavior = "none") -> AirflowBackfill:
        body = {"dag_id": dag_id, "from_date": _iso(from_date), "to_date": _iso(to_date),
                "max_active_runs": max_active_runs, "dag_run_conf": dict(conf),
                "reprocess_behavior": reprocess_behavior, "run_backwards": False}
        found = self._call("POST", _path("backfills"), body, missing=f"DAG {dag_id!r}")
        return self._read(found, _backfill, "POST", "backfills")

    def backfill(self, backfill_id: int) -> AirflowBackfill:
        found = self._call("GET", _path("backfills", str(backfill_id)),
                           missing=f"backfill {backfill_id}")
        return self._read(found, _backfill, "GET", "backfills")

    def count_runs(self, dag_id: str, run_type: str, states: tuple[str, ...],
                   logical_from: datetime.datetime, logical_to: datetime.datetime,
                   limit: int = 1) -> tuple[int, list[AirflowRun]]:
        query: dict[str, str | int | list[str]] = {
            "limit": max(limit, 1), "order_by": "logical_date", "run_type": run_type,
            "state": list(states), "logical_date_gte": str(_iso(logical_from)),
            "logical_date_lte": str(_iso(logical_to))}
        found = self._call("GET", _path("dags", dag_id, "dagRuns"), query=query,
                           missing=f"DAG {dag_id!r}")
        total = self._read(found, lambda d: _field(d, "total_entries", int), "GET", "dagRuns")
        runs = self._read(found, lambda d: _items(d, "dag_runs", _run), "GET", "dagRuns")
        return total, runs[:limit]

    def backfills(self, dag_id: str) -> list[AirflowBackfill]:
        found = self._call("GET", _path("backfills"),
                           query={"dag_id": dag_id, "limit": 100, "order_by": "-id"},
                           missing=f"DAG {dag_id!r}")
        return self._read(found, lambda d: _items(d, "backfills", _backfill), "GET",
                          "backfills")

    def cancel_backfill(self, backfill_id: int) -> AirflowBackfill:
        found = self._call("PUT", _path("backfills", str(backfill_id), "cancel"),
                           missing=f"backfill {backfill_id}")
        return self._read(found, _backfill, "PUT", "backfills")

    # -- reading answers -----------------------------------------------------------------
    def _read(self, data: Any, parse: Callable[[Any], T], method: str, what: str) -> T:
        try:
            return parse(data)
        except _Shape as shape:
            raise AirflowApiError(
                f"Airflow at {self.location} answered {method} .../{what} with {shape}",
                hint="pipelinectl speaks Airflow 3's REST API (/api/v2): check that "
                     "airflow.api.url is an Airflow 3 API server") from None

    # -- transport -----------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None,
              query: Mapping[str, str | int | list[str]] | None = None, *,
              missing: str | None) -> Any:
        """The JSON answer to one request; None for a 404 when `missing` is None, else a
        404 says Airflow has no `missing`."""
        if self._token is None:
            self._token = self._login()
        status, raw = self._send(method, path, body, query, self._token)
        if status == 401:  # the token expired: sign in again, once
            self._token = self._login()
            status, raw = self._send(method, path, body, query, self._token)
        if status == 404 and missing is None:
            return None
        if status >= 300:
            raise self._failure(method, path, status, raw, missing)
        return self._json(method, path, raw)

    def _login(self) -> str:
        username, password = self._credential(self.username_env), \
            self._credential(self.password_env)
        self._secrets = (password,)
        status, raw = self._send("POST", "/auth/token",
                                 {"username": username, "password": password}, None, None)
        if status in (400, 401, 403, 422):
            # The detail is not quoted: a validation error echoes the body it was sent.
            raise AirflowApiError(
                f"Airflow at {self.location} refused the user and password from "
                f"${self.username_env} and ${self.password_env} ({status})",
                hint=f"set {self.username_env} and {self.password_env} to the name and "
                     f"password of an Airflow user (in CI: masked variables); see {GUIDE}")
        if status == 404:
            raise AirflowApiError(
                f"Airflow at {self.location} has no /auth/token",
                hint="airflow.api.url must be the base URL of an Airflow 3 API server (Airflow "
                     "2 has no /auth/token)")
        if status >= 300:
            raise self._failure("POST", "/auth/token", status, raw, None)
        token = self._json("POST", "/auth/token", raw)
        found = token.get("access_token") if isinstance(token, dict) else None
        if not isinstance(found, str) or not found:
            raise AirflowApiError(
                f"Airflow at {self.location} answered POST /auth/token without an "
                "access_token",
                hint="check that airflow.api.url is an Airflow 3 API server")
        self._secrets = (password, found)
        return found

    def _credential(self, name: str) -> str:
        value = self._environ.get(name)
        if not value:
            raise AirflowApiError(
                f"airflow.api: the environment variable {name} is not set",
                hint=f"set {self.username_env} and {self.password_env} to the name and "
                     f"password of an Airflow user (in CI: masked variables); see {GUIDE}")
        return value

    def _send(self, method: str, path: str, body: Any,
              query: Mapping[str, str | int | list[str]] | None,
              token: str | None) -> tuple[int, bytes]:
        url = self.location + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return response.status, response.read(MAX_BODY)
        except urllib.error.HTTPError as error:
            with error:
                if 300 <= error.code < 400:
                    raise self._redirected(method, path,
                                           error.headers.get("Location")) from None
                return error.code, error.read(MAX_BODY)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            raise self._unreachable(error) from None

    def _json(self, method: str, path: str, raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise AirflowApiError(
                f"Airflow at {self.location} answered {method} {path} with something that "
                "is not JSON",
                hint="check that airflow.api.url is the Airflow API server itself (Airflow "
                     "3), not a proxy's login page") from None

    # -- failures ------------------------------------------------------------------------
    def _failure(self, method: str, path: str, status: int, raw: bytes,
                 missing: str | None) -> AirflowApiError:
        where = f"Airflow at {self.location}"
        if status == 401:
            return AirflowApiError(
                f"{where} refused the token of the user from ${self.username_env} (401) to "
                f"{method} {path}",
                hint=f"check {self.username_env} and {self.password_env}; see {GUIDE}")
        if status == 403:
            return AirflowApiError(
                f"{where} denied {method} {path} to the user from ${self.username_env} "
                "(403)",
                hint="give that user a role that may read DAGs and their runs, trigger and "
                     f"pause them (see {GUIDE})")
        if status == 404 and missing is not None:
            return AirflowApiError(
                f"{where} has no {missing}",
                hint="Airflow knows a DAG once its dag processor has parsed the deployed "
                     "file: check that the pipeline is deployed and its DAG has no import "
                     "errors" if missing.startswith("DAG") else None)
        detail = self._detail(raw)
        shown = f": {detail}" if detail else ""
        if status >= 500:
            return AirflowApiError(f"{where} failed {method} {path} ({status}){shown}",
                                   hint="try again; if it persists, see the API server's log")
        return AirflowApiError(f"{where} refused {method} {path} ({status}){shown}")

    def _detail(self, raw: bytes) -> str:
        """The error's `detail`, on one line, short, without our secrets."""
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return ""
        detail = data.get("detail") if isinstance(data, dict) else None
        if isinstance(detail, list):  # a validation error: where and what, not the input
            detail = "; ".join(_validation(item) for item in detail[:5])
        elif isinstance(detail, dict):
            detail = str(detail.get("reason") or detail.get("message") or "")
        if not isinstance(detail, str):
            return ""
        for secret in self._secrets:
            detail = detail.replace(secret, "***")
        text = inline(detail)
        return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "..."

    def _unreachable(self, error: Exception) -> AirflowApiError:
        reason = getattr(error, "reason", None) or error
        return AirflowApiError(
            f"cannot reach Airflow's API at {self.location}: {inline(str(reason))}",
            hint="check airflow.api.url in the platform file, and that the Airflow API "
                 "server is up and reachable from here")

    def _redirected(self, method: str, path: str, to: str | None) -> AirflowApiError:
        return AirflowApiError(
            f"Airflow at {self.location} redirected {method} {path} to "
            f"{inline(to or 'nowhere')}",
            hint="set airflow.api.url to the API server's own address (pipelinectl does not "
                 "follow redirects with its token)")


def _path(*segments: str) -> str:
    """An /api/v2 path: each segment quoted, so a '/' or '?' in an id stays inside it."""
    return "/api/v2/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)


def _iso(moment: datetime.datetime | None) -> str | None:
    """An aware time as Airflow reads it (a naive one is taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.isoformat()


def _validation(item: Any) -> str:
    if not isinstance(item, dict):
        return ""
    where = ".".join(str(part) for part in item.get("loc") or [] if isinstance(part, str | int))
    message = item.get("msg")
    return f"{where}: {message}" if isinstance(message, str) else where


# -- the shapes of Airflow 3's answers ---------------------------------------------------------

def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Shape(f"{what} that is not an object")
    return data


def _items(data: Any, key: str, parse: Callable[[Any], T]) -> list[T]:
    found = _object(data, "an answer").get(key)
    if not isinstance(found, list):
        raise _Shape(f"{key} that is not a list")
    return [parse(item) for item in found]


def _field(data: Any, key: str, kind: type[T]) -> T:
    value = _optional(data, key, kind)
    if value is None:
        raise _Shape(f"{key} that is not {_KINDS[kind]}")
    return value


def _optional(data: Any, key: str, kind: type[T]) -> T | None:
    value = _object(data, "an item").get(key)
    if value is not None and (not isinstance(value, kind) or
                              (kind is int and isinstance(value, bool))):
        raise _Shape(f"{key} that is not {_KINDS[kind]}")
    return value


_KINDS: dict[type, str] = {str: "a string", bool: "true or false", int: "an integer",
                           dict: "an object"}


def _time(data: Any, key: str) -> datetime.datetime | None:
    text = _optional(data, key, str)
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _Shape(f"{key} that is not a time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _required_time(data: Any, key: str) -> datetime.datetime:
    moment = _time(data, key)
    if moment is None:
        raise _Shape(f"{key} that is not a time")
    return moment


def _dag(data: Any) -> AirflowDag:
    return AirflowDag(_field(data, "dag_id", str), _field(data, "is_paused", bool),
                      _time(data, "next_dagrun_run_after"))


def _run(data: Any) -> AirflowRun:
    conf = _optional(data, "conf", dict)
    return AirflowRun(_field(data, "dag_id", str), _field(data, "dag_run_id", str),
                      _field(data, "state", str), _field(data, "run_type", str),
                      _time(data, "logical_date"), _time(data, "start_date"),
                      _time(data, "end_date"), conf or {})


def _task_instance(data: Any) -> AirflowTaskInstance:
    return AirflowTaskInstance(
        _field(data, "task_id", str), _field(data, "map_index", int),
        _optional(data, "state", str), _field(data, "try_number", int),
        _field(data, "max_tries", int), _time(data, "start_date"), _time(data, "end_date"),
        _optional(data, "note", str))


def _backfill(data: Any) -> AirflowBackfill:
    conf = _optional(data, "dag_run_conf", dict)
    return AirflowBackfill(
        _field(data, "id", int), _field(data, "dag_id", str),
        _required_time(data, "from_date"), _required_time(data, "to_date"),
        _field(data, "max_active_runs", int), _field(data, "reprocess_behavior", str),
        _field(data, "is_paused", bool), conf or {}, _time(data, "completed_at"))


def _log_lines(data: Any) -> list[str]:
    """A log's lines: Airflow 3 gives structured events ({"event": ...}) or plain strings."""
    content = _object(data, "an answer").get("content")
    if not isinstance(content, list):
        raise _Shape("content that is not a list")
    lines: list[str] = []
    for entry in content:
        text = entry.get("event") if isinstance(entry, dict) else entry
        if isinstance(text, str):
            lines.extend(text.splitlines())
        if isinstance(entry, dict):  # "Task failed with exception": the exception is here
            lines.extend(_error_lines(entry.get("error_detail")))
    return lines


def _error_lines(detail: Any) -> list[str]:
    """`ExcType: value` of each exception a structured log event carries."""
    found = []
    for item in detail if isinstance(detail, list) else []:
        kind = item.get("exc_type") if isinstance(item, dict) else None
        value = item.get("exc_value") if isinstance(item, dict) else None
        if isinstance(kind, str) and isinstance(value, str):
            found.extend(f"{kind}: {value}".splitlines())
    return found

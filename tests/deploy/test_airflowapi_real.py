"""adapters/airflowapi.py against a real Airflow 3 (tests/support/airflowserver.py: API
server, scheduler and dag processor, SQLite, the FAB auth manager) with two tiny static DAGs:
api_ok (daily, a @task that prints its run's conf) and api_fail (unscheduled, a BashOperator
that exits 3).

The story, run once for the module as the user that docs/how-to/airflow-api.md makes (its
shell block, run as written): read both DAGs (paused, as Airflow makes new DAGs) and a missing
one; pause and unpause; trigger api_ok with conf and a logical date and api_fail, and follow
both to their end; list runs, the failed run's task instance and its log; backfill three days
of api_ok one run at a time and follow it to completion, watching that no two of its runs run
at once; start another backfill, see a third refused while it runs, cancel it. Then the
failures a real server gives: a wrong password (401), a Viewer pausing (403).
"""

from __future__ import annotations

import datetime
import itertools
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pipelinectl.adapters.airflowapi import AirflowApiError, AirflowRestApi
from pipelinectl.deploy.ports import AirflowDag, AirflowRun
from tests.docs.blocks import blocks
from tests.support.airflowserver import AirflowServer, airflow_server, call
from tests.support.repo import REPO

GUIDE = REPO / "docs" / "how-to" / "airflow-api.md"
USER, PASSWORD = "pipelinectl", "bot-pw-7f3a"
ENVIRON = {"AIRFLOW_API_USERNAME": USER, "AIRFLOW_API_PASSWORD": PASSWORD}
UTC = datetime.UTC
T = TypeVar("T")

OK_DAG = """\
import datetime
import itertools

from airflow.sdk import dag, task


@dag(dag_id="api_ok", schedule="@daily", catchup=False, max_active_runs=1,
     start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
def api_ok():
    @task
    def show(**context):
        print("conf region=" + str(context["dag_run"].conf.get("region")))

    show()


api_ok()
"""
FAIL_DAG = """\
import datetime
import itertools

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(dag_id="api_fail", schedule=None, catchup=False,
         start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)):
    BashOperator(task_id="breaks", bash_command="echo about to fail; exit 3", retries=0)
"""
FINISHED = ("success", "failed")


def until(read: Callable[[], T], done: Callable[[T], bool], what: str,
          timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if done(found):
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s: {found}"
        time.sleep(0.5)


def make_user(server: AirflowServer) -> None:
    """The role and user of docs/how-to/airflow-api.md, made by its shell block as written."""
    [script] = [b.text for b in blocks(GUIDE) if b.lang == "sh"]
    python = Path(server.python)
    env = {**server.env, **ENVIRON, "PATH": f"{python.parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def failure(call_it: Callable[[], Any]) -> str:
    with pytest.raises(AirflowApiError) as caught:
        call_it()
    text = caught.value.render()
    assert PASSWORD not in text
    return text


@pytest.fixture(scope="module")
def server(airflow_python: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[AirflowServer]:
    tmp = tmp_path_factory.mktemp("airflowapi")
    dags = tmp / "dags"
    dags.mkdir()
    (dags / "api_ok.py").write_text(OK_DAG, encoding="utf-8")
    (dags / "api_fail.py").write_text(FAIL_DAG, encoding="utf-8")
    with airflow_server(airflow_python, dags, tmp) as running:
        make_user(running)
        yield running


@pytest.fixture(scope="module")
def story(server: AirflowServer) -> dict[str, Any]:
    api = AirflowRestApi(server.base, "AIRFLOW_API_USERNAME", "AIRFLOW_API_PASSWORD", ENVIRON)
    found: dict[str, Any] = {"dags": [api.dag("api_ok"), api.dag("api_fail"), api.dag("nope")]}
    found["pause"] = [api.set_paused("api_ok", True), api.dag("api_ok"),
                      api.set_paused("api_ok", False), api.dag("api_ok"),
                      api.set_paused("api_fail", False)]
    ok = api.trigger("api_ok", {"region": "north"}, datetime.datetime(2026, 2, 1, tzinfo=UTC))
    bad = api.trigger("api_fail", {})
    found["triggered"] = ok
    found["ok"] = until(lambda: api.run("api_ok", ok.run_id), lambda r: r.state in FINISHED,
                        "api_ok's run")
    found["bad"] = until(lambda: api.run("api_fail", bad.run_id),
                         lambda r: r.state in FINISHED, "api_fail's run")
    # unpausing makes the scheduler start the latest tick's run: once it has done so
    found["runs"] = until(lambda: api.runs("api_ok", limit=5),
                          lambda runs: any(r.run_type == "scheduled" for r in runs),
                          "the scheduled run of api_ok")
    found["manual"] = api.runs("api_ok", run_type="manual")
    found["bad_tasks"] = api.task_instances("api_fail", bad.run_id)
    found["bad_log"] = api.task_log("api_fail", bad.run_id, "breaks", 1)
    found["ok_log"] = api.task_log("api_ok", ok.run_id, "show", 1, lines=1000)
    backfill(api, found)
    found["latest"] = api.runs("api_ok", limit=5)
    found["no_dag"] = failure(lambda: api.set_paused("nope", True))
    return found


def backfill(api: AirflowRestApi, found: dict[str, Any]) -> None:
    """Three days, one run at a time, to completion; then one cancelled while it runs."""
    made = api.create_backfill("api_ok", datetime.datetime(2026, 1, 1, tzinfo=UTC),
                               datetime.datetime(2026, 1, 3, tzinfo=UTC), 1, {"region": "south"})
    found["backfill"] = made
    most = 0

    def read() -> Any:
        nonlocal most
        running = [r for r in api.runs("api_ok", 10, run_type="backfill")
                   if r.state == "running"]
        most = max(most, len(running))
        return api.backfill(made.id)

    found["completed"] = until(read, lambda b: b.completed_at is not None, "the backfill")
    found["most_running"] = most
    found["backfill_runs"] = api.runs("api_ok", 10, run_type="backfill")
    second = api.create_backfill("api_ok", datetime.datetime(2026, 1, 10, tzinfo=UTC),
                                 datetime.datetime(2026, 1, 12, tzinfo=UTC), 1, {})
    found["conflict"] = failure(lambda: api.create_backfill(
        "api_ok", datetime.datetime(2026, 1, 20, tzinfo=UTC),
        datetime.datetime(2026, 1, 21, tzinfo=UTC), 1, {}))
    found["cancelled"] = api.cancel_backfill(second.id)
    found["listed"] = api.backfills("api_ok")


def test_dags_are_read_and_a_missing_one_is_none(story: dict[str, Any]) -> None:
    assert story["dags"] == [AirflowDag("api_ok", True), AirflowDag("api_fail", True), None]


def test_pause_and_unpause_round_trip(story: dict[str, Any]) -> None:
    assert story["pause"] == [AirflowDag("api_ok", True)] * 2 + \
        [AirflowDag("api_ok", False)] * 2 + [AirflowDag("api_fail", False)]


def test_a_triggered_run_has_its_conf_and_logical_date_and_succeeds(
        story: dict[str, Any]) -> None:
    triggered, ok = story["triggered"], story["ok"]
    assert (triggered.state, triggered.run_type) == ("queued", "manual")
    assert ok.run_id == triggered.run_id and ok.state == "success"
    assert ok.logical_date == datetime.datetime(2026, 2, 1, tzinfo=UTC)
    assert ok.conf == {"region": "north"}
    assert ok.start_date is not None and ok.end_date is not None
    assert ok.start_date <= ok.end_date
    assert "conf region=north" in story["ok_log"]  # the task saw the conf


def test_runs_are_listed_newest_first(story: dict[str, Any]) -> None:
    # Before the backfills: the manual run and the scheduled one that unpausing started.
    assert [r.run_type for r in story["runs"]] == ["manual", "scheduled"]
    assert story["runs"][0] == story["ok"]
    assert [r.run_id for r in story["manual"]] == [story["ok"].run_id]
    # After them, five at most, newest first by when each was due: the manual run (due when
    # it was triggered), the scheduled one, then the backfills' days, the latest first.
    latest: list[AirflowRun] = story["latest"]
    assert len(latest) == 5 and latest[0] == story["ok"]
    assert [r.run_type for r in latest] == ["manual", "scheduled"] + ["backfill"] * 3
    days = [r.logical_date for r in latest[2:]]
    assert days == sorted(days, key=lambda d: d or datetime.datetime.min, reverse=True)


def test_the_failed_task_and_why(story: dict[str, Any]) -> None:
    assert story["bad"].state == "failed"
    [task] = story["bad_tasks"]
    assert (task.task_id, task.state, task.try_number, task.max_tries, task.map_index) == (
        "breaks", "failed", 1, 0, -1)
    assert "Command exited with return code 3" in story["bad_log"]


def test_a_backfill_of_three_days_runs_one_at_a_time(story: dict[str, Any]) -> None:
    made, completed = story["backfill"], story["completed"]
    assert (made.dag_id, made.from_date, made.to_date, made.max_active_runs,
            made.reprocess_behavior, made.dag_run_conf, made.completed_at) == (
        "api_ok", datetime.datetime(2026, 1, 1, tzinfo=UTC),
        datetime.datetime(2026, 1, 3, tzinfo=UTC), 1, "none", {"region": "south"}, None)
    assert completed.id == made.id and completed.completed_at is not None
    days = sorted((r.logical_date, r.state, dict(r.conf)) for r in story["backfill_runs"]
                  if r.logical_date is not None and r.logical_date.month == 1 and
                  r.logical_date.day <= 3)
    assert days == [(datetime.datetime(2026, 1, day, tzinfo=UTC), "success",
                     {"region": "south"}) for day in (1, 2, 3)]
    assert story["most_running"] <= 1
    # One at a time: each day's run started after the one before it ended.
    spans = sorted((r.start_date, r.end_date) for r in story["backfill_runs"]
                   if r.logical_date is not None and r.logical_date.day <= 3)
    assert len(spans) == 3 and all(end is not None for _, end in spans)
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


def test_a_second_backfill_is_refused_while_one_runs_and_one_is_cancelled(
        story: dict[str, Any], server: AirflowServer) -> None:
    assert story["conflict"].startswith(
        f"error: Airflow at {server.base} refused POST /api/v2/backfills (409): ")
    cancelled = story["cancelled"]
    assert cancelled.from_date == datetime.datetime(2026, 1, 10, tzinfo=UTC)
    assert cancelled.completed_at is not None
    assert [b.id for b in story["listed"]] == [cancelled.id, story["backfill"].id]


def test_changing_a_missing_dag(story: dict[str, Any], server: AirflowServer) -> None:
    assert story["no_dag"] == (
        f"error: Airflow at {server.base} has no DAG 'nope'\n"
        "  hint: Airflow knows a DAG once its dag processor has parsed the deployed file: "
        "check that the pipeline is deployed and its DAG has no import errors")


def test_a_wrong_password(server: AirflowServer) -> None:
    api = AirflowRestApi(server.base, "AIRFLOW_API_USERNAME", "AIRFLOW_API_PASSWORD",
                         {**ENVIRON, "AIRFLOW_API_PASSWORD": "not-" + PASSWORD})
    text = failure(lambda: api.dag("api_ok"))
    assert "not-" not in text
    assert text == (
        f"error: Airflow at {server.base} refused the user and password from "
        "$AIRFLOW_API_USERNAME and $AIRFLOW_API_PASSWORD (401)\n"
        "  hint: set AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD to the name and password "
        "of an Airflow user (in CI: masked variables); see docs/how-to/airflow-api.md")


def test_a_user_without_the_role_is_denied(server: AirflowServer) -> None:
    status, body = call(server.base, "POST", "/auth/fab/v1/users", server.login(), {
        "username": "viewer", "password": "viewer-pw", "email": "viewer@example.org",
        "first_name": "view", "last_name": "only", "roles": [{"name": "Viewer"}]})
    assert status == 200, body
    api = AirflowRestApi(server.base, "AF_USER", "AF_PASSWORD",
                         {"AF_USER": "viewer", "AF_PASSWORD": "viewer-pw"})
    assert api.dag("api_ok") is not None  # a Viewer reads
    assert failure(lambda: api.set_paused("api_ok", True)) == (
        f"error: Airflow at {server.base} denied PATCH /api/v2/dags/api_ok to the user from "
        "$AF_USER (403)\n"
        "  hint: give that user a role that may read DAGs and their runs, trigger and pause "
        "them (see docs/how-to/airflow-api.md)")

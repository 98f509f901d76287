"""A run started by hand (`pipelinectl trigger`) on the Airflow engine: a DAG run made
through Airflow's REST API with the params as `conf` and the logical date, its run id
`manual__<time>__pipelinectl-<token>`, its note naming who started it; and `--wait`, which
follows it to its end (docs/how-to/trigger.md)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipelinectl.deploy import dagruns
from pipelinectl.deploy.ports import AirflowApi
from pipelinectl.deploy.runs import Failure
from pipelinectl.errors import UserError

POLL_SECONDS = 2.0
FINISHED = ("success", "failed")


@dataclass(frozen=True)
class Waited:
    state: str  # success, failed, or "timed out"
    failure: Failure | None = None


def run_id(now: datetime.datetime, token: str) -> str:
    """manual__2026-12-01T03:15:00+00:00__pipelinectl-1a2b: Airflow's own prefix for a run
    started by hand, and a token that makes two triggers in one second differ."""
    return f"manual__{now.isoformat()}__pipelinectl-{token}"


def note(who: str) -> str:
    return f"triggered by {who} with pipelinectl trigger"


@dataclass(frozen=True)
class Started:
    run_id: str
    paused: bool  # the DAG is paused: Airflow keeps the run queued until it is unpaused


def queued_while_paused(dag_id: str, preview: bool) -> str:
    """What a run of a paused DAG does in Airflow 3: nothing, until someone unpauses it (its
    scheduler moves only the queued runs of unpaused DAGs to running)."""
    why = "a preview's DAG always is" if preview else "paused in git or by hand"
    return (f"paused: DAG {dag_id} is paused ({why}), and Airflow keeps this run queued "
            "until the DAG is unpaused (the toggle in the Airflow UI; a schedule it has then "
            "starts too)")


def start(api: AirflowApi, dag_id: str, pipeline: str, conf: Mapping[str, str],
          logical_date: datetime.datetime, now: datetime.datetime, token: str,
          who: str, wait: bool = False) -> Started:
    """The DAG run, once Airflow is known to have the DAG (else UserError, nothing made). A
    paused DAG's run would stay queued: with `wait`, that is refused before any run is made
    (it would wait for nothing)."""
    found = api.dag(dag_id)
    if found is None:
        raise UserError(f"{pipeline}: Airflow at {api.location} has no DAG {dag_id}: nothing "
                        "started",
                        hint="Airflow knows the DAG once its dag processor has parsed the "
                             "deployed file: check that it is deployed and has no import "
                             "errors (pipelinectl status)")
    if found.is_paused and wait:
        raise UserError(f"{pipeline}: DAG {dag_id} is paused, and Airflow 3 keeps a run of a "
                        "paused DAG queued, so --wait would wait for nothing: nothing started",
                        hint="unpause the DAG in the Airflow UI first (its schedule, if any, "
                             "starts too), or trigger without --wait: the run starts once "
                             "the DAG is unpaused")
    made = api.trigger(dag_id, dict(conf), logical_date, run_id(now, token), note(who))
    return Started(made.run_id, found.is_paused)


def wait(api: AirflowApi, dag_id: str, started: str, timeout: float,
         sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic) -> Waited:
    """Follow the run until it succeeds or fails (or `timeout` seconds); a failed run says
    which task failed and why (its task instances and the end of its log)."""
    deadline = clock() + timeout
    while True:
        state = api.run(dag_id, started).state
        if state == "success":
            return Waited(state)
        if state == "failed":
            return Waited(state, dagruns.why_failed(api, dag_id, started))
        if clock() >= deadline:
            return Waited("timed out")
        sleep(POLL_SECONDS)

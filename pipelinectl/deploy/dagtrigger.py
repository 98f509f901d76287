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
from pipelinectl.deploy.ports import AirflowApi, AirflowRun
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


def start(api: AirflowApi, dag_id: str, pipeline: str, conf: Mapping[str, str],
          logical_date: datetime.datetime, now: datetime.datetime, token: str,
          who: str) -> AirflowRun:
    """The DAG run, once Airflow is known to have the DAG (else UserError, nothing made)."""
    if api.dag(dag_id) is None:
        raise UserError(f"{pipeline}: Airflow at {api.location} has no DAG {dag_id}: nothing "
                        "started",
                        hint="Airflow knows the DAG once its dag processor has parsed the "
                             "deployed file: check that it is deployed and has no import "
                             "errors (pipelinectl status)")
    return api.trigger(dag_id, dict(conf), logical_date, run_id(now, token), note(who))


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

"""The airflow engine's backfills (docs/how-to/backfill.md), through Airflow's REST API.

Airflow creates and paces the runs itself (its backfill, `max_active_runs` = the entry's
`max_parallel`): pipelinectl starts one per backfill id after the deploy, with the ticks the
entry names (the first and last as `from_date` and `to_date`: Airflow's range is inclusive)
and the params as the runs' `conf`, re-running dates that already have runs
(`reprocess_behavior: completed`: a backfill after a bug fix). The state records its Airflow
id as `airflow-backfill-<id>`. A running backfill of the same dates and conf that Airflow
already has is adopted (a state object lost after a deploy), not started twice. Removing the
entry cancels it: Airflow starts none of its runs that have not started; the finished ones
stay. A DAG Airflow has not read yet cannot be backfilled: the next deploy starts it.
Progress costs a constant number of requests per backfill (counts from Airflow's
`total_entries`), however many runs it has.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from pipelinectl.deploy import state
from pipelinectl.deploy.backfills import AIRFLOW_PREFIX as PREFIX
from pipelinectl.deploy.backfills import Progress
from pipelinectl.deploy.engine import DeployOutcome
from pipelinectl.deploy.ports import AirflowApi, AirflowBackfill, Cluster
from pipelinectl.render.backfill import Planned
from pipelinectl.textsafe import inline
from pipelinectl.vocabulary import ENV_PARAM_PREFIX

RUN_TYPE = "backfill"
DONE = ("success",)
RUNNING = ("queued", "running")
FAILED = ("failed",)
FAILED_SHOWN = 20  # the failed dates status names; the count is always whole


def job_of(backfill: AirflowBackfill) -> str:
    return f"{PREFIX}{backfill.id}"


def id_of(record: state.Backfill) -> int | None:
    """The Airflow id a state record names; None for a record that is not an Airflow one."""
    text = record.job.removeprefix(PREFIX)
    return int(text) if record.job.startswith(PREFIX) and text.isdigit() else None


def conf_of(planned: Planned) -> dict[str, str]:
    """The runs' conf: each param by its name (PIPELINECTL_PARAM_REGION -> region)."""
    return {name.removeprefix(ENV_PARAM_PREFIX).lower(): value for name, value in planned.env}


def _span(planned: Planned) -> tuple[datetime.datetime, datetime.datetime]:
    return (datetime.datetime.fromisoformat(planned.ticks[0]),
            datetime.datetime.fromisoformat(planned.ticks[-1]))


def start(api: AirflowApi, dag_id: str, planned: Planned, now: str
          ) -> tuple[state.Backfill | None, str]:
    """Start (or adopt) one backfill: its state record (None: not started) and what to say."""
    if api.dag(dag_id) is None:
        return None, (f"backfill {planned.id}: not started: Airflow has not read the DAG "
                      f"{dag_id} yet; the next deploy starts it")
    first, last = _span(planned)
    conf = conf_of(planned)
    for known in api.backfills(dag_id):
        if known.completed_at is None and (known.from_date, known.to_date) == (first, last) \
                and dict(known.dag_run_conf) == conf:
            return state.Backfill(job_of(known), len(planned.ticks), now), (
                f"backfill {planned.id}: already running in Airflow (backfill {known.id}): "
                "recorded, not started again")
    made = api.create_backfill(dag_id, first, last, planned.max_parallel, conf, "completed")
    return state.Backfill(job_of(made), len(planned.ticks), now), (
        f"backfill {planned.id}: started {planned.describe()} in Airflow (backfill {made.id}), "
        f"at most {planned.max_parallel} at once")


def stop(api: AirflowApi, dag_id: str, key: str, record: state.Backfill) -> str:
    """Cancel a removed entry's backfill unless it finished; what to say."""
    number = id_of(record)
    if number is None:
        return f"backfill {key}: removed; {inline(record.job)} is not an Airflow backfill"
    found = api.backfill(number)
    done = progress(api, dag_id, key, record, found).done
    if found.completed_at is not None:
        return f"backfill {key}: removed, it had finished: {done} of {record.ticks} done"
    api.cancel_backfill(number)
    return f"backfill {key}: stopped (Airflow backfill {number} cancelled), {done} of " \
           f"{record.ticks} done"


def progress(api: AirflowApi, dag_id: str, key: str, record: state.Backfill,
             found: AirflowBackfill | None = None) -> Progress:
    """How far a recorded backfill got: 3 or 4 requests, whatever its size."""
    number = id_of(record)
    if number is None:
        return Progress(key, record.job, record.ticks, missing=True)
    backfill = found if found is not None else api.backfill(number)
    span = (backfill.from_date, backfill.to_date)
    done, _ = api.count_runs(dag_id, RUN_TYPE, DONE, *span)
    running, _ = api.count_runs(dag_id, RUN_TYPE, RUNNING, *span)
    _, failed = api.count_runs(dag_id, RUN_TYPE, FAILED, *span, limit=FAILED_SHOWN)
    dates = tuple(run.logical_date.isoformat() for run in failed if run.logical_date)
    finished = backfill.completed_at is not None
    return Progress(key, record.job, record.ticks, done, running, dates,
                    stopped=finished and done + len(dates) < record.ticks, finished=finished)



def apply(api: AirflowApi, cluster: Cluster, dags: Mapping[tuple[str, str], str],
          outcomes: Iterable[DeployOutcome], now: str) -> list[str]:
    """After a deploy: start and cancel what its outcomes name (`dags`: (namespace, pipeline)
    -> DAG id), then record that in each state object; the lines to print."""
    said = []
    for result in outcomes:
        starts, stops = result.airflow_backfills
        if not starts and not stops:
            continue
        dag = dags[(result.namespace, result.pipeline)]
        changes: dict[str, state.Backfill | None] = {}
        for planned in starts:
            record, line = start(api, dag, planned, now)
            said.append(f"{result.pipeline}: {line}")
            if record is not None:
                changes[planned.id] = record
        for key, record in sorted(stops.items()):
            said.append(f"{result.pipeline}: {stop(api, dag, key, record)}")
            changes[key] = None
        if changes:
            state.amend_backfills(cluster, result.namespace, result.pipeline, changes)
    return said

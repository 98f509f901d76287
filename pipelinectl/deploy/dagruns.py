"""The Airflow engine's runs and pause: a DAG, its latest DAG runs and, for a failed
run, its task instances and the end of the failed task's log, as `status` reads them through
Airflow's REST API (deploy/ports.py AirflowApi), turned into `runs.Run` records and one
`health.Observed` per pipeline. `read` makes the requests, a constant number per pipeline
however many runs Airflow keeps: the DAG, its latest 5 runs, and for each failed one of those
its task instances and one log; the rest is pure.

Why a task failed is read from the end of its log, as the operators write it: the
KubernetesPodOperator logs the pod's phase and reason (Evicted) and each container's
terminated reason and exit code (OOMKilled, exit_code=3), and the reason of a container that
cannot start (ImagePullBackOff, ErrImagePull); the DockerOperator raises with the container's
StatusCode; Airflow itself logs AirflowTaskTimeout when a task runs past its timeout. Every
line is hostile text: it is matched, never trusted, and what is quoted of it is bounded.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelinectl.deploy.drift import PauseDrift
from pipelinectl.deploy.health import Observed
from pipelinectl.deploy.ports import AirflowApi, AirflowDag, AirflowRun, AirflowTaskInstance
from pipelinectl.deploy.runs import (
    EXIT_CODE,
    SHOWN,
    Failure,
    Run,
    RunState,
    Schedule,
    iso,
    parse_time,
)
from pipelinectl.spec.model import Pipeline

LOG_LINES = 40  # of a failed task's log read for its reason
MAX_MESSAGE = 200  # characters of a log line quoted as a reason
NO_TIME = datetime.datetime.min.replace(tzinfo=datetime.UTC)
FIELD = "is_paused"  # the DAG's field that a pause by hand changes
WHERE = " in Airflow"

_STATES: dict[str, RunState] = {"success": "succeeded", "failed": "failed",
                                "running": "running", "queued": "pending"}
_EVICTED = re.compile(r"\bEvicted\b")
_OOM = re.compile(r"\bOOMKilled\b")
_PULL = re.compile(r"\b(ImagePullBackOff|ErrImagePull|InvalidImageName|ErrImageNeverPull)\b")
_PULL_DOCKER = re.compile(r"pull access denied|manifest unknown|No such image")
_TIMEOUT = re.compile(r"\bDeadlineExceeded\b|AirflowTaskTimeout|Timeout, PID: \d+")
_LAUNCH = re.compile(r"Pod took too long to (start|be scheduled)|PodLaunchTimeoutException")
_EXIT = re.compile(r"exit[ _]code[ =:]*(\d+)|non-zero exit status (\d+)|"
                   r"exit status (\d+)|'StatusCode': (\d+)|\"StatusCode\": (\d+)")
_ERROR = re.compile(r"Error|Exception|failed", re.IGNORECASE)


@dataclass(frozen=True)
class Read:
    """What status read of one DAG: None when Airflow has not parsed it yet."""

    dag: AirflowDag | None
    runs: list[Run]


def read(api: AirflowApi, dag_id: str) -> Read:
    dag = api.dag(dag_id)
    if dag is None:
        return Read(None, [])
    found = [run_of(run, why_failed(api, dag_id, run.run_id) if run.state == "failed"
                    else None) for run in api.runs(dag_id, limit=SHOWN)]
    return Read(dag, found)


def why_failed(api: AirflowApi, dag_id: str, run_id: str) -> Failure:
    """The failed task of a failed run and its reason: its task instances, and the end of
    the failed task's log (one read)."""
    instance = failed_task(api.task_instances(dag_id, run_id))
    log = api.task_log(dag_id, run_id, instance.task_id, instance.try_number,
                       instance.map_index, LOG_LINES) \
        if instance is not None and instance.state == "failed" and instance.try_number > 0 \
        else []
    return failure_of(instance, log)


def observe(found: Read, dag_id: str, recorded_paused: bool | None,
            schedule: Schedule | None, trigger: str) -> Observed:
    """The Airflow engine's view of one deployed pipeline (`trigger`: how to start a run)."""
    dag = found.dag
    if dag is None:
        return Observed(runs_note=f"not in Airflow yet (DAG {dag_id}: its dag processor has "
                                  "not parsed the deployed file)")
    return Observed(next_run(dag, schedule), dag.is_paused, pause_drift(recorded_paused, dag),
                    found.runs, "", None if dag.is_paused else schedule, None,
                    trigger if dag.is_paused else "")


def schedule_of(pipeline: Pipeline, deployed_at: str) -> Schedule | None:
    """What makes the DAG's runs due: the rendered pipeline's schedule (a CronTrigger
    timetable: a run's logical date is its tick), none before the deploy."""
    schedule = pipeline.schedule
    if schedule is None or schedule.suspend:
        return None
    return Schedule(schedule.cron.strip(), schedule.timezone, 0, parse_time(deployed_at))


def run_of(run: AirflowRun, failure: Failure | None = None) -> Run:
    state = _STATES.get(run.state, "pending")
    created = run.logical_date or run.start_date or NO_TIME
    return Run(run.run_id, state, created,
               "manual" if run.run_type == "manual" else "schedule", run.logical_date,
               run.start_date, run.end_date, failure if state == "failed" else None)


def failed_task(instances: Iterable[AirflowTaskInstance]) -> AirflowTaskInstance | None:
    """The task instance that made the run fail: the first to fail (the others downstream
    are upstream_failed), else one that did not succeed."""
    found = sorted(instances, key=lambda ti: (ti.end_date or NO_TIME, ti.task_id, ti.map_index))
    for states in (("failed",), ("up_for_retry", "upstream_failed", "skipped", "removed")):
        chosen = next((ti for ti in found if ti.state in states), None)
        if chosen is not None:
            return chosen
    return None


def task_name(instance: AirflowTaskInstance) -> str:
    return instance.task_id if instance.map_index < 0 else \
        f"{instance.task_id}[{instance.map_index}]"


def failure_of(instance: AirflowTaskInstance | None, log: Sequence[str]) -> Failure:
    """Why the run of `instance` failed, from the end of its log; without a task instance
    (the run failed before any task, e.g. a refused conf): the log is not read."""
    if instance is None:
        return Failure("failed", None, None, "no task failed: see the run in Airflow")
    found = reason(log)
    task = task_name(instance)
    if found is not None:
        return Failure(found.reason, task, found.exit_code, found.message)
    state = instance.state or "failed"
    return Failure(state, task, None, _last_error(log) if state == "failed" else "")


def reason(log: Sequence[str]) -> Failure | None:
    """The reason a task's log gives, most specific first (task not named): an eviction,
    OOMKilled, an image that cannot be pulled, a timeout, then an exit code."""
    text = "\n".join(log)
    code = _exit_code(log)
    if _EVICTED.search(text):
        return Failure("Evicted", None, None, "the pod was evicted from its node")
    if _OOM.search(text):
        return Failure("OOMKilled", None, code,
                       f"exit code {code}" if code is not None else "out of memory")
    pulled = _PULL.search(text)
    if pulled:
        return Failure(pulled.group(1), None, None, "the image cannot be pulled")
    if _PULL_DOCKER.search(text):
        return Failure("ErrImagePull", None, None, "the image cannot be pulled")
    if _LAUNCH.search(text):
        return Failure("DeadlineExceeded", None, None, "its pod did not start in time")
    if _TIMEOUT.search(text):
        return Failure("DeadlineExceeded", None, None, "ran longer than its timeout")
    if code is not None:
        return Failure(EXIT_CODE, None, code)
    return None


def _exit_code(log: Sequence[str]) -> int | None:
    """The last non-zero exit code the log names."""
    for line in reversed(log):
        for match in reversed(list(_EXIT.finditer(line))):
            digits = next(g for g in match.groups() if g is not None)
            if len(digits) <= 4 and int(digits) != 0:
                return int(digits)
    return None


def _last_error(log: Sequence[str]) -> str:
    line = next((x.strip() for x in reversed(log) if _ERROR.search(x) and x.strip()), "")
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE] + "..."


def pause_drift(recorded: bool | None, dag: AirflowDag | None) -> PauseDrift | None:
    """A pause or resume done in Airflow against the pause the state recorded (a preview's
    or a suspended environment's pause is recorded: never drift)."""
    if recorded is None or dag is None or dag.is_paused == recorded:
        return None
    return PauseDrift(recorded, dag.is_paused, field=FIELD, where=WHERE)


def next_run(dag: AirflowDag, schedule: Schedule | None) -> str:
    if dag.is_paused:
        return "paused (in Airflow)"
    if schedule is None:
        return "by hand only (pipelinectl trigger)"
    if dag.next_run is None:
        return f"not planned by Airflow yet ({schedule.cron} {schedule.timezone})"
    return f"{iso(dag.next_run)} ({schedule.cron} {schedule.timezone})"


def restore_pause(api: AirflowApi, dag_id: str, pipeline: str, wanted: bool,
                  recorded: bool | None) -> str | None:
    """After a deploy: the DAG's pause set to git's (`wanted`) when Airflow's differs, and
    what to say (None: nothing to do, or a DAG Airflow has not parsed yet: a new DAG takes
    its pause from the file). A difference from the pause recorded before is a hand change;
    else git changed the pause, which Airflow does not read from a DAG it already knows."""
    dag = api.dag(dag_id)
    if dag is None or dag.is_paused == wanted:
        return None
    api.set_paused(dag_id, wanted)
    if recorded is not None and recorded == wanted:
        return (f"{pipeline}: paused: the DAG was resumed by hand in Airflow; git says paused"
                if wanted else
                f"{pipeline}: resumed: the DAG was paused by hand in Airflow; git says running")
    return f"{pipeline}: {'paused' if wanted else 'resumed'} the DAG in Airflow, as git says"

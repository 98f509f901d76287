"""Run health (pure): a pipeline's recent runs, whichever engine ran them, as `status` shows
them, and the verdict of `status --check`.

An engine's reader turns what it keeps (CronJob engine: Jobs and Pods, deploy/jobruns.py;
Airflow: DAG runs and task instances) into `Run` records; everything after that is here:
the order, the lines, the JSON fields, and whether the latest finished run failed or a
scheduled run is overdue (docs/reference/commands.md#pipelinectl-status).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

RunState = Literal["succeeded", "failed", "running", "pending"]
Trigger = Literal["schedule", "manual", "backfill"]
SHOWN = 5  # runs per pipeline that status shows
EXIT_CODE = "Error"  # the reason of a task that exited non-zero (Kubernetes' word for it)


@dataclass(frozen=True)
class Failure:
    """Why a run failed, or why it is stuck (an image that cannot be pulled)."""

    reason: str  # OOMKilled, ImagePullBackOff, ErrImagePull, Evicted, DeadlineExceeded, ...
    task: str | None = None  # the task that failed, when the engine can tell
    exit_code: int | None = None
    message: str = ""  # the words after the reason: "memory limit 1Gi", "failed 3 times"

    def describe(self) -> str:
        what = f"exit code {self.exit_code}" if self.reason == EXIT_CODE else self.reason
        text = f"{what} ({self.message})" if self.message else what
        return f"task {self.task}: {text}" if self.task else text


@dataclass(frozen=True)
class Run:
    name: str  # the engine's id of the run: a Job's name, a DAG run's id
    state: RunState
    created: datetime.datetime  # the order of runs
    trigger: Trigger = "schedule"
    logical_date: datetime.datetime | None = None  # the tick it stands for (None: by hand)
    started: datetime.datetime | None = None
    finished: datetime.datetime | None = None
    failure: Failure | None = None

    def seconds(self, now: datetime.datetime) -> int | None:
        """How long it ran (is running); None before it starts."""
        if self.started is None:
            return None
        end = self.finished or now
        return max(0, int((end - self.started).total_seconds()))


def newest(runs: Iterable[Run], count: int = SHOWN) -> list[Run]:
    return sorted(runs, key=lambda r: (r.created, r.name), reverse=True)[:count]


def line(run: Run, now: datetime.datetime) -> str:
    """`run NAME: failed after 45s (logical date D, started S): task fetch: exit code 3`"""
    took = run.seconds(now)
    head = {"succeeded": f"succeeded in {span(took or 0)}",
            "failed": f"failed after {span(took)}" if took is not None else "failed",
            "running": f"running for {span(took or 0)}", "pending": "pending"}[run.state]
    when = [f"logical date {iso(run.logical_date)}" if run.logical_date else
            "by hand" if run.trigger == "manual" else "no logical date"]
    if run.started is not None:
        when.append(f"started {iso(run.started)}")
    tail = f": {run.failure.describe()}" if run.failure else ""
    return f"run {run.name}: {head} ({', '.join(when)}){tail}"


def as_json(run: Run, now: datetime.datetime) -> dict[str, Any]:
    failure = run.failure
    return {
        "name": run.name, "state": run.state, "trigger": run.trigger,
        "logical_date": iso(run.logical_date) if run.logical_date else None,
        "started_at": iso(run.started) if run.started else None,
        "finished_at": iso(run.finished) if run.finished else None,
        "duration_seconds": run.seconds(now),
        "failure": None if failure is None else {
            "task": failure.task, "reason": failure.reason, "exit_code": failure.exit_code,
            "message": failure.message},
    }


@dataclass(frozen=True)
class Schedule:
    """What makes runs due: a live schedule that is not paused."""

    cron: str
    timezone: str
    starting_deadline: int = 0  # seconds a tick may start late (startingDeadlineSeconds)
    since: datetime.datetime | None = None  # no tick before this was due (the creation)


def problems(runs: list[Run], schedule: Schedule | None,
             last_scheduled: datetime.datetime | None, now: datetime.datetime) -> list[str]:
    """Why `status --check` fails for one pipeline: its latest finished run failed, or a
    scheduled run is overdue. `last_scheduled` is the newest tick the engine says it started
    (a CronJob's status.lastScheduleTime), besides the runs still kept."""
    ordered = newest(runs, count=len(runs))
    found = []
    finished = next((r for r in ordered if r.state in ("succeeded", "failed")), None)
    if finished is not None and finished.state == "failed":
        why = f": {finished.failure.describe()}" if finished.failure else ""
        found.append(f"the latest finished run {finished.name} failed{why}")
    if schedule is not None:
        ticks = [r.logical_date for r in ordered if r.logical_date and r.trigger == "schedule"]
        late = overdue(schedule, max(ticks + ([last_scheduled] if last_scheduled else []),
                                     default=None), now)
        if late:
            found.append(late)
    return found


def overdue(schedule: Schedule, newest_tick: datetime.datetime | None,
            now: datetime.datetime) -> str | None:
    """Overdue: the first tick after the newest scheduled run (or after the schedule's
    creation) is more than one interval plus the starting deadline in the past, and no run
    was made for it."""
    base = max((t for t in (newest_tick, schedule.since) if t is not None), default=None)
    if base is None:
        return None
    try:
        zone = ZoneInfo(schedule.timezone)
        ticks = croniter(schedule.cron, base.astimezone(zone))
        due = ticks.get_next(datetime.datetime)
        after = ticks.get_next(datetime.datetime)
    except (ValueError, KeyError, ZoneInfoNotFoundError, CroniterError):
        return f"the live schedule {schedule.cron!r} ({schedule.timezone}) cannot be read"
    interval = int((after - due).total_seconds())
    allowed = datetime.timedelta(seconds=interval + schedule.starting_deadline)
    if now - due <= allowed:
        return None
    last = f"the last scheduled run was for {iso(newest_tick)}" if newest_tick else \
        "no scheduled run yet"
    deadline = f" plus the starting deadline ({span(schedule.starting_deadline)})" \
        if schedule.starting_deadline else ""
    return (f"overdue: no run for the tick of {iso(due)} ({last}), more than one interval "
            f"({span(interval)}){deadline} late")


def iso(moment: datetime.datetime | None) -> str:
    if moment is None:
        return "?"
    if moment.utcoffset() == datetime.timedelta(0):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat()


def span(seconds: int | None) -> str:
    """5s, 2m 5s, 1h, 1d 2h: the parts that are not zero."""
    if seconds is None:
        return "?"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"


def parse_time(text: object) -> datetime.datetime | None:
    """An RFC 3339 time from an object a cluster or an API returned (None if it is not one:
    every value read back is hostile)."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        found = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=datetime.UTC)

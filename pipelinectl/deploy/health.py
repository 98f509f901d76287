"""What `status` reports per pipeline (pure): what is deployed, the next run, pause drift,
the recent runs and the verdict of `--check`, as text lines and as the JSON document
(docs/reference/commands.md#pipelinectl-status).

An engine contributes one `Observed` per pipeline: the CronJob engine from its live CronJob
and the runs deploy/jobruns.py read from Jobs and Pods (`observe_cronjob`); the Airflow
engine, from its DAG and DAG runs, the same way.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from pipelinectl.deploy import drift, runs
from pipelinectl.deploy.backfills import Progress
from pipelinectl.deploy.drift import PauseDrift
from pipelinectl.deploy.runs import Run, Schedule
from pipelinectl.deploy.state import State
from pipelinectl.render.cronjob import UNSCHEDULED_CRON

FORMAT = 1  # of the JSON document; a field removed or changing meaning is a new format


@dataclass(frozen=True)
class Observed:
    """What an engine says about one deployed pipeline."""

    next_run: str | None = None
    paused: bool | None = None  # the live pause
    drift: PauseDrift | None = None
    runs: list[Run] | None = None  # None: not read here (`runs_note` says why)
    runs_note: str = ""
    due: Schedule | None = None  # a live schedule that is not paused: runs are due
    last_scheduled: datetime.datetime | None = None  # the newest tick the engine started
    start_hint: str = ""  # how to start a run of a paused pipeline
    backfills: tuple[Progress, ...] = ()  # the recorded backfills' progress


@dataclass(frozen=True)
class Report:
    pipeline: str
    team: str
    namespace: str
    engine: str
    record: State | None
    observed: Observed
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def report(pipeline: str, team: str, namespace: str, engine: str, record: State | None,
           observed: Observed, now: datetime.datetime) -> Report:
    problems = runs.problems(observed.runs or [], observed.due, observed.last_scheduled, now) \
        if record is not None else []
    return Report(pipeline, team, namespace, engine, record, observed, tuple(problems))


def start_command(pipeline: str, preview: int | None = None,
                  environment: str | None = None) -> str:
    """How to start one run by hand: `pipelinectl trigger`, with --mr for a preview and
    --environment where the deploy is not in the environment trigger picks by default."""
    words = ["pipelinectl", "trigger", pipeline]
    if preview is not None:
        words += ["--mr", str(preview)]
    if environment is not None:
        words += ["--environment", environment]
    return " ".join(words)


def observe_cronjob(cron: Mapping[str, Any] | None, found: list[Run] | None, record: State,
                    now: datetime.datetime, runs_note: str = "", start: str = "") -> Observed:
    """The CronJob engine's view: `found` is None where no Jobs are kept (a folder); `start`:
    how to start a run (start_command), said when the CronJob is suspended."""
    if cron is None:
        return Observed(runs=found, runs_note=runs_note or "its CronJob is missing")
    spec = _dict(cron.get("spec"))
    paused = drift.live_paused(cron)
    due = None if paused or found is None else _schedule(cron)
    status = _dict(cron.get("status"))
    hint = start if spec.get("suspend") else ""
    return Observed(next_run(cron, now), paused, drift.of_pause(record.current.paused, cron),
                    None if found is None else runs.newest(found, len(found)), runs_note, due,
                    runs.parse_time(status.get("lastScheduleTime")), hint)


def _schedule(cron: Mapping[str, Any]) -> Schedule | None:
    spec = _dict(cron.get("spec"))
    if spec.get("schedule") == UNSCHEDULED_CRON:
        return None
    deadline = spec.get("startingDeadlineSeconds")
    return Schedule(str(spec.get("schedule", "")), str(spec.get("timeZone") or "UTC"),
                    deadline if isinstance(deadline, int) else 0,
                    runs.parse_time(_dict(cron.get("metadata")).get("creationTimestamp")))


def next_run(cron: Mapping[str, Any], now: datetime.datetime) -> str:
    spec = _dict(cron.get("spec"))
    schedule = str(spec.get("schedule", ""))
    if spec.get("suspend"):
        return ("by hand only (pipelinectl trigger)"
                if schedule == UNSCHEDULED_CRON else "paused (suspend: true)")
    try:  # the live object, which someone may have edited by hand
        zone = ZoneInfo(str(spec.get("timeZone") or "UTC"))
        upcoming = croniter(schedule, now.astimezone(zone)).get_next(datetime.datetime)
    except (ValueError, KeyError, ZoneInfoNotFoundError, CroniterError):
        return f"unknown: the live CronJob's schedule {schedule!r} cannot be read"
    return f"{upcoming.isoformat()} ({schedule} {zone.key})"


def lines(found: Report, now: datetime.datetime, check: bool) -> list[str]:
    """The lines under a deployed pipeline's heading (values still to be made inert)."""
    seen = runs.iso(now)
    observed = found.observed
    out = [f"next run: {observed.next_run}"] if observed.next_run else []
    if observed.drift is not None:
        out.append(f"drift: {observed.drift.describe(seen)}")
    if observed.start_hint:
        out.append(f"start a run: {observed.start_hint}")
    if observed.runs is None:
        out.append(f"runs: {observed.runs_note}")
    else:
        shown = runs.newest(observed.runs)
        out += [runs.line(r, now) for r in shown] or ["no runs yet"]
    out += [b.line() for b in observed.backfills]
    if check:
        out += [f"check: {p}" for p in found.problems] or ["check: ok"]
    return out


def as_json(found: Report, now: datetime.datetime) -> dict[str, Any]:
    record, observed, seen = found.record, found.observed, runs.iso(now)
    current = record.current if record is not None else None
    return {
        "pipeline": found.pipeline, "team": found.team, "namespace": found.namespace,
        "engine": found.engine,
        "deployed": None if current is None else {
            "revision": current.revision, "environment": current.environment,
            "deployed_at": current.deployed_at, "forced": current.forced,
            "image": current.image, "preview": record.preview if record else None,
            "inventory": [item.describe() for item in current.inventory]},
        "next_run": observed.next_run,
        "paused": {"git": current.paused if current else None, "live": observed.paused},
        "drift": [] if observed.drift is None else [observed.drift.as_json(seen)],
        "runs": None if observed.runs is None else
        [runs.as_json(r, now) for r in runs.newest(observed.runs)],
        "runs_note": observed.runs_note or None,
        "backfills": [b.as_json() for b in observed.backfills],
        "check": {"ok": found.ok, "problems": list(found.problems)},
    }


def document(reports: list[Report], now: datetime.datetime) -> dict[str, Any]:
    failing = [r.pipeline for r in reports if not r.ok]
    return {"format": FORMAT, "checked_at": runs.iso(now),
            "check": {"ok": not failing, "failing": failing},
            "pipelines": [as_json(r, now) for r in reports]}


def summary(reports: list[Report]) -> str:
    failing = [r.pipeline for r in reports if not r.ok]
    if not failing:
        return f"check: ok ({len(reports)} pipeline{'s' if len(reports) != 1 else ''})"
    return f"check: {len(failing)} of {len(reports)} failing: {', '.join(failing)}"


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}

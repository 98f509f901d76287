"""`pipelinectl status`: what is deployed, when it runs next, how its last runs went."""

from __future__ import annotations

import datetime
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from pipelinectl import wiring
from pipelinectl.deploy.ports import Cluster
from pipelinectl.errors import EXIT_OK
from pipelinectl.render.cronjob import UNSCHEDULED_CRON
from pipelinectl.textsafe import inline
from pipelinectl.vocabulary import PIPELINE_LABEL

LAST_RUNS = 3


Args = wiring.ReadArgs


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    cluster, found = wiring.deployed(args, environ, cwd)
    now = datetime.datetime.now(datetime.UTC)
    for pipeline, namespace, record in found:
        name = pipeline.metadata.name
        if record is None:
            sys.stdout.write(f"{name}: not deployed (namespace {namespace})\n")
            continue
        current = record.current  # what a state object says is hand-editable: printed inert
        sys.stdout.write(
            f"{name}: {inline(current.revision[:12])} in {inline(current.environment)}, "
            f"deployed {inline(current.deployed_at)}{' (forced)' if current.forced else ''}\n"
            f"  image: {inline(current.image)}\n")
        for item in current.inventory:
            sys.stdout.write(f"  {inline(item.describe())}\n")
        cron = cluster.get("CronJob", namespace, name) \
            if any(i.kind == "CronJob" for i in current.inventory) else None
        if cron is not None:
            sys.stdout.write(f"  next run: {next_run(cron, now)}\n")
            if (cron.get("spec") or {}).get("suspend"):
                sys.stdout.write(f"  start a run: kubectl -n {namespace} create job "
                                 f"--from=cronjob/{name} {name}-by-hand\n")
        for line in last_runs(cluster, namespace, name):
            sys.stdout.write(f"  {inline(line)}\n")
    return EXIT_OK


def next_run(cron: Mapping[str, Any], now: datetime.datetime) -> str:
    found = cron.get("spec")
    spec: Mapping[str, Any] = found if isinstance(found, dict) else {}
    schedule = str(spec.get("schedule", ""))
    if spec.get("suspend"):
        return ("by hand only (kubectl create job --from=cronjob/NAME)"
                if schedule == UNSCHEDULED_CRON else "paused (suspend: true)")
    try:  # the live object, which someone may have edited by hand
        zone = ZoneInfo(str(spec.get("timeZone") or "UTC"))
        upcoming = croniter(schedule, now.astimezone(zone)).get_next(datetime.datetime)
    except (ValueError, KeyError, ZoneInfoNotFoundError, CroniterError):
        return f"unknown: the live CronJob's schedule {schedule!r} cannot be read"
    return f"{upcoming.isoformat()} ({schedule} {zone.key})"


def last_runs(cluster: Cluster, namespace: str, pipeline: str) -> list[str]:
    jobs = cluster.list("Job", namespace, f"{PIPELINE_LABEL}={pipeline}")
    jobs.sort(key=lambda j: j.get("status", {}).get("startTime") or "", reverse=True)
    lines = []
    for job in jobs[:LAST_RUNS]:
        status = job.get("status", {})
        outcome = ("succeeded" if status.get("succeeded") else
                   "failed" if status.get("failed") else "running")
        lines.append(f"run {job['metadata']['name']}: {outcome}, started "
                     f"{status.get('startTime', '?')}"
                     + (f", finished {status['completionTime']}"
                        if status.get("completionTime") else ""))
    return lines or ["no runs yet"]

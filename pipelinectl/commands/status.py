"""`pipelinectl status`: what is deployed, when it runs next, how its last runs went."""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from pipelinectl import wiring as common
from pipelinectl.adapters.kube import Kube
from pipelinectl.adapters.kubedir import DirectoryKube
from pipelinectl.commands.deploy import cluster
from pipelinectl.deploy import state
from pipelinectl.errors import EXIT_OK
from pipelinectl.render.cronjob import UNSCHEDULED_CRON
from pipelinectl.render.ownership import PIPELINE_LABEL
from pipelinectl.spec.model import Pipeline

LAST_RUNS = 3


def deployed(args: argparse.Namespace, environ: Mapping[str, str],
             cwd: Path) -> tuple[Kube | DirectoryKube,
                                 list[tuple[Pipeline, str, state.State | None]]]:
    """The repository's pipelines with their namespace and recorded state (None: never)."""
    loaded = common.load(args.paths, args.platform, args.repo_id, environ, cwd)
    config = loaded.config
    kube = cluster(config, loaded.root, environ)
    found = []
    for pipeline in loaded.pipelines:
        namespace = config.teams[pipeline.metadata.team].namespace
        obj = kube.get("ConfigMap", namespace, state.object_name(pipeline.metadata.name))
        found.append((pipeline, namespace, state.from_configmap(obj) if obj else None))
    return kube, found


def run(args: argparse.Namespace, environ: Mapping[str, str], cwd: Path) -> int:
    kube, found = deployed(args, environ, cwd)
    now = datetime.datetime.now(datetime.UTC)
    for pipeline, namespace, record in found:
        name = pipeline.metadata.name
        if record is None:
            sys.stdout.write(f"{name}: not deployed (namespace {namespace})\n")
            continue
        current = record.current
        sys.stdout.write(
            f"{name}: {current.revision[:12]} in {current.environment}, deployed "
            f"{current.deployed_at}{' (forced)' if current.forced else ''}\n"
            f"  image: {current.image}\n")
        for item in current.inventory:
            sys.stdout.write(f"  {item.describe()}\n")
        cron = kube.get("CronJob", namespace, name) \
            if any(i.kind == "CronJob" for i in current.inventory) else None
        if cron is not None:
            sys.stdout.write(f"  next run: {next_run(cron, now)}\n")
        for line in last_runs(kube, namespace, name):
            sys.stdout.write(f"  {line}\n")
    return EXIT_OK


def next_run(cron: Mapping[str, Any], now: datetime.datetime) -> str:
    spec = cron["spec"]
    if spec.get("suspend"):
        return ("by hand only (kubectl create job --from=cronjob/NAME)"
                if spec["schedule"] == UNSCHEDULED_CRON else "paused (suspend: true)")
    zone = ZoneInfo(spec.get("timeZone") or "UTC")
    upcoming = croniter(spec["schedule"], now.astimezone(zone)).get_next(datetime.datetime)
    return f"{upcoming.isoformat()} ({spec['schedule']} {zone.key})"


def last_runs(kube: Kube | DirectoryKube, namespace: str, pipeline: str) -> list[str]:
    jobs = kube.list("Job", namespace, f"{PIPELINE_LABEL}={pipeline}")
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

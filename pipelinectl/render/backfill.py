"""A pipeline's backfills as what a deploy starts (pure, deterministic).

`planned` gives each entry's ticks (spec/ticks.py) and the params' values for its runs: the
engine-neutral part, which the CronJob engine turns into one Indexed Job per backfill (`job`)
and the Airflow engine into one backfill of its REST API. The Job is made from the CronJob's
jobTemplate as `kubectl create job --from=cronjob` makes one, with these differences:
- completionMode Indexed, completions = the ticks, parallelism = max_parallel;
- backoffLimitPerIndex = the template's backoffLimit (the tasks' retries), so that a failed
  date fails alone and `status.failedIndexes` names it; no backoffLimit (Kubernetes then allows
  any number of failures in all) and the template's activeDeadlineSeconds moves to each pod;
- no ownerReference: the CronJob's history limits would delete a finished backfill's Job;
- every container gets PIPELINECTL_BACKFILL_DATES (the ticks, comma-separated, in index
  order); Kubernetes sets JOB_COMPLETION_INDEX: a run's logical date is dates[index]
  (Kubernetes cannot give each index its own env value without a shell in the image).
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.ticks import backfill_ticks, iso
from pipelinectl.vocabulary import (
    BACKFILL_DATES_ANNOTATION,
    BACKFILL_JOB_INFIX,
    BACKFILL_LABEL,
    ENV_BACKFILL_DATES,
    TRIGGER_BACKFILL,
    TRIGGER_LABEL,
)

MAX_NAME = 63  # a Job's name is also its pods' job-name label value
_HASH = 8


@dataclass(frozen=True)
class Planned:
    """One backfill as a deploy starts it."""

    id: str
    ticks: tuple[str, ...]  # ISO 8601 UTC, in order
    max_parallel: int
    env: tuple[tuple[str, str], ...]  # every param's PIPELINECTL_PARAM_* value for its runs

    def describe(self) -> str:
        return f"{len(self.ticks)} run{'s' if len(self.ticks) != 1 else ''}"


def planned(pipeline: Pipeline) -> tuple[Planned, ...]:
    """The pipeline's backfills with their ticks (none without a schedule: validate refuses
    that; none for a preview, which never starts one)."""
    schedule = pipeline.schedule
    if schedule is None or pipeline.preview is not None:
        return ()
    found = []
    for backfill in pipeline.backfills:
        ticks = backfill_ticks(schedule.cron, schedule.timezone,
                               datetime.date.fromisoformat(backfill.start),
                               datetime.date.fromisoformat(backfill.end))
        given = dict(backfill.params)
        env = tuple((p.env_name, given.get(p.name, p.default)) for p in pipeline.params)
        found.append(Planned(backfill.id, tuple(iso(t) for t in ticks), backfill.max_parallel,
                             env))
    return tuple(found)


def annotation(backfills: tuple[Planned, ...]) -> str:
    """The CronJob's record of the backfills a deploy starts: {id: [runs, first, last,
    max_parallel]} (render/changes.py reads it for `plan`)."""
    return json.dumps({b.id: [len(b.ticks), b.ticks[0], b.ticks[-1], b.max_parallel]
                       for b in backfills}, separators=(",", ":"), sort_keys=True)


def job_name(pipeline: str, backfill_id: str) -> str:
    """<pipeline>-bf-<id>; longer than 63 characters, cut and ended with a hash of the whole
    (so that two long ids never share a name)."""
    name = f"{pipeline}{BACKFILL_JOB_INFIX}{backfill_id}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH]
    return f"{name[:MAX_NAME - _HASH - 1].rstrip('-')}-{digest}"


def job(cron: Mapping[str, Any], backfill: Planned) -> dict[str, Any]:
    """The Indexed Job of `backfill`, from the CronJob `cron` (as rendered or live)."""
    meta = cron["metadata"]
    template = copy.deepcopy(cron["spec"]["jobTemplate"])
    marks = {TRIGGER_LABEL: TRIGGER_BACKFILL, BACKFILL_LABEL: backfill.id}
    labels = {**(template.get("metadata", {}).get("labels") or {}), **marks}
    dates = ",".join(backfill.ticks)
    notes = {**(template.get("metadata", {}).get("annotations") or {}),
             BACKFILL_DATES_ANNOTATION: dates}
    spec = template["spec"]
    retries = int(spec.pop("backoffLimit", 0) or 0)
    deadline = spec.pop("activeDeadlineSeconds", None)
    pod = spec["template"].setdefault("spec", {})
    if deadline is not None:
        pod["activeDeadlineSeconds"] = deadline  # one run's deadline, not the backfill's
    env = {ENV_BACKFILL_DATES: dates, **dict(backfill.env)}
    for key in ("initContainers", "containers"):
        for container in pod.get(key) or []:
            kept = [v for v in container.get("env") or [] if v.get("name") not in env]
            container["env"] = kept + [{"name": k, "value": v} for k, v in env.items()]
    pod_meta = spec["template"].setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **marks}
    spec.update({"completionMode": "Indexed", "completions": len(backfill.ticks),
                 "parallelism": backfill.max_parallel, "backoffLimitPerIndex": retries})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(meta["name"], backfill.id),
                     "namespace": meta["namespace"], "labels": labels, "annotations": notes},
        "spec": spec,
    }

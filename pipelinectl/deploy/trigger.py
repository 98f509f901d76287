"""A run started by hand (`pipelinectl trigger`) on the cronjob engine: a Job made from the live
CronJob's jobTemplate, as `kubectl create job --from=cronjob/NAME` makes it, with the run's
own values as env (docs/how-to/trigger.md).

The Job is owned by the CronJob (ownerReference, controller: true, so the CronJob's history
limits clean it up), carries the ownership labels and `pipelinectl.io/trigger: manual`, the
annotation `cronjob.kubernetes.io/instantiate: manual` that kubectl sets, and
`pipelinectl.io/triggered-by` naming who started it.
"""

from __future__ import annotations

import copy
import datetime
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipelinectl.deploy.ports import Cluster
from pipelinectl.errors import UserError
from pipelinectl.spec.model import Pipeline
from pipelinectl.vocabulary import (
    INSTANTIATE_ANNOTATION,
    MANAGED_BY,
    MANAGER,
    PIPELINE_LABEL,
    PREVIEW_LABEL,
    TEAM_LABEL,
    TRIGGER_LABEL,
    TRIGGER_MANUAL,
    TRIGGERED_BY_ANNOTATION,
)

MAX_NAME = 63  # a Job's name is also its pods' job-name label value
MAX_WHO = 253
ATTEMPTS = 3  # names taken (409) before giving up: each try draws a new random suffix
POLL_SECONDS = 2.0  # --wait: how often the Job is read


@dataclass(frozen=True)
class Started:
    name: str
    namespace: str
    job: dict[str, Any]


def job_name(cronjob: str, now: datetime.datetime, token: str) -> str:
    """<cronjob>-m<UTC time>-<token>, the CronJob's name cut so that the whole is at most 63."""
    suffix = f"-m{now.strftime('%Y%m%d%H%M%S')}-{token}"
    return cronjob[: MAX_NAME - len(suffix)].rstrip("-") + suffix


def owned_by(live: Mapping[str, Any], pipeline: Pipeline) -> bool:
    """The live object is this pipeline's: its ownership labels, and a preview's is that
    merge request's (a deploy's has no preview label)."""
    labels = (live.get("metadata") or {}).get("labels") or {}
    preview = None if pipeline.preview is None else str(pipeline.preview)
    return (labels.get(MANAGED_BY) == MANAGER
            and labels.get(PIPELINE_LABEL) == pipeline.metadata.name
            and labels.get(TEAM_LABEL) == pipeline.metadata.team
            and labels.get(PREVIEW_LABEL) == preview)


def make_job(cron: Mapping[str, Any], name: str, env: Mapping[str, str],
             who: str) -> dict[str, Any]:
    """The Job of one manual run of the live CronJob `cron`, `env` set on every container
    (replacing a variable of the same name)."""
    meta = cron["metadata"]
    template = copy.deepcopy(cron["spec"]["jobTemplate"])
    labels = {**(template.get("metadata", {}).get("labels") or {}), TRIGGER_LABEL: TRIGGER_MANUAL}
    notes = {**(template.get("metadata", {}).get("annotations") or {}),
             INSTANTIATE_ANNOTATION: "manual", TRIGGERED_BY_ANNOTATION: who}
    spec = template["spec"]
    pod = spec["template"].setdefault("spec", {})
    for key in ("initContainers", "containers"):
        for container in pod.get(key) or []:
            container["env"] = _with_env(container.get("env") or [], env)
    pod_meta = spec["template"].setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), TRIGGER_LABEL: TRIGGER_MANUAL}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name, "namespace": meta["namespace"], "labels": labels,
            "annotations": notes,
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                 "name": meta["name"], "uid": meta["uid"],
                                 "controller": True}],
        },
        "spec": spec,
    }


def _with_env(current: list[dict[str, Any]], env: Mapping[str, str]) -> list[dict[str, Any]]:
    kept = [item for item in current if item.get("name") not in env]
    return kept + [{"name": key, "value": value} for key, value in env.items()]


def start(cluster: Cluster, pipeline: Pipeline, namespace: str, env: Mapping[str, str],
          who: str, now: datetime.datetime) -> Started:
    """Create the Job of one manual run; UserError (nothing created) if the CronJob is not
    there or not this pipeline's."""
    name = pipeline.metadata.name
    cron = cluster.get("CronJob", namespace, name)
    if cron is None:
        raise UserError(f"{name}: no CronJob {name} in namespace {namespace}",
                        hint="deploy the pipeline first (pipelinectl status shows what is "
                             "deployed)")
    if not owned_by(cron, pipeline):
        raise UserError(f"{name}: the CronJob {name} in namespace {namespace} is not this "
                        "pipeline's (no pipelinectl ownership labels for it): nothing started",
                        hint="only a CronJob pipelinectl deployed for this pipeline is triggered")
    for _ in range(ATTEMPTS):
        job = make_job(cron, job_name(name, now, secrets.token_hex(2)), env, who)
        created = cluster.create(job)
        if created is not None:
            return Started(job["metadata"]["name"], namespace, created)
    raise UserError(f"{name}: {ATTEMPTS} Job names in a row were taken in {namespace}",
                    hint="trigger again")


Outcome = str  # "succeeded" | "failed" | "timed out"


def wait(cluster: Cluster, started: Started, timeout: float,
         sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Follow the Job until its Complete or Failed condition (or `timeout` seconds)."""
    deadline = clock() + timeout
    while True:
        job = cluster.get("Job", started.namespace, started.name)
        if job is None:
            raise UserError(f"the Job {started.name} in {started.namespace} is gone before it "
                            "finished", hint="someone deleted it: look at the cluster's events")
        outcome = finished(job)
        if outcome is not None:
            return outcome
        if clock() >= deadline:
            return "timed out"
        sleep(POLL_SECONDS)


def finished(job: Mapping[str, Any]) -> Outcome | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete",
                                                                            "Failed"):
            return "succeeded" if condition["type"] == "Complete" else "failed"
    return None


def failure_reason(job: Mapping[str, Any]) -> str:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return str(condition.get("reason") or condition.get("message") or "")
    return ""

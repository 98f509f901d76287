"""One batch/v1 CronJob per pipeline of the cronjob engine (pure: a dict, deterministic).

One task runs as the pod's container. A chain of tasks (docs/reference/pipeline-yaml.md)
runs in one pod: every task but the last as an init container, in dependency order, the last
as the main container; they share an emptyDir at /workspace. A pipeline without a schedule
becomes a suspended CronJob, started by hand with `kubectl create job --from=cronjob/NAME`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipelinectl.render import backfill, ownership
from pipelinectl.spec import platform
from pipelinectl.spec.model import Pipeline, Task
from pipelinectl.units import parse_duration
from pipelinectl.vocabulary import (
    BACKFILLS_ANNOTATION,
    ENV_PIPELINE,
    ENV_REVISION,
    ENV_RUN_ID,
    ENV_TASK,
    ENV_TEAM,
    WORKSPACE,
)

RUN_AS = platform.RUN_AS  # the non-root user of the base images (base-images/*/Dockerfile)
SUCCESSFUL_JOBS_KEPT = 3
FAILED_JOBS_KEPT = 3
TTL_AFTER_FINISHED = 86400  # finished Jobs and their logs stay a day, then are cleaned up
# Kubernetes requires a schedule even on a suspended CronJob; this one is never reached
# while suspended, and is only used for pipelines that have no schedule.
UNSCHEDULED_CRON = "0 0 1 1 *"
_DIGEST_REFERENCE = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
_CONCURRENCY = {"forbid": "Forbid", "allow": "Allow", "replace": "Replace"}


@dataclass(frozen=True)
class Target:
    """Where and what a pipeline runs: decided by the platform and the build, not the spec."""

    namespace: str
    service_account: str
    image: str  # <registry>/<team>/<pipeline>@sha256:<digest>
    revision: str  # the last commit that changed the pipeline's files (NO_REVISION: none)
    # The fixed user and group of the pods; None on OpenShift, whose restricted SCC assigns
    # each namespace's own range (kubernetes.flavor: openshift).
    run_as: int | None = RUN_AS

    def __post_init__(self) -> None:
        if not _DIGEST_REFERENCE.match(self.image):
            raise ValueError(f"image must be referenced by @sha256: digest, not {self.image!r}")


def render(pipeline: Pipeline, target: Target) -> dict[str, Any]:
    """The CronJob of a cronjob-engine pipeline."""
    if pipeline.resolved_engine != "cronjob":
        raise ValueError(f"{pipeline.metadata.name} uses the {pipeline.resolved_engine} engine")
    owned = ownership.labels_of(pipeline)
    notes = ownership.annotations_of(pipeline, target.revision)
    started = backfill.planned(pipeline)
    # On the CronJob only (its scheduled Jobs copy the jobTemplate's annotations, not these).
    cron_notes = {**notes, BACKFILLS_ANNOTATION: backfill.annotation(started)} if started \
        else notes
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": pipeline.metadata.name, "namespace": target.namespace,
                     "labels": owned, "annotations": cron_notes},
        "spec": {
            **_schedule(pipeline),
            "successfulJobsHistoryLimit": SUCCESSFUL_JOBS_KEPT,
            "failedJobsHistoryLimit": FAILED_JOBS_KEPT,
            "jobTemplate": {
                "metadata": {"labels": owned, "annotations": notes},
                "spec": _job(pipeline, target, owned),
            },
        },
    }


def _schedule(pipeline: Pipeline) -> dict[str, Any]:
    schedule = pipeline.schedule
    if schedule is None:
        return {"schedule": UNSCHEDULED_CRON, "timeZone": "UTC", "concurrencyPolicy": "Forbid",
                "suspend": True}
    fields: dict[str, Any] = {
        "schedule": schedule.cron.strip(),
        "timeZone": schedule.timezone,
        "concurrencyPolicy": _CONCURRENCY[schedule.concurrency],
        "suspend": schedule.suspend,
    }
    if schedule.starting_deadline is not None:
        fields["startingDeadlineSeconds"] = parse_duration(schedule.starting_deadline)
    return fields


def pod_security(run_as: int | None) -> dict[str, Any]:
    """The pods' security context: non-root, seccomp RuntimeDefault, and a fixed user and
    group unless the platform assigns them (OpenShift)."""
    fixed = {} if run_as is None else {"runAsUser": run_as, "runAsGroup": run_as,
                                       "fsGroup": run_as}
    return {"runAsNonRoot": True, **fixed, "seccompProfile": {"type": "RuntimeDefault"}}


def _job(pipeline: Pipeline, target: Target, owned: dict[str, str]) -> dict[str, Any]:
    tasks = pipeline.ordered_tasks()
    *first, last = tasks
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": target.service_account,
        "automountServiceAccountToken": False,  # task pods need no Kubernetes API
        "securityContext": pod_security(target.run_as),
    }
    if first:
        pod["initContainers"] = [_container(pipeline, task, target) for task in first]
    pod["containers"] = [_container(pipeline, last, target)]
    pod["volumes"] = [{"name": "workspace", "emptyDir": {}}]
    return {
        # The pod is retried as a whole; a chain retries as often as its most patient task.
        "backoffLimit": max(task.retries for task in tasks),
        "activeDeadlineSeconds": sum(parse_duration(task.timeout) for task in tasks),
        "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
        "template": {"metadata": {"labels": owned}, "spec": pod},
    }


def _container(pipeline: Pipeline, task: Task, target: Target) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": task.name,
        "image": target.image,
        "command": list(task.command),
        "env": _env(pipeline, task, target.revision),
    }
    if task.secrets:
        container["envFrom"] = [{"secretRef": {"name": name}} for name in task.secrets]
    container["resources"] = {
        "requests": {"cpu": task.resources.cpu, "memory": task.resources.memory},
        "limits": {"memory": task.resources.memory},
    }
    container["securityContext"] = {"allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}}
    container["volumeMounts"] = [{"name": "workspace", "mountPath": WORKSPACE}]
    return container


def _env(pipeline: Pipeline, task: Task, revision: str) -> list[dict[str, Any]]:
    fixed: list[dict[str, Any]] = [
        {"name": ENV_PIPELINE, "value": pipeline.metadata.name},
        {"name": ENV_TEAM, "value": pipeline.metadata.team},
        {"name": ENV_TASK, "value": task.name},
        # The Job's name identifies the run (the pod carries it as the job-name label).
        {"name": ENV_RUN_ID,
         "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}},
        {"name": ENV_REVISION, "value": revision},
    ]
    # Params: the defaults; `trigger` sets a run's own values on its Job. A scheduled run has
    # no PIPELINECTL_LOGICAL_DATE: the CronJob cannot know its tick when the Job is made.
    params = [{"name": param.env_name, "value": param.default} for param in pipeline.params]
    return fixed + params + [{"name": name, "value": value} for name, value in task.env]

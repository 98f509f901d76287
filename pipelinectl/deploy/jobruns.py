"""The CronJob engine's runs (pure): its Jobs and their Pods, as listed once per namespace,
turned into `runs.Run` records per pipeline.

A Job is one run. Its state comes from the Job's conditions (Complete, Failed) and, while it
is active, from its Pods (Running or still Pending). Its logical date is the tick the CronJob
controller annotated it with, or PIPELINECTL_LOGICAL_DATE of a Job started by hand. A failed
run names the task (a pipeline's tasks are the pod's init containers and its container, in
order: render/cronjob.py) and the reason, most specific first: an eviction, a task that
exited non-zero or was OOMKilled, an image that cannot be pulled, then the Job's own reason
(DeadlineExceeded, BackoffLimitExceeded). Every value is read as hostile: a field of the
wrong type is treated as absent, never trusted or crashed on.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from pipelinectl.deploy.runs import EXIT_CODE, Failure, Run, RunState, Trigger, parse_time, span
from pipelinectl.vocabulary import (
    CRONJOB_SCHEDULED_ANNOTATION,
    ENV_LOGICAL_DATE,
    JOB_NAME_LABELS,
    PIPELINE_LABEL,
    TRIGGER_LABEL,
)

# Waiting reasons of a container that will not start by itself.
STUCK = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull",
                   "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
                   "CrashLoopBackOff"})
IMAGE_PULL = frozenset({"ImagePullBackOff", "ErrImagePull"})
NO_TIME = datetime.datetime.min.replace(tzinfo=datetime.UTC)


def by_pipeline(jobs: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
                ) -> dict[str, list[Run]]:
    """Each pipeline's runs, by the pipeline label of its Jobs."""
    pods_of: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        owner = job_of(pod)
        if owner:
            pods_of.setdefault(owner, []).append(pod)
    found: dict[str, list[Run]] = {}
    for job in jobs:
        pipeline = _labels(job).get(PIPELINE_LABEL)
        name = _meta(job).get("name")
        if isinstance(pipeline, str) and isinstance(name, str):
            found.setdefault(pipeline, []).append(run_of(job, pods_of.get(name, [])))
    return found


def run_of(job: Mapping[str, Any], pods: list[Mapping[str, Any]]) -> Run:
    status = _dict(job.get("status"))
    meta = _meta(job)
    state = _state(job, pods)
    created = parse_time(meta.get("creationTimestamp")) or parse_time(
        status.get("startTime")) or NO_TIME
    return Run(str(meta.get("name")), state, created, _trigger(job), logical_date(job),
               parse_time(status.get("startTime")), _finished(status),
               _failure(job, pods, state))


def _finished(status: Mapping[str, Any]) -> datetime.datetime | None:
    """completionTime (set on success only), else when the Failed condition became true."""
    done = parse_time(status.get("completionTime"))
    return done or next((parse_time(c.get("lastTransitionTime"))
                         for c in _list(status.get("conditions"))
                         if c.get("type") == "Failed" and c.get("status") == "True"), None)


def job_of(pod: Mapping[str, Any]) -> str | None:
    """The name of the Job a Pod belongs to (its job-name label, else its owner)."""
    labels = _labels(pod)
    for key in JOB_NAME_LABELS:
        if isinstance(labels.get(key), str):
            return str(labels[key])
    for owner in _list(_meta(pod).get("ownerReferences")):
        if owner.get("kind") == "Job" and isinstance(owner.get("name"), str):
            return str(owner["name"])
    return None


def logical_date(job: Mapping[str, Any]) -> datetime.datetime | None:
    scheduled = parse_time(_dict(_meta(job).get("annotations")).get(CRONJOB_SCHEDULED_ANNOTATION))
    if scheduled is not None:
        return scheduled
    for container in _containers(_pod_spec(job)):
        for variable in _list(container.get("env")):
            if variable.get("name") == ENV_LOGICAL_DATE:
                return parse_time(variable.get("value"))
    return None


def _trigger(job: Mapping[str, Any]) -> Trigger:
    """By hand: labelled so by `pipelinectl trigger`, or a Job no CronJob made (kubectl
    create job --from=cronjob makes a Job owned by no one); a run of a backfill on the local
    platform is labelled so (a cluster's backfill Job is not one run: status counts it apart)."""
    if _labels(job).get(TRIGGER_LABEL) in ("manual", "backfill"):
        return "backfill" if _labels(job)[TRIGGER_LABEL] == "backfill" else "manual"
    if CRONJOB_SCHEDULED_ANNOTATION in _dict(_meta(job).get("annotations")):
        return "schedule"
    return "schedule" if _owner_kind(job) == "CronJob" else "manual"


def _owner_kind(obj: Mapping[str, Any]) -> str | None:
    for owner in _list(_meta(obj).get("ownerReferences")):
        if owner.get("controller"):
            return str(owner.get("kind"))
    return None


def _state(job: Mapping[str, Any], pods: list[Mapping[str, Any]]) -> RunState:
    status = _dict(job.get("status"))
    for condition in _list(status.get("conditions")):
        if condition.get("status") == "True" and condition.get("type") in ("Complete",
                                                                            "Failed"):
            return "succeeded" if condition["type"] == "Complete" else "failed"
    if _count(status.get("active")) == 0 and _count(status.get("succeeded")) > 0:
        return "succeeded"  # a Job recorded before its conditions were (or by a simple client)
    phases = {_dict(p.get("status")).get("phase") for p in pods}
    if "Running" in phases:
        return "running"
    started = parse_time(status.get("startTime"))
    return "pending" if "Pending" in phases or started is None else "running"


def _failure(job: Mapping[str, Any], pods: list[Mapping[str, Any]],
             state: RunState) -> Failure | None:
    if state == "succeeded":
        return None
    pod = _newest(pods)
    found = _pod_failure(pod) if pod is not None else None
    if state != "failed":
        return found if found is not None and found.reason in STUCK else None
    status = _dict(job.get("status"))
    attempts = _count(status.get("failed"))
    if found is not None:
        return found if attempts < 2 or found.message else \
            Failure(found.reason, found.task, found.exit_code, f"{attempts} attempts")
    return _job_failure(job, pod, attempts)


def _job_failure(job: Mapping[str, Any], pod: Mapping[str, Any] | None,
                 attempts: int) -> Failure:
    """The Job's own reason, when no Pod tells more (the controller deletes a Job's active
    Pods when its deadline passes)."""
    reason = next((str(c.get("reason")) for c in _list(_dict(job.get("status")).get(
        "conditions")) if c.get("type") == "Failed" and c.get("status") == "True"
        and isinstance(c.get("reason"), str)), "Failed")
    task = _running_task(pod) if pod is not None else None
    if reason == "DeadlineExceeded":
        deadline = _dict(job.get("spec")).get("activeDeadlineSeconds")
        limit = f"ran longer than its timeout of {span(deadline)}" \
            if isinstance(deadline, int) else "ran longer than its timeout"
        return Failure(reason, task, None, limit)
    if reason == "BackoffLimitExceeded":
        return Failure(reason, task, None, f"failed {attempts} times" if attempts else "")
    return Failure(reason, task)


def _pod_failure(pod: Mapping[str, Any]) -> Failure | None:
    status = _dict(pod.get("status"))
    if status.get("reason") == "Evicted":
        message = status.get("message")
        return Failure("Evicted", _running_task(pod), None,
                       message if isinstance(message, str) else "")
    limits = _memory_limits(pod)
    for container in _statuses(pod):
        name = str(container.get("name"))
        state = _dict(container.get("state"))
        ended = _dict(state.get("terminated"))
        code = ended.get("exitCode")
        if isinstance(code, int) and code != 0:
            if ended.get("reason") == "OOMKilled":
                memory = f", memory limit {limits[name]}" if name in limits else ""
                return Failure("OOMKilled", name, code, f"exit code {code}{memory}")
            return Failure(EXIT_CODE, name, code)
        waiting = _dict(state.get("waiting")).get("reason")
        if waiting in STUCK:
            why = "the image cannot be pulled" if waiting in IMAGE_PULL else ""
            return Failure(str(waiting), name, None, why)
    return None


def _running_task(pod: Mapping[str, Any]) -> str | None:
    """The task that was running (or had not finished) when the pod was stopped."""
    for container in _statuses(pod):
        state = _dict(container.get("state"))
        ended = _dict(state.get("terminated"))
        if "running" in state or (ended and ended.get("exitCode") != 0):
            return str(container.get("name"))
    return None


def _statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Container statuses in task order: init containers (the first tasks), then the last."""
    status = _dict(pod.get("status"))
    return _list(status.get("initContainerStatuses")) + _list(status.get("containerStatuses"))


def _memory_limits(pod: Mapping[str, Any]) -> dict[str, str]:
    spec = _dict(pod.get("spec"))
    found = {}
    for container in _list(spec.get("initContainers")) + _list(spec.get("containers")):
        memory = _dict(_dict(container.get("resources")).get("limits")).get("memory")
        if isinstance(memory, str | int):
            found[str(container.get("name"))] = str(memory)
    return found


def _newest(pods: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return max(pods, key=lambda p: (parse_time(_meta(p).get("creationTimestamp")) or NO_TIME,
                                    str(_meta(p).get("name"))), default=None)


def _pod_spec(job: Mapping[str, Any]) -> Mapping[str, Any]:
    return _dict(_dict(_dict(job.get("spec")).get("template")).get("spec"))


def _containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _list(spec.get("initContainers")) + _list(spec.get("containers"))


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _dict(obj.get("metadata"))


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _dict(_meta(obj).get("labels"))


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

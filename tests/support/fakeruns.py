"""Jobs and Pods of a pipeline's runs, as the CronJob and Job controllers and the kubelet
leave them, stored in the fake API server with the status a test sets: succeeded, failed with
an exit code or OOMKilled, stuck on an image pull, past its deadline, evicted."""

from __future__ import annotations

from typing import Any

from tests.support.fakekube import FakeKube

MANAGED = {"app.kubernetes.io/managed-by": "pipelinectl"}
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def job(pipeline: str, name: str, tick: str | None, state: str, started: str | None = None,
        finished: str | None = None, reason: str = "", failed: int = 0,
        deadline: int = 3600, manual_date: str | None = None) -> dict[str, Any]:
    """A Job of `pipeline`: made by its CronJob for `tick`, or by hand (tick None)."""
    status: dict[str, Any] = {}
    if started:
        status["startTime"] = started
    if finished:
        status["completionTime" if state == "succeeded" else "_"] = finished
    status.pop("_", None)
    if state == "succeeded":
        status.update(succeeded=1, conditions=[_condition("Complete", "", finished)])
    elif state == "failed":
        status.update(failed=failed or 1, conditions=[_condition("Failed", reason, finished)])
    else:
        status["active"] = 1
    labels = {**MANAGED, "pipelinectl.io/pipeline": pipeline}
    meta: dict[str, Any] = {"name": name, "labels": labels,
                            "creationTimestamp": started or tick or "2026-11-23T00:00:00Z"}
    if tick is not None:
        meta["annotations"] = {SCHEDULED: tick}
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob",
                                    "name": pipeline, "uid": "u", "controller": True}]
    else:
        labels["pipelinectl.io/trigger"] = "manual"
    env = [{"name": "PIPELINECTL_LOGICAL_DATE", "value": manual_date}] if manual_date else []
    return {"metadata": meta, "status": status,
            "spec": {"activeDeadlineSeconds": deadline, "template": {"spec": {
                "containers": [{"name": "report", "env": env}]}}}}


def _condition(kind: str, reason: str, when: str | None) -> dict[str, Any]:
    found = {"type": kind, "status": "True", "lastTransitionTime": when or ""}
    if reason:
        found["reason"] = reason
    return found


def pod(pipeline: str, job_name: str, phase: str, statuses: list[dict[str, Any]],
        init: list[dict[str, Any]] | None = None, reason: str = "", message: str = "",
        created: str = "2026-11-23T07:00:01Z") -> dict[str, Any]:
    """A Pod of Job `job_name`; `statuses` and `init` are container statuses (see below)."""
    status: dict[str, Any] = {"phase": phase, "containerStatuses": statuses}
    if init is not None:
        status["initContainerStatuses"] = init
    if reason:
        status.update(reason=reason, message=message)
    names = [s["name"] for s in (init or [])]
    return {"metadata": {"name": f"{job_name}-x1", "creationTimestamp": created,
                         "labels": {**MANAGED, "pipelinectl.io/pipeline": pipeline,
                                    "batch.kubernetes.io/job-name": job_name,
                                    "job-name": job_name}},
            "spec": {"initContainers": [{"name": n, "resources": {"limits": {
                "memory": "1Gi"}}} for n in names],
                "containers": [{"name": s["name"], "resources": {"limits": {"memory": "2Gi"}}}
                               for s in statuses]},
            "status": status}


def exited(name: str, code: int, reason: str = "") -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {
        "exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error")}}}


def waiting(name: str, reason: str) -> dict[str, Any]:
    return {"name": name, "state": {"waiting": {"reason": reason, "message": "Back-off"}}}


def running(name: str) -> dict[str, Any]:
    return {"name": name, "state": {"running": {"startedAt": "2026-11-23T07:00:02Z"}}}


def add(fake: FakeKube, namespace: str, *objects: dict[str, Any]) -> None:
    """Store Jobs and Pods (by what they look like) as the controllers would."""
    for obj in objects:
        plural = ("", "v1", "pods") if "phase" in obj.get("status", {}) else \
            ("batch", "v1", "jobs")
        fake.put(plural, namespace, obj, manager="kube-controller-manager")

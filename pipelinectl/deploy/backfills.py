"""What a deploy does about a pipeline's backfills (docs/how-to/backfill.md), decided before
any write:
- an entry whose id the state does not record is started: on a cluster, one Indexed Job made
  from the CronJob being applied (render/backfill.py); on the local platform (a folder), its
  runs go to docker right after the deploy (commands/backfill.py). A Job of that name that
  carries this pipeline's labels and the id is adopted (a lost state object), never made
  twice;
- an id the state records that pipeline.yaml no longer has is stopped: its Job gets
  `spec.suspend: true` (what has not started never starts; Kubernetes also stops the pods
  running at that moment; finished indexes stay in its status); it is never deleted;
- the state records the ids started and still declared.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelinectl.deploy import state
from pipelinectl.deploy.ports import Cluster
from pipelinectl.render import backfill
from pipelinectl.render.backfill import Planned
from pipelinectl.render.desired import Desired
from pipelinectl.vocabulary import (
    BACKFILL_DATES_ANNOTATION,
    BACKFILL_LABEL,
    ENV_LOGICAL_DATE,
    MANAGED_BY,
    MANAGER,
    PIPELINE_LABEL,
    TEAM_LABEL,
    TRIGGER_BACKFILL,
    TRIGGER_LABEL,
)

SELECTOR = f"{TRIGGER_LABEL}={TRIGGER_BACKFILL}"
AIRFLOW_PREFIX = "airflow-backfill-"  # a state record's job: Airflow's backfill <id>


@dataclass
class Decision:
    creates: list[dict[str, Any]] = field(default_factory=list)  # Indexed Jobs to create
    stops: list[dict[str, Any]] = field(default_factory=list)  # live Jobs, suspended
    local: list[Planned] = field(default_factory=list)  # to run in docker after the deploy
    # The airflow engine on a cluster: started and cancelled through Airflow's REST API after
    # the deploy (deploy/airflowbackfills.py), each recorded once Airflow has it.
    airflow_starts: list[Planned] = field(default_factory=list)
    airflow_stops: dict[str, state.Backfill] = field(default_factory=dict)
    records: dict[str, state.Backfill] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def wanted(item: Desired, previous: state.State | None) -> bool:
    """Whether the deploy must look at Jobs for this pipeline (one list per namespace)."""
    return bool(item.backfills) or bool(previous is not None and previous.backfills)


def decide(item: Desired, previous: state.State | None, jobs: Mapping[str, Mapping[str, Any]],
           keeps_jobs: bool, now: str) -> Decision:
    """`jobs`: the namespace's backfill Jobs (or, on a folder, run records) by name."""
    found = Decision()
    recorded = dict(previous.backfills) if previous is not None else {}
    declared = {b.id for b in item.backfills}
    # A DAG on a cluster (its file or ConfigMap, no CronJob): Airflow's REST API starts it.
    in_airflow = keeps_jobs and bool(item.objects or item.dag_files) and \
        not any(o["kind"] == "CronJob" for o in item.objects)
    for planned in item.backfills:
        if planned.id in recorded:
            found.records[planned.id] = recorded[planned.id]
        elif in_airflow:
            found.airflow_starts.append(planned)
        else:
            _start(item, planned, jobs, keeps_jobs, now, found)
    for key, record in sorted(recorded.items()):
        if key in declared:
            continue
        if keeps_jobs and record.job.startswith(AIRFLOW_PREFIX) and in_airflow:
            found.records[key] = record  # forgotten once Airflow has cancelled it
            found.airflow_stops[key] = record
        elif keeps_jobs and record.job.startswith(AIRFLOW_PREFIX):  # the pipeline is gone
            found.notes.append(f"backfill {key}: its DAG is removed with the pipeline; if "
                               f"{record.job} still runs, cancel it in Airflow")
        else:
            _stop(item, key, record, jobs, keeps_jobs, found)
    return found


def _start(item: Desired, planned: Planned, jobs: Mapping[str, Mapping[str, Any]],
           keeps_jobs: bool, now: str, found: Decision) -> None:
    name = backfill.job_name(item.pipeline, planned.id)
    live = jobs.get(name)
    if live is not None and ours(live, item.pipeline, item.team, planned.id):
        meta = live.get("metadata") or {}
        found.records[planned.id] = state.Backfill(
            name, _int((live.get("spec") or {}).get("completions"), len(planned.ticks)),
            str(meta.get("creationTimestamp") or now))
        found.notes.append(f"backfill {planned.id}: already started (Job {name}): recorded, "
                           "not started again")
        return
    mine = [j for j in jobs.values() if ours(j, item.pipeline, item.team, planned.id)]
    if not keeps_jobs and mine:  # a folder: the runs of a lost state's deploy
        found.records[planned.id] = state.Backfill(name, len(planned.ticks), now)
        found.notes.append(f"backfill {planned.id}: already ran ({len(mine)} runs recorded): "
                           "recorded, not started again")
        return
    if keeps_jobs:
        [cron] = [o for o in item.objects if o["kind"] == "CronJob"]
        found.creates.append(backfill.job(cron, planned))
    else:
        found.local.append(planned)
    found.records[planned.id] = state.Backfill(name, len(planned.ticks), now)
    found.notes.append(f"backfill {planned.id}: started {planned.describe()}, at most "
                       f"{planned.max_parallel} at once")


def _stop(item: Desired, key: str, record: state.Backfill,
          jobs: Mapping[str, Mapping[str, Any]], keeps_jobs: bool, found: Decision) -> None:
    if not keeps_jobs:
        runs = [j for j in jobs.values() if ours(j, item.pipeline, item.team, key)]
        done = sum(1 for j in runs if _count((j.get("status") or {}).get("succeeded")))
        found.notes.append(f"backfill {key}: removed, {done} of {record.ticks} done (its runs "
                           "ran at its deploy)")
        return
    live = jobs.get(record.job)
    if live is None or not ours(live, item.pipeline, item.team, key):
        found.notes.append(f"backfill {key}: removed; its Job {record.job} is gone")
        return
    done = progress(live)["done"]
    if finished(live):
        found.notes.append(f"backfill {key}: removed, it had finished: {done} of "
                           f"{record.ticks} done")
        return
    stopped = copy.deepcopy(dict(live))
    stopped["spec"] = {**(stopped.get("spec") or {}), "suspend": True}
    if not (live.get("spec") or {}).get("suspend"):
        found.stops.append(stopped)
    found.notes.append(f"backfill {key}: stopped, {done} of {record.ticks} done")


def ours(job: Mapping[str, Any], pipeline: str, team: str, key: str) -> bool:
    labels = (job.get("metadata") or {}).get("labels") or {}
    return (labels.get(MANAGED_BY) == MANAGER and labels.get(PIPELINE_LABEL) == pipeline
            and labels.get(TEAM_LABEL) == team and labels.get(TRIGGER_LABEL) == TRIGGER_BACKFILL
            and labels.get(BACKFILL_LABEL) == key)


def finished(job: Mapping[str, Any]) -> bool:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("status") == "True" and \
                condition.get("type") in ("Complete", "Failed"):
            return True
    return False


def progress(job: Mapping[str, Any]) -> dict[str, Any]:
    """An Indexed Job's progress from its status: runs done, running, and the failed indexes
    (Kubernetes' interval text, e.g. "1,3-5")."""
    status = _dict(job.get("status"))
    return {"done": _count(status.get("succeeded")), "running": _count(status.get("active")),
            "failed": indexes(status.get("failedIndexes"))}


def indexes(text: object, limit: int = 100_000) -> list[int]:
    """Kubernetes' index intervals ("1,3-5,7") as numbers; anything else as none."""
    if not isinstance(text, str) or not text:
        return []
    found: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return []
        first, last = int(low), int(high or low)
        if last < first or last >= limit:
            return []
        found.extend(range(first, last + 1))
    return found


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def by_name(jobs: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str((j.get("metadata") or {}).get("name")): j for j in jobs}


# --- progress, for `status` -------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    """How far a recorded backfill got: from its Indexed Job's status (a cluster), or from
    the records of its runs (the local platform)."""

    id: str
    job: str
    runs: int
    done: int = 0
    running: int = 0
    failed: tuple[str, ...] = ()  # the logical dates of the runs that failed
    stopped: bool = False  # its Job is suspended
    finished: bool = False
    missing: bool = False  # its Job is gone (deleted by hand, or cleaned up after its TTL)

    def line(self) -> str:
        if self.missing:
            return f"backfill {self.id}: its Job {self.job} is gone"
        state = ", stopped (suspended)" if self.stopped else ", finished" if self.finished \
            else ""
        return (f"backfill {self.id}: {self.done} of {self.runs} done, {self.running} running, "
                f"failed: {', '.join(self.failed) or 'none'}{state}")

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "job": self.job, "runs": self.runs, "done": self.done,
                "running": self.running, "failed": list(self.failed), "stopped": self.stopped,
                "finished": self.finished, "missing": self.missing}


def progress_of(record: state.State, jobs: Iterable[Mapping[str, Any]]) -> list[Progress]:
    """Each backfill `record` holds, from the namespace's backfill Jobs (listed once)."""
    listed = [j for j in jobs]
    found = []
    for key, entry in sorted(record.backfills.items()):
        mine = [j for j in listed if ours(j, record.pipeline, record.team, key)]
        indexed = [j for j in mine if (j.get("metadata") or {}).get("name") == entry.job
                   and _dict(j.get("spec")).get("completionMode") == "Indexed"]
        if indexed:
            found.append(_of_job(key, entry, indexed[0]))
        elif mine:
            found.append(_of_runs(key, entry, mine))
        else:
            found.append(Progress(key, entry.job, entry.ticks, missing=True))
    return found


def _of_job(key: str, entry: state.Backfill, job: Mapping[str, Any]) -> Progress:
    counts = progress(job)
    notes = _dict(_dict(job.get("metadata")).get("annotations"))
    dates = str(notes.get(BACKFILL_DATES_ANNOTATION) or "").split(",")
    runs = _int(_dict(job.get("spec")).get("completions"), entry.ticks)
    failed = tuple(dates[i] if i < len(dates) else f"index {i}" for i in counts["failed"]
                   if i < runs)  # an index the Job cannot have is not believed
    return Progress(key, entry.job, runs, counts["done"], counts["running"], failed,
                    bool(_dict(job.get("spec")).get("suspend")), finished(job))


def _of_runs(key: str, entry: state.Backfill, runs: list[Mapping[str, Any]]) -> Progress:
    done = [r for r in runs if _count(_dict(r.get("status")).get("succeeded"))]
    failed = [r for r in runs if _count(_dict(r.get("status")).get("failed"))]
    running = len(runs) - len(done) - len(failed)
    dates = tuple(sorted(str(_logical_date(r)) for r in failed))
    return Progress(key, entry.job, entry.ticks, len(done), running, dates,
                    finished=len(done) + len(failed) == entry.ticks)


def _logical_date(run: Mapping[str, Any]) -> str:
    pod = _dict(_dict(_dict(run.get("spec")).get("template")).get("spec"))
    for container in pod.get("containers") or []:
        for variable in _dict(container).get("env") or []:
            if _dict(variable).get("name") == ENV_LOGICAL_DATE:
                return str(_dict(variable).get("value"))
    return str(_dict(run.get("metadata")).get("name"))


def is_indexed_backfill(job: Mapping[str, Any]) -> bool:
    """A backfill's Indexed Job: many runs, not one (status counts them apart)."""
    labels = _dict(_dict(job.get("metadata")).get("labels"))
    return labels.get(TRIGGER_LABEL) == TRIGGER_BACKFILL and \
        _dict(job.get("spec")).get("completionMode") == "Indexed"


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


# --- what the deploy engine reads and checks ---------------------------------------------------

def jobs_by_namespace(cluster: Cluster, desired: Iterable[Desired],
                      states: Mapping[str, Mapping[str, state.State]]
                      ) -> dict[str, dict[str, Mapping[str, Any]]]:
    """The backfills' Jobs by name, one list per namespace where a pipeline declares or
    records one (no request at all where none does)."""
    places = {d.namespace for d in desired
              if wanted(d, states.get(d.namespace, {}).get(d.pipeline))}
    places |= {ns for ns, found in states.items() if any(s.backfills for s in found.values())}
    return {namespace: by_name(cluster.list("Job", namespace, SELECTOR))
            for namespace in sorted(places)}


def preflight(cluster: Cluster, creates: Iterable[Mapping[str, Any]],
              stops: Iterable[Mapping[str, Any]]) -> list[str]:
    """The Jobs a deploy creates and suspends: allowed, and no name taken by a Job that is
    not that backfill's (checked before the first write, like every preflight)."""
    problems = []
    made, stopped = list(creates), list(stops)
    for verb, jobs in (("create", made), ("update", stopped)):
        for namespace in sorted({j["metadata"]["namespace"] for j in jobs}):
            if not cluster.allowed(verb, "Job", namespace):
                problems.append(f"the deploy credentials may not {verb} Job objects in "
                                f"namespace {namespace} (backfills)")
    for job in made:
        meta = job["metadata"]
        if cluster.get("Job", meta["namespace"], meta["name"]) is not None:
            problems.append(f"Job {meta['namespace']}/{meta['name']} exists and is not "
                            f"backfill {meta['labels'].get(BACKFILL_LABEL)!r} of this "
                            "pipeline: it is never overwritten")
    return problems


def stop_removed(cluster: Cluster, namespace: str, record: state.State, now: str) -> Decision:
    """A removed pipeline's backfills: their Jobs to suspend (they stay), and what to say."""
    if not record.backfills or not cluster.keeps_jobs:
        return Decision()
    jobs = by_name(j for j in (cluster.get("Job", namespace, b.job)
                               for b in record.backfills.values()) if j)
    gone = Desired(record.pipeline, record.team, namespace, "", "", ())
    return decide(gone, record, jobs, True, now)

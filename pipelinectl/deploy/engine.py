"""The cluster half of a deploy: guard, preflight, apply, prune, record.

Given the objects each pipeline should have (render/desired.py, rendered with its image
digest), this:
1. reads what is there with a constant number of requests per namespace (all CronJobs, the
   state objects, the namespace, access reviews, the Secrets the tasks name);
2. refuses, before any write, a commit that does not descend from the deployed one (a stale
   CI job; `force` overrides and is recorded), a name taken by an object pipelinectl does not
   own, a missing namespace or Secret, and credentials that may not do the job;
3. applies each object with server-side apply, skipping unchanged ones (no write at all);
4. prunes what the previous deploy owned and this one no longer renders, only objects that
   carry this pipeline's ownership labels, only in the team's namespace;
5. records the state object last: a failure before it leaves the previous record intact, and
   a rerun converges.
The cluster, the DAG delivery and the git history are ports (deploy/ports.py).
"""

from __future__ import annotations

import posixpath
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelinectl.deploy import backfills, drift, lease, state
from pipelinectl.deploy.ports import Cluster, Delivery, History
from pipelinectl.deploy.state import Item, State
from pipelinectl.errors import UserError
from pipelinectl.render.backfill import Planned
from pipelinectl.render.dagfile import owned_by
from pipelinectl.render.desired import Desired
from pipelinectl.vocabulary import (
    DAG_FILE_API,
    DAG_FILE_KIND,
    MANAGED_BY,
    MANAGER,
    PIPELINE_LABEL,
    PREVIEW_LABEL,
    TEAM_LABEL,
)

KINDS = ("CronJob", "ConfigMap")
NEEDED = (("patch", "CronJob"), ("delete", "CronJob"), ("patch", "ConfigMap"),
          ("create", "ConfigMap"), ("update", "ConfigMap"), ("get", "Secret"))
# Outside the teams' namespaces (the DAG ConfigMaps' namespace): ConfigMaps only, so that
# the deployer needs no other right there (platform manifests: admin/airflowrbac.py).
DAG_KINDS = ("ConfigMap",)
DAG_NEEDED = (("patch", "ConfigMap"),)
DEPTH_HINT = ("fetch the full history: GitLab `variables: {GIT_DEPTH: 0}`, GitHub "
              "actions/checkout `fetch-depth: 0` (docs/how-to/gitlab.md, docs/how-to/github.md)")


class Refused(UserError):
    """The deploy was stopped before its first write."""


@dataclass(frozen=True)
class DeployContext:
    cluster: Cluster
    history: History
    commit: str  # the commit being deployed
    environment: str
    source: str  # the deploying repository (CI project path or URL)
    now: str  # ISO 8601 time of this deploy
    force: bool = False
    delivery: Delivery | None = None  # where DAG files go (directory or git)
    report: Callable[[str], None] = lambda _line: None
    dag_namespace: str | None = None  # where DAG ConfigMaps go (configmap delivery)
    dag_folders: Mapping[str, str] = field(default_factory=dict)  # team -> its DAG folder
    token: str = field(default_factory=lambda: secrets.token_hex(8))  # this deploy's lease
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # The stale-commit guard; off for previews, which follow their merge request's latest
    # push, force-pushed or not.
    guard: bool = True


@dataclass(frozen=True)
class _Owner:
    """Whose objects a prune may touch: one pipeline of one team in one namespace (a preview's
    objects carry its merge request's number, anything else carries none)."""

    pipeline: str
    team: str
    namespace: str
    preview: int | None = None


@dataclass
class DeployOutcome:
    pipeline: str
    namespace: str
    applied: list[Item] = field(default_factory=list)
    unchanged: list[Item] = field(default_factory=list)
    pruned: list[Item] = field(default_factory=list)
    recorded: bool = False
    removed: bool = False  # the pipeline is gone from the repository: pruned with its state
    restored: list[str] = field(default_factory=list)  # pauses put back to git's value
    backfills: list[str] = field(default_factory=list)  # what the deploy did about them
    # The local platform's backfills to run in docker now (commands/backfill.py).
    local_backfills: list[Planned] = field(default_factory=list)
    # The airflow engine's backfills to start and to cancel through its REST API now
    # (deploy/airflowbackfills.py): they are recorded once Airflow has them.
    airflow_backfills: tuple[tuple[Planned, ...], dict[str, state.Backfill]] = ((), {})
    previous_paused: bool | None = None  # the pause the state recorded before this deploy


@dataclass
class _Live:
    objects: dict[tuple[str, str], dict[str, Any]]  # (kind, name) -> object
    states: dict[str, State]
    jobs: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # backfills' Jobs


@dataclass
class _Batch:
    """Every write of a deploy, decided before the first is made: objects to apply and to
    delete, DAG file changes (one commit for git), the states to record and to forget."""

    applies: list[dict[str, Any]] = field(default_factory=list)
    removals: list[Item] = field(default_factory=list)  # Kubernetes objects to delete
    writes: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # state objects to apply
    jobs: list[dict[str, Any]] = field(default_factory=list)  # backfills' Jobs to create
    stops: list[dict[str, Any]] = field(default_factory=list)  # backfills' Jobs to suspend
    forget: list[tuple[str, str]] = field(default_factory=list)  # (namespace, pipeline)
    notes: list[str] = field(default_factory=list)  # what the deploy tells, once

    def empty(self) -> bool:
        return not (self.applies or self.removals or self.writes or self.deletes or
                    self.records or self.forget or self.jobs or self.stops)


def inventory(desired: Desired, delivery: str = "") -> tuple[Item, ...]:
    """What a pipeline owns once `desired` is deployed: its objects and DAG files."""
    items = [_item(o) for o in desired.objects]
    items += [Item(DAG_FILE_API, DAG_FILE_KIND, delivery, path) for path, _ in desired.dag_files]
    return tuple(sorted(items))


def run(desired: list[Desired], ctx: DeployContext, prune_removed: bool,
        namespaces: tuple[str, ...] = ()) -> list[DeployOutcome]:
    """Deploy `desired`; `namespaces` adds namespaces to look in for removed pipelines."""
    found = {o["metadata"]["namespace"] for d in desired for o in d.objects}
    wanted = sorted({d.namespace for d in desired} | found | set(namespaces))
    teams = {d.namespace for d in desired} | set(namespaces)
    access = _access(wanted, teams, ctx)
    if access:  # said together with what else the preflight finds
        _refuse(access + _preflight(desired, _read_all(ctx, wanted, teams), ctx))
    outcomes, batch = _decide(desired, wanted, teams, ctx, prune_removed)
    if batch.empty():
        _say(batch, ctx)
        return outcomes  # nothing to write: no lease taken, not one write
    holder = lease.Holder(ctx.source, ctx.environment, ctx.commit, ctx.token)
    leases = lease.acquire(ctx.cluster, sorted(teams), holder, ctx.clock, ctx.sleep)
    deployed = False
    try:  # read, guarded and decided again now that no other deploy can write
        outcomes, batch = _decide(desired, wanted, teams, ctx, prune_removed)
        _say(batch, ctx)
        _commit(batch, ctx)
        deployed = True
    finally:
        lease.release(ctx.cluster, leases, holder, deployed)
    return outcomes


def _decide(desired: list[Desired], wanted: list[str], teams: set[str], ctx: DeployContext,
            prune_removed: bool) -> tuple[list[DeployOutcome], _Batch]:
    """Read what is deployed, refuse a stale commit or a failed preflight, and decide every
    write: nothing is written here."""
    live = _read_all(ctx, wanted, teams)
    for item in desired if ctx.guard else ():
        previous = live[item.namespace].states.get(item.pipeline)
        _forward(previous.current.revision if previous else "", ctx, item.pipeline,
                 item.namespace)
    name = lease.lease_name(ctx.source, ctx.environment)
    for namespace in sorted(teams) if ctx.guard else ():  # the repository's last deploy here
        recorded = lease.deployed_commit(live[namespace].objects.get(("ConfigMap", name)))
        _forward(recorded, ctx, f"the repository's last deploy to {namespace}", namespace)
    _refuse(_preflight(desired, live, ctx))
    _read_jobs(ctx, desired, live)
    batch = _Batch()
    outcomes = [_deploy_one(item, live, ctx, batch) for item in desired]
    if prune_removed:
        outcomes += _remove_gone(desired, live, ctx, batch, teams)
    _refuse(backfills.preflight(ctx.cluster, batch.jobs, batch.stops))
    return outcomes, batch


def _read_jobs(ctx: DeployContext, desired: list[Desired], live: Mapping[str, _Live]) -> None:
    """The backfills' Jobs, one list per namespace where a pipeline declares or records one."""
    states = {ns: found.states for ns, found in live.items()}
    for namespace, jobs in backfills.jobs_by_namespace(ctx.cluster, desired, states).items():
        live[namespace].jobs = jobs


def _read_all(ctx: DeployContext, namespaces: list[str], teams: set[str]) -> dict[str, _Live]:
    return {ns: _read(ctx.cluster, ns, KINDS if ns in teams else DAG_KINDS)
            for ns in namespaces}


def _say(batch: _Batch, ctx: DeployContext) -> None:
    for note in batch.notes:
        ctx.report(note)


def _commit(batch: _Batch, ctx: DeployContext) -> None:
    """Objects first, then what the deploy no longer declares, then DAG files with the
    state records (last: a failure before them leaves the previous records intact)."""
    for obj in batch.applies:
        ctx.cluster.apply(obj, None)
    for item in batch.removals:
        ctx.cluster.delete(item.kind, item.namespace, item.name)
    for job in batch.jobs:  # after the CronJob they are made from
        if ctx.cluster.create(job) is None:
            ctx.report(f"warning: Job {job['metadata']['name']} was created meanwhile by "
                       "someone else: not created again")
    for job in batch.stops:
        if ctx.cluster.replace(job) is None:
            ctx.report(f"warning: Job {job['metadata']['name']} changed meanwhile: not "
                       "suspended; deploy again to stop it")
    if ctx.delivery is not None and (batch.writes or batch.deletes):
        ctx.delivery.publish(batch.writes, sorted(batch.deletes),
                             f"pipelinectl deploy {ctx.commit[:12]} ({ctx.environment})",
                             lambda: _record(batch, ctx))
    else:
        _record(batch, ctx)


def _record(batch: _Batch, ctx: DeployContext) -> None:
    """The state objects last: a failure before them leaves the previous records intact."""
    for record in batch.records:
        ctx.cluster.apply(record, live=None)
    for namespace, name in batch.forget:
        ctx.cluster.delete("ConfigMap", namespace, state.object_name(name))


def _read(cluster: Cluster, namespace: str, kinds: tuple[str, ...] = KINDS) -> _Live:
    found = {kind: cluster.list(kind, namespace, "") for kind in kinds}
    objects = {(kind, o["metadata"]["name"]): o for kind in kinds for o in found[kind]}
    # StateError (a user error) for a state object that is not ours
    return _Live(objects, state.states_in(found.get("ConfigMap", [])))


def _forward(deployed: str, ctx: DeployContext, what: str, namespace: str) -> None:
    """A stale CI job must not roll production back: the commit `what` last recorded (a
    pipeline's state, or the repository's lease record, which a deploy that writes nothing
    leaves alone) must be an ancestor of the one deployed."""
    if not deployed or deployed == ctx.commit:
        return
    known = ctx.history.is_ancestor(deployed, ctx.commit)
    if known is None and ctx.history.is_shallow() and ctx.history.deepen():
        known = ctx.history.is_ancestor(deployed, ctx.commit)
    if known or ctx.force:
        return
    if known is None:
        raise Refused(f"{what}: the deployed commit {deployed[:12]} is not in this "
                      "clone, so it cannot be told whether this deploy moves forward",
                      hint=DEPTH_HINT)
    raise Refused(
        f"{what}: commit {ctx.commit[:12]} does not descend from the deployed "
        f"commit {deployed[:12]}: refusing to roll {namespace} back (a stale CI job?)",
        hint="deploy a newer commit; to go back, `git revert` and push. --force overrides "
             "(and is recorded in the history); see "
             "docs/explanation/how-deploy-decides.md#the-stale-commit-guard")


def _access(namespaces: list[str], teams: set[str], ctx: DeployContext) -> list[str]:
    """The namespaces exist and the credentials may do what the deploy does there."""
    problems = []
    for namespace in namespaces:
        if not ctx.cluster.namespace_exists(namespace):
            problems.append(f"namespace {namespace} does not exist")
            continue
        for verb, kind in NEEDED if namespace in teams else DAG_NEEDED:
            if not ctx.cluster.allowed(verb, kind, namespace):
                problems.append(f"the deploy credentials may not {verb} {kind} objects in "
                                f"namespace {namespace}")
    return problems


def _refuse(problems: list[str]) -> None:
    if problems:
        raise Refused("preflight failed, nothing was changed:\n" +
                      "\n".join(f"  - {p}" for p in problems),
                      hint="the platform admin sets up namespaces, Secrets and the deployer "
                           "Role (manifests/)")


def _preflight(desired: list[Desired], live: Mapping[str, _Live],
               ctx: DeployContext) -> list[str]:
    """Names not taken by objects that are not ours, Secrets there, DAG paths ours."""
    problems = []
    for item in desired:
        for obj in item.objects:
            problems += _name_taken(item, obj, live[obj["metadata"]["namespace"]])
        for secret in item.secrets if ctx.cluster.checks_secrets else ():
            if ctx.cluster.get("Secret", item.namespace, secret) is None:
                problems.append(f"{item.pipeline}: Secret {item.namespace}/{secret} does not "
                                "exist")
        if ctx.delivery is not None:
            for path, _text in item.dag_files:
                current = ctx.delivery.read(path)
                if current is not None and not owned_by(current, item.pipeline, item.team):
                    problems.append(f"{item.pipeline}: {path} in {ctx.delivery.location} "
                                    "exists and is not this pipeline's DAG: it is never "
                                    "overwritten")
    return problems


def _name_taken(item: Desired, obj: Mapping[str, Any], live: _Live) -> list[str]:
    meta = obj["metadata"]
    existing = live.objects.get((obj["kind"], meta["name"]))
    if existing is None:
        return []
    labels = existing["metadata"].get("labels") or {}
    where = f"{obj['kind']} {meta['namespace']}/{meta['name']}"
    if labels.get(MANAGED_BY) != MANAGER:
        return [f"{where} exists and is not managed by pipelinectl: it is never overwritten"]
    if labels.get(PIPELINE_LABEL) != item.pipeline:
        return [f"{where} belongs to pipeline {labels.get(PIPELINE_LABEL)!r}"]
    return []


def _deploy_one(item: Desired, live: Mapping[str, _Live], ctx: DeployContext,
                batch: _Batch) -> DeployOutcome:
    outcome = DeployOutcome(item.pipeline, item.namespace)
    previous = live[item.namespace].states.get(item.pipeline)
    outcome.previous_paused = previous.current.paused if previous is not None else None
    for obj in item.objects:
        meta = obj["metadata"]
        current = live[meta["namespace"]].objects.get((obj["kind"], meta["name"]))
        as_applied = current is not None and ctx.cluster.is_current(obj, current)
        note = _pause_restored(item, previous, obj, current, as_applied)
        if note:
            outcome.restored.append(note)
        if as_applied and not note:
            outcome.unchanged.append(_item(obj))
        else:
            batch.applies.append(obj)
            outcome.applied.append(_item(obj))
    location = ctx.delivery.location if ctx.delivery else ""
    for path, text in item.dag_files:
        assert ctx.delivery is not None
        entry = Item(DAG_FILE_API, DAG_FILE_KIND, location, path)
        if ctx.delivery.read(path) == text:
            outcome.unchanged.append(entry)
        else:
            batch.writes[path] = text
            outcome.applied.append(entry)
    owned = inventory(item, location)
    owner = _Owner(item.pipeline, item.team, item.namespace, item.preview)
    for gone in state.to_prune(previous, owned):
        if _delete_owned(ctx, gone, owner, live, batch):
            outcome.pruned.append(gone)
    deploy = state.Deploy(ctx.commit, item.spec_digest, item.image, ctx.environment,
                          ctx.now, ctx.force, owned, item.paused)
    started = backfills.decide(item, previous, live[item.namespace].jobs,
                               ctx.cluster.keeps_jobs, ctx.now)
    batch.jobs += started.creates
    batch.stops += started.stops
    outcome.backfills, outcome.local_backfills = started.notes, started.local
    outcome.airflow_backfills = (tuple(started.airflow_starts), dict(started.airflow_stops))
    if previous is None or outcome.applied or outcome.pruned or \
            _meaning(previous.current) != _meaning(deploy) or \
            dict(previous.backfills) != started.records:
        record = state.recorded(previous, item.pipeline, item.team, ctx.source, deploy,
                                item.preview, started.records)
        batch.records.append(state.to_configmap(record, item.namespace))
        outcome.recorded = True
    return outcome


def _meaning(deploy: state.Deploy) -> tuple[Any, ...]:
    """What a redeploy must change to be recorded (not the time, not the commit alone); a
    state from before pauses were recorded gets its pause on the next deploy."""
    return deploy.spec_digest, deploy.image, deploy.environment, deploy.inventory, \
        deploy.paused


def _pause_restored(item: Desired, previous: State | None, obj: Mapping[str, Any],
                    current: Mapping[str, Any] | None, as_applied: bool) -> str | None:
    """A pause or resume done by hand on an object this deploy writes back: what to say
    (the apply puts git's value back; an unchanged object is applied for it)."""
    wanted, live = drift.desired_paused(obj), drift.live_paused(current)
    if wanted is None or live is None:
        return None
    recorded = previous.current.paused if previous is not None else None
    return drift.restored(item.pipeline, recorded, wanted, live, as_applied)


def _delete_owned(ctx: DeployContext, item: Item, owner: _Owner, live: Mapping[str, _Live],
                  batch: _Batch) -> bool:
    """Delete only what provably is `owner`'s: a state entry that names anything else (a
    hand-edited or hostile state object) is reported and ignored."""
    why = _not_prunable(ctx, item, owner, live)
    if why is not None:
        if why:
            batch.notes.append(f"{owner.pipeline}: not pruning {item.describe()} named in its "
                               f"state object: {why}")
        return False
    if item.kind == DAG_FILE_KIND:
        batch.deletes.append(item.name)
    else:
        batch.removals.append(item)
    return True


def _not_prunable(ctx: DeployContext, item: Item, owner: _Owner,
                  live: Mapping[str, _Live]) -> str | None:
    """Why `item` may not be deleted for `owner` ("" when it is simply gone already), or
    None when it may: in the owner's namespace (or the DAG ConfigMaps'), carrying the owner's
    pipeline and team labels; a DAG file under the team's own folder of this delivery,
    generated for this pipeline."""
    if item.kind == DAG_FILE_KIND:
        return _dag_not_prunable(ctx, item, owner)
    if item.kind not in KINDS or not _NAME.fullmatch(item.name):
        return "not a kind or name pipelinectl writes"
    allowed = {owner.namespace} | ({ctx.dag_namespace} if ctx.dag_namespace else set())
    if item.namespace not in allowed:
        return f"namespace {item.namespace} is not team {owner.team}'s"
    found = live.get(item.namespace)
    existing = found.objects.get((item.kind, item.name)) if found else None
    if existing is None:
        return ""
    labels = existing.get("metadata", {}).get("labels") or {}
    if labels.get(MANAGED_BY) != MANAGER or labels.get(PIPELINE_LABEL) != owner.pipeline \
            or labels.get(TEAM_LABEL) != owner.team:
        return "it does not carry this pipeline's and team's ownership labels"
    if labels.get(PREVIEW_LABEL) != (None if owner.preview is None else str(owner.preview)):
        return "a preview's objects and a deploy's are never each other's"
    return None


def _dag_not_prunable(ctx: DeployContext, item: Item, owner: _Owner) -> str | None:
    if ctx.delivery is None or item.namespace != ctx.delivery.location:
        return "not in this deploy's DAG delivery"
    folder = ctx.dag_folders.get(owner.team)
    path = posixpath.normpath(item.name)
    if folder is None or path != item.name or path.startswith(("/", "../")) or \
            posixpath.dirname(path) != folder or "\\" in path:
        return f"not a file of team {owner.team}'s DAG folder"
    text = ctx.delivery.read(path)
    if text is None:
        return ""
    if not owned_by(text, owner.pipeline, owner.team):
        return "not a DAG file pipelinectl generated for this pipeline"
    return None


_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def _remove_gone(desired: list[Desired], live: Mapping[str, _Live], ctx: DeployContext,
                 batch: _Batch, teams: set[str]) -> list[DeployOutcome]:
    """Pipelines this repository deployed whose pipeline.yaml is gone: pruned, state too
    (previews are their merge request's, never a deploy's to remove)."""
    present = {(d.namespace, d.pipeline) for d in desired}
    return _remove_states(live, ctx, batch, teams, lambda namespace, record: (
        (namespace, record.pipeline) not in present and record.source == ctx.source
        and record.preview is None))


def _remove_states(live: Mapping[str, _Live], ctx: DeployContext, batch: _Batch,
                   teams: set[str], select: Callable[[str, State], bool]
                   ) -> list[DeployOutcome]:
    """What each selected state object records, pruned with the checks of a prune, and the
    state object itself."""
    outcomes = []
    for namespace, found in sorted(live.items()):
        if namespace not in teams:
            continue  # state objects live in the teams' namespaces only
        for name, record in sorted(found.states.items()):
            if not select(namespace, record):
                continue
            outcome = DeployOutcome(name, namespace, removed=True)
            _stop_all(ctx, namespace, record, batch, outcome)
            owner = _Owner(name, record.team, namespace, record.preview)
            for gone in record.inventory:
                if _delete_owned(ctx, gone, owner, live, batch):
                    outcome.pruned.append(gone)
            batch.forget.append((namespace, name))
            outcomes.append(outcome)
    return outcomes


def _stop_all(ctx: DeployContext, namespace: str, record: State, batch: _Batch,
              outcome: DeployOutcome) -> None:
    """A removed pipeline's backfills stop with it (their Jobs stay, suspended)."""
    found = backfills.stop_removed(ctx.cluster, namespace, record, ctx.now)
    batch.stops += found.stops
    outcome.backfills += found.notes


def remove(ctx: DeployContext, namespaces: list[str],
           select: Callable[[str, State], bool]) -> list[DeployOutcome]:
    """Remove the pipelines whose state objects `select` picks in `namespaces` (preview
    delete and prune): their objects and DAG files, each checked as a prune checks it, then
    their state objects; under the lease, every write decided first, none when none is
    selected. A namespace that does not exist holds nothing to remove."""
    wanted = sorted(n for n in set(namespaces) if ctx.cluster.namespace_exists(n))
    teams = set(wanted)
    access = _access(wanted, teams, ctx)
    if access:
        _refuse(access)

    def decide() -> tuple[list[DeployOutcome], _Batch]:
        batch = _Batch()
        return _remove_states(_read_all(ctx, wanted, teams), ctx, batch, teams, select), batch

    outcomes, batch = decide()
    if batch.empty():
        return outcomes
    holder = lease.Holder(ctx.source, ctx.environment, ctx.commit, ctx.token)
    leases = lease.acquire(ctx.cluster, wanted, holder, ctx.clock, ctx.sleep)
    try:
        outcomes, batch = decide()
        _say(batch, ctx)
        _commit(batch, ctx)
    finally:
        lease.release(ctx.cluster, leases, holder, deployed=False)
    return outcomes


def _item(obj: Mapping[str, Any]) -> Item:
    meta = obj["metadata"]
    return Item(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])

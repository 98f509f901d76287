"""The cluster half of a deploy: guard, preflight, apply, prune, record.

Given the objects each pipeline should have (rendered with its image digest), this:
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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelinectl import state
from pipelinectl.adapters import git as git_adapter
from pipelinectl.adapters.kube import Kube
from pipelinectl.errors import UserError
from pipelinectl.render.labels import MANAGED_BY, MANAGER, PIPELINE_LABEL
from pipelinectl.state import Item, State

STATE_SELECTOR = f"{state.STATE_LABEL}=true"
NEEDED = (("patch", "CronJob"), ("delete", "CronJob"), ("patch", "ConfigMap"),
          ("get", "Secret"))
DEPTH_HINT = ("fetch the full history: GitLab `variables: {GIT_DEPTH: 0}`, GitHub "
              "actions/checkout `fetch-depth: 0`")


class Refused(UserError):
    """The deploy was stopped before its first write."""


@dataclass(frozen=True)
class Desired:
    pipeline: str
    team: str
    namespace: str
    spec_digest: str
    image: str
    objects: tuple[dict[str, Any], ...]
    secrets: tuple[str, ...] = ()

    def inventory(self) -> tuple[Item, ...]:
        return tuple(sorted(_item(o) for o in self.objects))


@dataclass(frozen=True)
class Context:
    kube: Kube
    git: git_adapter.GitState
    repo_root: Path
    environment: str
    source: str  # the deploying repository (CI project path or URL)
    now: str  # ISO 8601 time of this deploy
    force: bool = False
    report: Callable[[str], None] = lambda _line: None


@dataclass
class Outcome:
    pipeline: str
    namespace: str
    applied: list[Item] = field(default_factory=list)
    unchanged: list[Item] = field(default_factory=list)
    pruned: list[Item] = field(default_factory=list)
    recorded: bool = False
    removed: bool = False  # the pipeline is gone from the repository: pruned with its state


@dataclass
class _Live:
    cronjobs: dict[str, dict[str, Any]]
    states: dict[str, State]


def run(desired: list[Desired], ctx: Context, prune_removed: bool) -> list[Outcome]:
    namespaces = sorted({d.namespace for d in desired})
    live = {ns: _read(ctx.kube, ns) for ns in namespaces}
    for item in desired:
        _guard(item, live[item.namespace].states.get(item.pipeline), ctx)
    _preflight(desired, live, ctx)
    outcomes = [_deploy_one(item, live[item.namespace], ctx) for item in desired]
    if prune_removed:
        outcomes += _remove_gone(desired, live, ctx)
    return outcomes


def _read(kube: Kube, namespace: str) -> _Live:
    cronjobs = {o["metadata"]["name"]: o for o in kube.list("CronJob", namespace, "")}
    states = {}
    for obj in kube.list("ConfigMap", namespace, STATE_SELECTOR):
        try:
            record = state.from_configmap(obj)
        except state.StateError as exc:
            raise Refused(str(exc), hint=f"inspect it with kubectl -n {namespace} get "
                                         "configmap -o yaml; delete it to start over") from None
        states[record.pipeline] = record
    return _Live(cronjobs, states)


def _guard(item: Desired, previous: State | None, ctx: Context) -> None:
    """A stale CI job must not roll production back: the deployed commit must be an ancestor."""
    if previous is None or previous.current.revision == ctx.git.commit:
        return
    deployed = previous.current.revision
    known = git_adapter.is_ancestor(ctx.repo_root, deployed, ctx.git.commit)
    if known is None and git_adapter.is_shallow(ctx.repo_root) and \
            git_adapter.deepen(ctx.repo_root):
        known = git_adapter.is_ancestor(ctx.repo_root, deployed, ctx.git.commit)
    if known or ctx.force:
        return
    if known is None:
        raise Refused(f"{item.pipeline}: the deployed commit {deployed[:12]} is not in this "
                      "clone, so it cannot be told whether this deploy moves forward",
                      hint=DEPTH_HINT)
    raise Refused(
        f"{item.pipeline}: commit {ctx.git.commit[:12]} does not descend from the deployed "
        f"commit {deployed[:12]}: refusing to roll {item.namespace} back (a stale CI job?)",
        hint="deploy a newer commit; to go back, `git revert` and push. --force overrides "
             "(and is recorded in the history)")


def _preflight(desired: list[Desired], live: Mapping[str, _Live], ctx: Context) -> None:
    problems = []
    for namespace in sorted(live):
        if not ctx.kube.namespace_exists(namespace):
            problems.append(f"namespace {namespace} does not exist")
            continue
        for verb, kind in NEEDED:
            if not ctx.kube.allowed(verb, kind, namespace):
                problems.append(f"the deploy credentials may not {verb} {kind} objects in "
                                f"namespace {namespace}")
    for item in desired:
        for obj in item.objects:
            problems += _name_taken(item, obj, live[item.namespace])
        for secret in item.secrets:
            if ctx.kube.get("Secret", item.namespace, secret) is None:
                problems.append(f"{item.pipeline}: Secret {item.namespace}/{secret} does not "
                                "exist")
    if problems:
        raise Refused("preflight failed, nothing was changed:\n" +
                      "\n".join(f"  - {p}" for p in problems),
                      hint="the platform admin sets up namespaces, Secrets and the deployer "
                           "Role (manifests/)")


def _name_taken(item: Desired, obj: Mapping[str, Any], live: _Live) -> list[str]:
    if obj["kind"] != "CronJob":
        return []
    existing = live.cronjobs.get(obj["metadata"]["name"])
    if existing is None:
        return []
    labels = existing["metadata"].get("labels") or {}
    if labels.get(MANAGED_BY) != MANAGER:
        return [f"CronJob {item.namespace}/{obj['metadata']['name']} exists and is not "
                "managed by pipelinectl: it is never overwritten"]
    if labels.get(PIPELINE_LABEL) != item.pipeline:
        return [f"CronJob {item.namespace}/{obj['metadata']['name']} belongs to pipeline "
                f"{labels.get(PIPELINE_LABEL)!r}"]
    return []


def _deploy_one(item: Desired, live: _Live, ctx: Context) -> Outcome:
    outcome = Outcome(item.pipeline, item.namespace)
    for obj in item.objects:
        current = live.cronjobs.get(obj["metadata"]["name"]) if obj["kind"] == "CronJob" \
            else None
        written = ctx.kube.apply(obj, current)
        (outcome.applied if written else outcome.unchanged).append(_item(obj))
    previous = live.states.get(item.pipeline)
    for gone in state.to_prune(previous, item.inventory()):
        if _delete_owned(ctx.kube, gone, item.pipeline, item.namespace, live):
            outcome.pruned.append(gone)
    deploy = state.Deploy(ctx.git.commit, item.spec_digest, item.image, ctx.environment,
                          ctx.now, ctx.force, item.inventory())
    if previous is None or outcome.applied or outcome.pruned or \
            _meaning(previous.current) != _meaning(deploy):
        record = state.recorded(previous, item.pipeline, item.team, ctx.source, deploy)
        ctx.kube.apply(state.to_configmap(record, item.namespace),
                       live=None if previous is None else {})
        outcome.recorded = True
    return outcome


def _meaning(deploy: state.Deploy) -> tuple[Any, ...]:
    """What a redeploy must change to be recorded (not the time, not the commit alone)."""
    return deploy.spec_digest, deploy.image, deploy.environment, deploy.inventory


def _delete_owned(kube: Kube, item: Item, pipeline: str, namespace: str, live: _Live) -> bool:
    """Delete only an object in the team's namespace that carries this pipeline's labels."""
    if item.namespace != namespace or item.kind != "CronJob":
        return False
    existing = live.cronjobs.get(item.name)
    labels = (existing or {}).get("metadata", {}).get("labels") or {}
    if labels.get(MANAGED_BY) != MANAGER or labels.get(PIPELINE_LABEL) != pipeline:
        return False
    return kube.delete(item.kind, item.namespace, item.name)


def _remove_gone(desired: list[Desired], live: Mapping[str, _Live],
                 ctx: Context) -> list[Outcome]:
    """Pipelines this repository deployed whose pipeline.yaml is gone: pruned, state too."""
    present = {(d.namespace, d.pipeline) for d in desired}
    outcomes = []
    for namespace, found in sorted(live.items()):
        for name, record in sorted(found.states.items()):
            if (namespace, name) in present or record.source != ctx.source:
                continue
            outcome = Outcome(name, namespace, removed=True)
            for gone in record.inventory:
                if _delete_owned(ctx.kube, gone, name, namespace, found):
                    outcome.pruned.append(gone)
            ctx.kube.delete("ConfigMap", namespace, state.object_name(name))
            outcomes.append(outcome)
    return outcomes


def _item(obj: Mapping[str, Any]) -> Item:
    meta = obj["metadata"]
    return Item(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])

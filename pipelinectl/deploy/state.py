"""What a deploy records, as a ConfigMap per pipeline in its namespace
(docs/reference/state.md).

`pipelinectl-state-<pipeline>` holds the deployed revision, spec digest, image, environment,
the inventory of objects the pipeline owns, and the last deploys (newest first, at most
HISTORY_LIMIT). Built from and turned into plain dicts; `read` and `read_all` are the one way
every command reads them from a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelinectl.deploy.ports import Cluster
from pipelinectl.errors import UserError
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Platform
from pipelinectl.vocabulary import (
    ENVIRONMENT_LABEL,
    MANAGED_BY,
    MANAGER,
    PIPELINE_LABEL,
    PREVIEW_LABEL,
    STATE_DATA_KEY,
    STATE_LABEL,
    STATE_NAME_PREFIX,
    TEAM_LABEL,
)

FORMAT = 1
HISTORY_LIMIT = 20
SELECTOR = f"{STATE_LABEL}=true"


class StateError(UserError):
    """A state object that is not one pipelinectl wrote (edited by hand, or another format)."""

    def __init__(self, message: str, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata", {})
        super().__init__(message, hint=f"inspect it with kubectl -n {meta.get('namespace', '?')} "
                                       f"get configmap {meta.get('name', '?')} -o yaml; delete "
                                       "it to start over (the next deploy records a new one); "
                                       "see docs/reference/state.md#when-a-state-object-is-wrong")


@dataclass(frozen=True, order=True)
class Item:
    """One object a pipeline owns."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Deploy:
    revision: str  # the git commit deployed
    spec_digest: str
    image: str  # <repository>@sha256:...
    environment: str
    deployed_at: str  # ISO 8601, from the deploying process's clock
    forced: bool = False  # --force past the out-of-order guard
    inventory: tuple[Item, ...] = ()
    # The pause as deployed (a CronJob's spec.suspend, a DAG's paused): what git declared,
    # after a preview's or an environment's `schedules: suspended`. None: not recorded (a
    # state written before pauses were, or a pipeline with nothing to pause).
    paused: bool | None = None


@dataclass(frozen=True)
class Backfill:
    """A backfill a deploy started: recorded so that no later deploy starts it again."""

    job: str  # what runs it: the Job's name (cronjob engine; the local platform: a prefix)
    ticks: int  # how many runs
    started_at: str  # ISO 8601, the deploy's time


@dataclass(frozen=True)
class State:
    pipeline: str
    team: str
    source: str  # the repository that deployed it: a monorepo prunes only its own pipelines
    current: Deploy
    history: tuple[Deploy, ...] = field(default=())  # newest first, current included
    preview: int | None = None  # the merge request of a preview (docs/how-to/previews.md)
    # The backfills started and still in pipeline.yaml, by id (absent from older states).
    backfills: Mapping[str, Backfill] = field(default_factory=dict)

    @property
    def inventory(self) -> tuple[Item, ...]:
        return self.current.inventory


def object_name(pipeline: str) -> str:
    return STATE_NAME_PREFIX + pipeline


def recorded(previous: State | None, pipeline: str, team: str, source: str,
             deploy: Deploy, preview: int | None = None,
             backfills: Mapping[str, Backfill] | None = None) -> State:
    """The state after `deploy`: it becomes current and heads the history; `backfills`
    (None: the previous ones) are those started and still declared."""
    history = (deploy,) + (previous.history if previous else ())
    kept = backfills if backfills is not None else previous.backfills if previous else {}
    return State(pipeline, team, source, deploy, history[:HISTORY_LIMIT], preview, dict(kept))


def to_prune(previous: State | None, inventory: Iterable[Item]) -> list[Item]:
    """Objects of the old inventory that the new render no longer contains."""
    if previous is None:
        return []
    keep = set(inventory)
    return sorted(item for item in previous.inventory if item not in keep)


def to_configmap(state: State, namespace: str) -> dict[str, Any]:
    document = {"format": FORMAT, "pipeline": state.pipeline, "team": state.team,
                "source": state.source, "current": _deploy_dict(state.current),
                "history": [_deploy_dict(d) for d in state.history]}
    labels = {MANAGED_BY: MANAGER, PIPELINE_LABEL: state.pipeline, TEAM_LABEL: state.team,
              STATE_LABEL: "true", ENVIRONMENT_LABEL: state.current.environment}
    if state.backfills:  # absent when there are none: older readers see the same document
        document["backfills"] = {key: {"job": b.job, "ticks": b.ticks,
                                       "started_at": b.started_at}
                                 for key, b in sorted(state.backfills.items())}
    if state.preview is not None:
        document["preview"] = state.preview
        labels[PREVIEW_LABEL] = str(state.preview)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": object_name(state.pipeline),
            "namespace": namespace,
            "labels": labels,
        },
        "data": {STATE_DATA_KEY: json.dumps(document, sort_keys=True, indent=1)},
    }


def from_configmap(obj: Mapping[str, Any]) -> State:
    name = obj.get("metadata", {}).get("name", "?")
    try:
        document = json.loads(obj["data"][STATE_DATA_KEY])
        if document.get("format") != FORMAT:
            raise StateError(f"state object {name} has format {document.get('format')!r}, "
                             f"this pipelinectl reads format {FORMAT}", obj)
        preview = document.get("preview")
        return State(str(document["pipeline"]), str(document["team"]),
                     str(document["source"]), _deploy(document["current"]),
                     tuple(_deploy(d) for d in document["history"]),
                     None if preview is None else int(preview),
                     _backfills(document.get("backfills") or {}))
    except StateError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"state object {name} cannot be read ({type(exc).__name__}: {exc})",
                         obj) from None


def _backfills(raw: Mapping[str, Any]) -> dict[str, Backfill]:
    return {str(key): Backfill(str(entry["job"]), int(entry["ticks"]), str(entry["started_at"]))
            for key, entry in raw.items()}


def _deploy_dict(deploy: Deploy) -> dict[str, Any]:
    return {"revision": deploy.revision, "spec_digest": deploy.spec_digest,
            "image": deploy.image, "environment": deploy.environment,
            "deployed_at": deploy.deployed_at, "forced": deploy.forced,
            "inventory": [[i.api_version, i.kind, i.namespace, i.name]
                          for i in deploy.inventory], "paused": deploy.paused}


def _deploy(raw: Mapping[str, Any]) -> Deploy:
    paused = raw.get("paused")  # absent from states written before pauses were recorded
    return Deploy(str(raw["revision"]), str(raw["spec_digest"]), str(raw["image"]),
                  str(raw["environment"]), str(raw["deployed_at"]), bool(raw["forced"]),
                  tuple(Item(*map(str, entry)) for entry in raw["inventory"]),
                  paused if isinstance(paused, bool) else None)


def is_state_object(obj: Mapping[str, Any]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return obj.get("kind", "ConfigMap") == "ConfigMap" and labels.get(STATE_LABEL) == "true"


def states_in(configmaps: Iterable[Mapping[str, Any]]) -> dict[str, State]:
    """The state objects among `configmaps`, by pipeline (StateError if one is unreadable)."""
    states = {}
    for obj in configmaps:
        if is_state_object(obj):
            record = from_configmap(obj)
            _check_names(record, obj)
            states[record.pipeline] = record
    return states


def _check_names(record: State, obj: Mapping[str, Any]) -> None:
    """A state object speaks for the pipeline its name and labels name, and no other: one
    edited to claim another pipeline or team is refused, never acted on."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    preview = None if record.preview is None else str(record.preview)
    if meta.get("name") != object_name(record.pipeline) or \
            labels.get(PIPELINE_LABEL) != record.pipeline or \
            labels.get(TEAM_LABEL) != record.team or labels.get(PREVIEW_LABEL) != preview:
        raise StateError(f"state object {meta.get('name', '?')} records pipeline "
                         f"{record.pipeline!r} of team {record.team!r}, which its name and "
                         "labels do not", obj)


def read(cluster: Cluster, namespace: str, pipeline: str) -> State | None:
    """The state of one pipeline; None if it was never deployed there."""
    obj = cluster.get("ConfigMap", namespace, object_name(pipeline))
    if obj is None:
        return None
    record = from_configmap(obj)
    _check_names(record, obj)
    return record


def read_all(cluster: Cluster, namespace: str) -> dict[str, State]:
    """Every state object in `namespace`, by pipeline."""
    return states_in(cluster.list("ConfigMap", namespace, SELECTOR))


def of_pipelines(cluster: Cluster, platform: Platform, pipelines: Iterable[Pipeline]
                 ) -> Iterator[tuple[Pipeline, str, State | None]]:
    """Each pipeline with its namespace and recorded state (None: never deployed there):
    one list of the state objects per namespace, however many pipelines it holds; only the
    pipelines' own objects are read (another's unreadable one does not stop this)."""
    listed: dict[str, dict[str, Mapping[str, Any]]] = {}
    for pipeline in pipelines:
        namespace = platform.teams[pipeline.metadata.team].namespace
        if namespace not in listed:
            listed[namespace] = {str(o.get("metadata", {}).get("name")): o
                                 for o in cluster.list("ConfigMap", namespace, SELECTOR)}
        obj = listed[namespace].get(object_name(pipeline.metadata.name))
        yield pipeline, namespace, None if obj is None else _checked(obj)


def _checked(obj: Mapping[str, Any]) -> State:
    record = from_configmap(obj)
    _check_names(record, obj)
    return record


AMEND_ATTEMPTS = 3


def amend_backfills(cluster: Cluster, namespace: str, pipeline: str,
                    changes: Mapping[str, Backfill | None]) -> bool:
    """Record (a Backfill) or forget (None) backfills in a pipeline's state object after the
    deploy, by compare-and-swap (a deploy that wrote meanwhile is read again); False when
    the state object is gone."""
    for _ in range(AMEND_ATTEMPTS):
        obj = cluster.get("ConfigMap", namespace, object_name(pipeline))
        if obj is None:
            return False
        record = _checked(obj)
        kept = {key: value for key, value in {**record.backfills, **changes}.items()
                if value is not None}
        amended = to_configmap(State(record.pipeline, record.team, record.source,
                                     record.current, record.history, record.preview, kept),
                               namespace)
        amended["metadata"]["resourceVersion"] = obj["metadata"].get("resourceVersion")
        if cluster.replace(amended) is not None:
            return True
    raise UserError(f"the state object of {pipeline} in {namespace} kept changing: its "
                    "backfills were not recorded", hint="deploy again")

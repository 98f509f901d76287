"""What a deploy records (SPEC.md section 3), as a ConfigMap per pipeline in its namespace.

`pipelinectl-state-<pipeline>` holds the deployed revision, spec digest, image, environment,
the inventory of objects the pipeline owns, and the last deploys (newest first, at most
HISTORY_LIMIT). Pure: built from and turned into plain dicts; the adapter reads and writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelinectl.errors import UserError
from pipelinectl.render.ownership import MANAGED_BY, MANAGER, PIPELINE_LABEL, TEAM_LABEL

FORMAT = 1
HISTORY_LIMIT = 20
NAME_PREFIX = "pipelinectl-state-"
STATE_LABEL = "pipelinectl.io/state"
ENVIRONMENT_LABEL = "pipelinectl.io/environment"
DATA_KEY = "state.json"


class StateError(UserError):
    """A state object that is not one pipelinectl wrote (edited by hand, or another format)."""

    def __init__(self, message: str, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata", {})
        super().__init__(message, hint=f"inspect it with kubectl -n {meta.get('namespace', '?')} "
                                       f"get configmap {meta.get('name', '?')} -o yaml; delete "
                                       "it to start over (the next deploy records a new one)")


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


@dataclass(frozen=True)
class State:
    pipeline: str
    team: str
    source: str  # the repository that deployed it: a monorepo prunes only its own pipelines
    current: Deploy
    history: tuple[Deploy, ...] = field(default=())  # newest first, current included

    @property
    def inventory(self) -> tuple[Item, ...]:
        return self.current.inventory


def object_name(pipeline: str) -> str:
    return NAME_PREFIX + pipeline


def recorded(previous: State | None, pipeline: str, team: str, source: str,
             deploy: Deploy) -> State:
    """The state after `deploy`: it becomes current and heads the history."""
    history = (deploy,) + (previous.history if previous else ())
    return State(pipeline, team, source, deploy, history[:HISTORY_LIMIT])


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
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": object_name(state.pipeline),
            "namespace": namespace,
            "labels": {MANAGED_BY: MANAGER, PIPELINE_LABEL: state.pipeline,
                       TEAM_LABEL: state.team, STATE_LABEL: "true",
                   ENVIRONMENT_LABEL: state.current.environment},
        },
        "data": {DATA_KEY: json.dumps(document, sort_keys=True, indent=1)},
    }


def from_configmap(obj: Mapping[str, Any]) -> State:
    name = obj.get("metadata", {}).get("name", "?")
    try:
        document = json.loads(obj["data"][DATA_KEY])
        if document.get("format") != FORMAT:
            raise StateError(f"state object {name} has format {document.get('format')!r}, "
                             f"this pipelinectl reads format {FORMAT}", obj)
        return State(str(document["pipeline"]), str(document["team"]),
                     str(document["source"]), _deploy(document["current"]),
                     tuple(_deploy(d) for d in document["history"]))
    except StateError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"state object {name} cannot be read ({type(exc).__name__}: {exc})",
                         obj) from None


def _deploy_dict(deploy: Deploy) -> dict[str, Any]:
    return {"revision": deploy.revision, "spec_digest": deploy.spec_digest,
            "image": deploy.image, "environment": deploy.environment,
            "deployed_at": deploy.deployed_at, "forced": deploy.forced,
            "inventory": [[i.api_version, i.kind, i.namespace, i.name]
                          for i in deploy.inventory]}


def _deploy(raw: Mapping[str, Any]) -> Deploy:
    return Deploy(str(raw["revision"]), str(raw["spec_digest"]), str(raw["image"]),
                  str(raw["environment"]), str(raw["deployed_at"]), bool(raw["forced"]),
                  tuple(Item(*map(str, entry)) for entry in raw["inventory"]))

"""One deploy at a time per repository and environment: a lease, held in a ConfigMap of each
team namespace the deploy writes to, taken and given back by compare-and-swap on the object's
resourceVersion (create-if-absent, replace-if-unchanged), so two CI jobs racing cannot both
hold it. The deploy reads what is deployed and checks that its commit moves forward only once
it holds every lease: the older of two racing commits then sees the newer one deployed and
is refused, whichever started first.

A lease left by a deploy that died expires after LEASE_SECONDS; a deploy waits up to
WAIT_SECONDS for one that is held, then gives up with a clear message.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipelinectl.deploy.ports import Cluster
from pipelinectl.errors import UserError
from pipelinectl.vocabulary import (
    ENVIRONMENT_LABEL,
    LEASE_DATA_KEY,
    LEASE_LABEL,
    LEASE_NAME_PREFIX,
    MANAGED_BY,
    MANAGER,
)

LEASE_SECONDS = 600
WAIT_SECONDS = 300
FORMAT = 1


@dataclass(frozen=True)
class Holder:
    """Who asks for the leases: this deploy of one commit of one repository."""

    source: str
    environment: str
    commit: str
    token: str  # random per deploy: tells this deploy from another of the same commit


@dataclass(frozen=True)
class Lease:
    namespace: str
    name: str
    resource_version: str
    record: Mapping[str, Any]


class LeaseTimeout(UserError):
    """Another deploy of the same repository and environment kept the lease too long."""


def lease_name(source: str, environment: str) -> str:
    digest = hashlib.sha256(f"{source}\0{environment}".encode()).hexdigest()[:20]
    return f"{LEASE_NAME_PREFIX}{digest}"


def acquire(cluster: Cluster, namespaces: list[str], holder: Holder,
            clock: Callable[[], float], sleep: Callable[[float], None]) -> list[Lease]:
    """The lease of every namespace, in sorted order (two deploys never wait on each other
    crosswise); releases what it took if it cannot take them all."""
    taken: list[Lease] = []
    try:
        for namespace in sorted(set(namespaces)):
            taken.append(_take(cluster, namespace, holder, clock, sleep))
    except BaseException:
        release(cluster, taken, holder, deployed=False)
        raise
    return taken


def release(cluster: Cluster, leases: list[Lease], holder: Holder, deployed: bool) -> None:
    """Give every lease back; with `deployed`, record the commit as the one deployed."""
    for lease in leases:
        record = dict(lease.record)
        record.update(holder="", expires=0)
        if deployed:
            record["deployed"] = holder.commit
        cluster.replace(_configmap(lease.namespace, lease.name, holder, record,
                                   lease.resource_version))


def deployed_commit(obj: Mapping[str, Any] | None) -> str:
    """The commit the last deploy that wrote recorded in a lease object ("" when none)."""
    if obj is None:
        return ""
    value = _record(obj).get("deployed")
    return value if isinstance(value, str) else ""


def _take(cluster: Cluster, namespace: str, holder: Holder, clock: Callable[[], float],
          sleep: Callable[[float], None]) -> Lease:
    name = lease_name(holder.source, holder.environment)
    deadline = clock() + WAIT_SECONDS
    delay = 0.2
    while True:
        current = cluster.get("ConfigMap", namespace, name)
        record = _record(current) if current is not None else {"deployed": ""}
        free = not record.get("holder") or float(record.get("expires") or 0) < clock()
        if free:
            mine = {**record, "holder": holder.token, "commit": holder.commit,
                    "since": _iso(clock()), "expires": clock() + LEASE_SECONDS}
            version = None if current is None else current["metadata"]["resourceVersion"]
            obj = _configmap(namespace, name, holder, mine, version)
            written = cluster.create(obj) if current is None else cluster.replace(obj)
            if written is not None:
                return Lease(namespace, name, written["metadata"]["resourceVersion"], mine)
            continue  # another deploy wrote first: look again
        if clock() > deadline:
            raise LeaseTimeout(
                f"another deploy of this repository to {holder.environment} (commit "
                f"{str(record.get('commit'))[:12]}, since {record.get('since')}) holds the "
                f"deploy lease in namespace {namespace}",
                hint="wait for it to finish and deploy again; a lease left by a deploy that "
                     f"died expires {LEASE_SECONDS // 60} minutes after it was taken")
        sleep(delay)
        delay = min(delay * 2, 5.0)


def _record(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The lease object's record; an unreadable one counts as free (only leases are here)."""
    try:
        value = json.loads((obj.get("data") or {}).get(LEASE_DATA_KEY, "{}"))
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _configmap(namespace: str, name: str, holder: Holder, record: Mapping[str, Any],
               resource_version: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name, "namespace": namespace,
        "labels": {MANAGED_BY: MANAGER, LEASE_LABEL: "true",
                   ENVIRONMENT_LABEL: holder.environment}}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    document = {"format": FORMAT, "source": holder.source, "environment": holder.environment,
                **record}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
            "data": {LEASE_DATA_KEY: json.dumps(document, sort_keys=True)}}


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""What a deploy needs from the outside world, as Protocols: the cluster (the API server, or
a folder of object files for a platform without one), the DAG delivery (a folder, a git
branch), and the repository's history. Adapters implement them (adapters/kube.py,
adapters/kubedir.py, adapters/dags.py, adapters/git.py); wiring.py builds them from the
platform; the deploy wing never imports an adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol


class Cluster(Protocol):
    """The Kubernetes objects of the kinds pipelinectl owns or reads."""

    host: str
    checks_secrets: bool  # whether `get("Secret", ...)` can tell that a Secret exists
    # Whether runs happen here as Jobs and their Pods, listed with `list("Job"|"Pod", ...)`
    # (a folder of objects has none: the local platform runs with `pipelinectl run`).
    keeps_jobs: bool

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]: ...

    def namespace_exists(self, namespace: str) -> bool: ...

    def allowed(self, verb: str, kind: str, namespace: str) -> bool: ...

    def is_current(self, obj: dict[str, Any], live: Mapping[str, Any]) -> bool:
        """Whether `live` already is `obj` as applied (nothing to write)."""
        ...

    def apply(self, obj: dict[str, Any], live: Mapping[str, Any] | None) -> bool:
        """Write `obj` unless `live` already is it; True if written."""
        ...

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Delete one object; False if it was already gone."""
        ...

    def create(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Create `obj` unless it exists (then None): the object as stored."""
        ...

    def replace(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Replace the object if its resourceVersion is still `obj`'s (else None, and nothing
        is written): compare-and-swap. The object as stored."""
        ...


class Delivery(Protocol):
    """Where DAG files go: every path is relative to the delivery's root."""

    location: str  # names the delivery in messages and in the inventory

    def read(self, path: str) -> str | None: ...

    def publish(self, writes: Mapping[str, str], deletes: list[str], message: str,
                then: Callable[[], None]) -> None:
        """Deliver `writes` and `deletes` together, and run `then` (the state records) so
        that no DAG is delivered without its record: before the files take effect where the
        delivery can stage them, right after otherwise."""
        ...

    def close(self) -> None: ...


class History(Protocol):
    """The deploying repository's commits, to tell forward from back."""

    def is_ancestor(self, older: str, newer: str) -> bool | None:
        """Whether `older` is `newer` or an ancestor; None when `older` is not known here."""
        ...

    def is_shallow(self) -> bool: ...

    def deepen(self) -> bool:
        """Fetch the full history of a shallow clone; False when that is not possible."""
        ...

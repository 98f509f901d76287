"""What a deploy needs from the outside world, as Protocols: the cluster (the API server, or
a folder of object files for a platform without one), the DAG delivery (a folder, a git
branch), the repository's history, and Airflow's REST API. Adapters implement them
(adapters/kube.py, adapters/kubedir.py, adapters/dags.py, adapters/git.py,
adapters/airflowapi.py); wiring.py builds them from the platform; the deploy wing never
imports an adapter."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


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


# --- Airflow's REST API ------------------------------------------------------------------------
# What pipelinectl reads of Airflow 3's objects, type-checked where they are read
# (adapters/airflowapi.py). Times are aware datetimes; states are Airflow's own words (a run:
# queued, running, success, failed; a task instance: also up_for_retry, upstream_failed, ...).

ReprocessBehavior = Literal["none", "failed", "completed"]


@dataclass(frozen=True)
class AirflowDag:
    dag_id: str
    is_paused: bool
    # When the scheduler will create the next scheduled run (None: none planned, or an
    # Airflow that does not say); not part of what makes two answers the same DAG.
    next_run: datetime.datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AirflowRun:
    """A DAG run."""

    dag_id: str
    run_id: str
    state: str
    run_type: str  # scheduled, manual, backfill, ...
    logical_date: datetime.datetime | None  # None: a run started without one
    start_date: datetime.datetime | None
    end_date: datetime.datetime | None
    conf: Mapping[str, Any]


@dataclass(frozen=True)
class AirflowTaskInstance:
    """One task instance of a run (a mapped task: one per map index)."""

    task_id: str
    map_index: int  # -1: not mapped
    state: str | None  # None: not scheduled yet
    try_number: int
    max_tries: int
    start_date: datetime.datetime | None
    end_date: datetime.datetime | None
    note: str | None  # what a person or a callback wrote on it


@dataclass(frozen=True)
class AirflowBackfill:
    id: int
    dag_id: str
    from_date: datetime.datetime
    to_date: datetime.datetime
    max_active_runs: int
    reprocess_behavior: str
    is_paused: bool
    dag_run_conf: Mapping[str, Any]
    completed_at: datetime.datetime | None  # None: still running (or queued)


class AirflowApi(Protocol):
    """Airflow 3's REST API (/api/v2), signed in as the platform's airflow.api user. Every
    failure (unreachable, refused credentials, a missing DAG, an unexpected answer) is a
    UserError that names the server and never the credentials."""

    location: str  # the API server's base URL, for messages

    def dag(self, dag_id: str) -> AirflowDag | None:
        """The DAG, or None when Airflow does not know it (not deployed or not parsed yet)."""
        ...

    def set_paused(self, dag_id: str, paused: bool) -> AirflowDag: ...

    def runs(self, dag_id: str, limit: int = 5, run_type: str | None = None
             ) -> list[AirflowRun]:
        """The DAG's latest runs, newest first (by when they were due to run)."""
        ...

    def run(self, dag_id: str, run_id: str) -> AirflowRun: ...

    def task_instances(self, dag_id: str, run_id: str) -> list[AirflowTaskInstance]: ...

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int,
                 map_index: int = -1, lines: int = 20) -> list[str]:
        """The last `lines` lines of a task instance's log for one try (why it failed)."""
        ...

    def trigger(self, dag_id: str, conf: Mapping[str, Any],
                logical_date: datetime.datetime | None = None,
                run_id: str | None = None, note: str | None = None) -> AirflowRun:
        """Start a run now, with `conf` and the logical date (None: a run without one), and
        `note` on the run (Airflow shows it on the run's page)."""
        ...

    def create_backfill(self, dag_id: str, from_date: datetime.datetime,
                        to_date: datetime.datetime, max_active_runs: int,
                        conf: Mapping[str, Any],
                        reprocess_behavior: ReprocessBehavior = "none") -> AirflowBackfill:
        """Runs for every schedule tick in [from_date, to_date], at most max_active_runs at
        once: Airflow creates and paces them itself."""
        ...

    def backfill(self, backfill_id: int) -> AirflowBackfill: ...

    def count_runs(self, dag_id: str, run_type: str, states: tuple[str, ...],
                   logical_from: datetime.datetime, logical_to: datetime.datetime,
                   limit: int = 1) -> tuple[int, list[AirflowRun]]:
        """How many of the DAG's runs of `run_type` in one of `states` have a logical date in
        [logical_from, logical_to] (Airflow's total_entries: one request, however many), and
        the first `limit` of them by logical date."""
        ...

    def backfills(self, dag_id: str) -> list[AirflowBackfill]:
        """The DAG's backfills, newest first."""
        ...

    def cancel_backfill(self, backfill_id: int) -> AirflowBackfill:
        """Stop a backfill: its runs not started yet never start; finished ones stay."""
        ...

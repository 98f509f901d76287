"""`pipelinectl status`: what is deployed, when it runs next, pause drift, how its last runs
went, and with `--check` whether any pipeline needs someone (exit 1).

Reads a constant number of objects lists per namespace, however many pipelines and runs it
holds: the state objects, the managed CronJobs, Jobs and Pods (deploy/health.py says what is
made of them); and per Airflow pipeline, with the platform's airflow.api, a constant number of
requests to Airflow's REST API (deploy/dagruns.py)."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pipelinectl import wiring
from pipelinectl.deploy import airflowbackfills, backfills, dagruns, health, jobruns
from pipelinectl.deploy.health import Observed, Report
from pipelinectl.deploy.ports import AirflowApi, Cluster
from pipelinectl.deploy.runs import Run
from pipelinectl.deploy.state import State
from pipelinectl.errors import EXIT_OK, EXIT_USER, UserError
from pipelinectl.render.airflow import dag_id
from pipelinectl.spec import previews
from pipelinectl.spec.model import Pipeline
from pipelinectl.textsafe import inline
from pipelinectl.vocabulary import MANAGED_BY, MANAGER, TRIGGER_BACKFILL, TRIGGER_LABEL

next_run = health.next_run  # the next tick of a live CronJob, as a line says it
MANAGED = f"{MANAGED_BY}={MANAGER}"
NO_API = ("in Airflow, DAG {dag}; status reads its runs and pause there once the platform "
          "sets airflow.api (see docs/how-to/airflow-api.md)")
PAUSED_DAG = "its run stays queued while the DAG is paused: unpause it in Airflow"
NO_JOBS = ("none yet: this platform keeps CronJobs as files, and nothing runs them on "
           "schedule; `pipelinectl trigger` runs one in docker and records it here")


@dataclass(frozen=True)
class Args(wiring.ReadArgs):
    check: bool = False
    format: Literal["text", "json"] = "text"


@dataclass
class _Namespace:
    """What one namespace holds, listed once for all its pipelines."""

    cronjobs: dict[str, dict[str, Any]]
    runs: dict[str, list[Run]]
    backfills: list[dict[str, Any]]  # the backfills' Jobs (local: their runs' records)
    # A folder platform: nothing runs its CronJobs; its runs are those `pipelinectl trigger`
    # ran in docker and recorded as Job files.
    local: bool


class _Airflow:
    """Airflow's REST API for the pipelines of the airflow engine; once it fails, the other
    pipelines say the same without asking again (a server that is down answers none)."""

    def __init__(self, api: AirflowApi | None) -> None:
        self.api = api
        self.failed = ""

    def observe(self, pipeline: Pipeline, record: State, start: str) -> tuple[Observed, str]:
        """What Airflow says of the pipeline, and what --check must report if it cannot."""
        dag = dag_id(pipeline)
        if self.api is None:
            return Observed(runs_note=NO_API.format(dag=dag)), ""
        if not self.failed:
            try:
                found = dagruns.read(self.api, dag)
            except UserError as error:
                self.failed = error.message
            else:
                schedule = dagruns.schedule_of(pipeline, record.current.deployed_at)
                observed = dagruns.observe(found, dag, record.current.paused, schedule,
                                           f"{start} ({PAUSED_DAG})")
                return self._backfills(observed, dag, record)
        return Observed(runs_note=f"unknown: {self.failed}"), \
            f"its runs are unknown: {self.failed}"

    def _backfills(self, observed: Observed, dag: str, record: State) -> tuple[Observed, str]:
        """The recorded backfills' progress (a few requests each, whatever their size), and
        what --check must report if Airflow cannot say."""
        if not record.backfills or self.api is None:
            return observed, ""
        try:
            found = tuple(airflowbackfills.progress(self.api, dag, key, entry)
                          for key, entry in sorted(record.backfills.items()))
        except UserError as error:
            self.failed = error.message
            return observed, f"its backfills are unknown: {error.message}"
        return replace(observed, backfills=found), ""


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    shown = wiring.deployed_on(args, environ, cwd)
    found = shown.found
    now = datetime.datetime.now(datetime.UTC)
    live = _read(shown.cluster, found)
    airflow = _Airflow(wiring.airflow_api(shown.config, environ))
    reports = [_report(p, ns, record, live.get(ns), now, airflow, _start(shown, p, record))
               for p, ns, record in found]
    if args.format == "json":
        sys.stdout.write(json.dumps(health.document(reports, now), indent=2) + "\n")
    else:
        sys.stdout.write("".join(_text(r, now, args.check) for r in reports))
        if args.check:
            sys.stdout.write(health.summary(reports) + "\n")
    failing = any(not r.ok for r in reports)
    return EXIT_USER if args.check and failing else EXIT_OK


def _start(shown: wiring.Deployed, pipeline: Pipeline, record: State | None) -> str:
    """The `pipelinectl trigger` command that starts a run of this deploy: the pipeline's
    own name (TEAM/NAME where several teams use it), --mr for a preview, --environment where
    the deploy is not in the environment trigger picks by default."""
    if record is None:
        return ""
    preview = pipeline.preview
    name = pipeline.metadata.name
    if preview is not None:
        name = name.removesuffix(previews.suffix(preview))
    others = [p for p, _ns, _r in shown.found if p.metadata.name == pipeline.metadata.name]
    if len(others) > 1:
        name = f"{pipeline.metadata.team}/{name}"
    where = shown.environment if preview is not None else record.current.environment
    return health.start_command(name, preview,
                                None if where == shown.default_environment else where)


def _read(cluster: Cluster, found: list[tuple[Pipeline, str, State | None]]
          ) -> dict[str, _Namespace]:
    """Per namespace with a deployed CronJob (on a folder platform: with any deployed
    pipeline): its managed CronJobs, Jobs and Pods, one list each (label-selected; no paging,
    so the count never grows with the runs kept)."""
    local = not cluster.keeps_jobs
    namespaces = sorted({ns for _p, ns, record in found if record is not None and (local or any(
        item.kind == "CronJob" for item in record.inventory))})
    read = {}
    for namespace in namespaces:
        cronjobs = {str(o.get("metadata", {}).get("name")): o
                    for o in cluster.list("CronJob", namespace, MANAGED)}
        pods = [] if local else cluster.list("Pod", namespace, MANAGED)
        jobs = cluster.list("Job", namespace, MANAGED)
        runs = jobruns.by_pipeline([j for j in jobs if not backfills.is_indexed_backfill(j)],
                                   pods)
        read[namespace] = _Namespace(cronjobs, runs, [j for j in jobs if (
            j.get("metadata") or {}).get("labels", {}).get(TRIGGER_LABEL) == TRIGGER_BACKFILL],
            local)
    return read


def _report(pipeline: Pipeline, namespace: str, record: State | None,
            live: _Namespace | None, now: datetime.datetime, airflow: _Airflow,
            start: str) -> Report:
    name = pipeline.metadata.name
    engine = "cronjob" if record is not None and any(
        i.kind == "CronJob" for i in record.inventory) else pipeline.resolved_engine
    if record is None:
        observed = Observed()
    elif engine == "airflow" and (airflow.api is not None or live is None or not live.local):
        observed, unknown = airflow.observe(pipeline, record, start)
        found = health.report(name, pipeline.metadata.team, namespace, engine, record,
                              observed, now)
        return replace(found, problems=found.problems + ((unknown,) if unknown else ()))
    elif live is not None and live.local:  # the runs `trigger` recorded; no schedule runs
        recorded = live.runs.get(name) or None
        observed = replace(health.observe_cronjob(live.cronjobs.get(name), None, record, now,
                                                  start=start),
                           runs=recorded, runs_note=NO_JOBS) if engine == "cronjob" else \
            Observed(runs=recorded, runs_note=NO_JOBS)
    elif live is None or engine != "cronjob":
        observed = Observed(runs_note=NO_API.format(dag=dag_id(pipeline)))
    else:
        observed = health.observe_cronjob(live.cronjobs.get(name), live.runs.get(name, []),
                                          record, now, start=start)
    if record is not None and record.backfills and live is not None:
        observed = replace(observed, backfills=tuple(backfills.progress_of(record,
                                                                           live.backfills)))
    return health.report(name, pipeline.metadata.team, namespace, engine, record, observed, now)


def _text(found: Report, now: datetime.datetime, check: bool) -> str:
    record = found.record
    if record is None:
        return f"{found.pipeline}: not deployed (namespace {found.namespace})\n"
    current = record.current  # what a state object says is hand-editable: printed inert
    out = [f"{found.pipeline}: {inline(current.revision[:12])} in "
           f"{inline(current.environment)}, deployed {inline(current.deployed_at)}"
           f"{' (forced)' if current.forced else ''}\n",
           f"  image: {inline(current.image)}\n"]
    out += [f"  {inline(item.describe())}\n" for item in current.inventory]
    out += [f"  {inline(line)}\n" for line in health.lines(found, now, check)]
    return "".join(out)

"""The local platform's backfills (docs/how-to/backfill.md): a deploy to a folder that adds
a backfill runs its ticks right away in docker, as `pipelinectl trigger` runs one locally,
at most max_parallel at once. Each run is its own process, so each gets its own
PIPELINECTL_LOGICAL_DATE (besides the dates and the index a cluster's Indexed Job gives), and
is recorded as a Job file labelled with the backfill's id, which `status` counts.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipelinectl import files, wiring
from pipelinectl.commands import trigger
from pipelinectl.deploy.ports import Cluster
from pipelinectl.errors import UserError
from pipelinectl.render import backfill
from pipelinectl.render.backfill import Planned
from pipelinectl.spec.model import Pipeline
from pipelinectl.vocabulary import (
    BACKFILL_LABEL,
    ENV_BACKFILL_DATES,
    ENV_COMPLETION_INDEX,
    ENV_LOGICAL_DATE,
    RUNS_DIR,
    TRIGGER_BACKFILL,
    TRIGGER_LABEL,
)

WHO = "pipelinectl deploy"
_INDEX_ROOM = 4  # "-999": the runs' names stay within 63 characters


def refuse_secrets(pipelines: list[Pipeline]) -> None:
    """Before any write: a deploy reads no Secrets, so the local platform cannot run the
    backfills of tasks that need some."""
    needing = [p.metadata.name for p in pipelines if p.backfills and
               any(t.secrets for t in p.tasks)]
    if needing:
        raise UserError(f"{', '.join(needing)}: the local platform runs backfills during the "
                        "deploy, which reads no Secrets, and these tasks name some: nothing "
                        "was changed", hint="start the runs one by one with pipelinectl trigger "
                        "--logical-date DATE --secrets-dir DIR, or remove the backfill")


def run_name(pipeline: str, backfill_id: str, index: int) -> str:
    base = backfill.job_name(pipeline, backfill_id)[: backfill.MAX_NAME - _INDEX_ROOM]
    return f"{base.rstrip('-')}-{index}"


def run_all(root: Path, pipeline: Pipeline, cluster: Cluster, namespace: str, image: str,
            planned: Planned, environ: Mapping[str, str]) -> tuple[int, int]:
    """Every run of `planned`, at most max_parallel at once: (succeeded, failed)."""
    from pipelinectl.local import inputs, runner

    tasks = pipeline.ordered_tasks()
    docker = wiring.docker_client(environ)
    trigger._have_image(docker, image)
    revision = wiring.revisions(root, [pipeline])[pipeline.file]
    marks = {TRIGGER_LABEL: TRIGGER_BACKFILL, BACKFILL_LABEL: planned.id}
    dates = ",".join(planned.ticks)

    def one(index: int) -> bool:
        name = run_name(pipeline.metadata.name, planned.id, index)
        env = {**dict(planned.env), ENV_BACKFILL_DATES: dates,
               ENV_COMPLETION_INDEX: str(index), ENV_LOGICAL_DATE: planned.ticks[index]}
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        try:
            job = trigger._record(cluster, pipeline, namespace, name, env, WHO, now, image,
                                  marks)
        except UserError:
            wiring.progress(f"backfill {planned.id}: run {index} is already recorded: skipped")
            return True
        workspace = files.real_dir(root, f"{RUNS_DIR}/{pipeline.metadata.name}/{name}",
                                   mode=0o777)
        settings = runner.RunSettings(image, workspace, inputs.environments(
            pipeline, tasks, {}, {}, name, revision, env), 1, wiring.progress)
        results: list[Any] = []
        try:
            results = runner.run(docker, pipeline, tasks, settings)
        finally:
            trigger._finish(cluster, job, results)
        ok = bool(results) and all(r.status == runner.SUCCEEDED for r in results)
        sys.stdout.write(f"backfill {planned.id}: run {index} ({planned.ticks[index]}) "
                         f"{'succeeded' if ok else 'failed'}\n")
        return ok

    with ThreadPoolExecutor(max_workers=planned.max_parallel) as pool:
        outcomes = list(pool.map(one, range(len(planned.ticks))))
    return sum(outcomes), len(outcomes) - sum(outcomes)

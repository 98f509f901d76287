"""What a pipeline becomes on the platform (pure): its Kubernetes objects or DAG files.

cronjob engine: one CronJob in the team's namespace. airflow engine, by the platform's
`airflow.dags`: `directory` -> <team>/<team>__<name>.py in that folder; `git` ->
<path with {team}>/<team>__<name>.py on that branch; `configmap` -> a ConfigMap
`dag-<team>--<name>` in the Airflow namespace, labelled for a dags-folder sidecar.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from pipelinectl import patterns
from pipelinectl.render import airflow, backfill, cronjob, ownership
from pipelinectl.render.outputs import relative_path, render_pipeline
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import DagsDelivery, Platform, Team
from pipelinectl.vocabulary import DAG_LABEL


@dataclass(frozen=True)
class Desired:
    """What one pipeline should be on the platform: what deploy applies and records."""

    pipeline: str
    team: str
    namespace: str
    spec_digest: str
    image: str
    objects: tuple[dict[str, Any], ...]  # Kubernetes objects (CronJob; DAG ConfigMap)
    secrets: tuple[str, ...] = ()
    dag_files: tuple[tuple[str, str], ...] = ()  # (path, source) for a DAG delivery
    preview: int | None = None  # the merge request of a preview
    paused: bool | None = None  # the pause as rendered (recorded: deploy/drift.py)
    # The backfills a deploy starts (render/backfill.py): as an Indexed Job (cronjob engine),
    # through Airflow's REST API (airflow engine), or in docker (the local platform).
    backfills: tuple[backfill.Planned, ...] = ()


def desired(pipeline: Pipeline, platform: Platform, image: str, revision: str) -> Desired:
    team = platform.teams[pipeline.metadata.team]
    secrets = tuple(sorted({s for task in pipeline.tasks for s in task.secrets}))
    common = (pipeline.metadata.name, team.name, team.namespace, ownership.spec_digest(pipeline),
              image)
    if pipeline.resolved_engine == "cronjob":
        target = cronjob.Target(team.namespace, team.service_account, image, revision,
                                platform.run_as)
        rendered = cronjob.render(pipeline, target)
        return Desired(*common, objects=(rendered,), secrets=secrets, preview=pipeline.preview,
                       paused=bool(rendered["spec"]["suspend"]),
                       backfills=backfill.planned(pipeline))
    source = render_pipeline(pipeline, platform, image, revision).content
    delivery = platform.airflow.dags
    dag = airflow.dag_id(pipeline)
    paused = bool(pipeline.schedule and pipeline.schedule.suspend)  # as the DAG file says
    # Airflow paces its own backfills, started through its REST API after the deploy
    # (deploy/airflowbackfills.py); the local platform runs them in docker.
    started = backfill.planned(pipeline)
    if delivery.kind == "configmap":
        return Desired(*common, objects=(dag_configmap(pipeline, delivery.namespace, dag,
                                                       source),), secrets=secrets,
                       preview=pipeline.preview, paused=paused, backfills=started)
    return Desired(*common, objects=(), secrets=secrets, preview=pipeline.preview,
                   dag_files=((dag_path(delivery, team, dag), source),), paused=paused,
                   backfills=started)


def dag_folder(delivery: DagsDelivery, team: Team) -> str:
    """The team's folder of a directory or git delivery: only its DAG files are the team's."""
    folder = team.name if delivery.kind == "directory" else patterns.substitute(
        delivery.path, {patterns.TEAM: team.name, patterns.NAMESPACE: team.namespace})
    normal = posixpath.normpath(folder)
    if normal.startswith(("/", "../")) or normal == "..":
        raise ValueError(f"DAG folder {normal!r} leaves the DAGs folder")
    return normal


def dag_places(platform: Platform) -> tuple[str | None, dict[str, str]]:
    """Where DAG ConfigMaps go (configmap delivery), and each team's DAG folder (directory
    and git delivery): the only places outside a team's namespace that a prune may touch."""
    dags = platform.airflow.dags
    if dags.kind == "configmap":
        return dags.namespace, {}
    return None, {name: dag_folder(dags, team) for name, team in platform.teams.items()}


def dag_path(delivery: DagsDelivery, team: Team, dag: str) -> str:
    relative_path(team.name, f"{dag}.py")  # the parts that come from names: checked
    return posixpath.join(dag_folder(delivery, team), f"{dag}.py") \
        if dag_folder(delivery, team) != "." else f"{dag}.py"


def dag_configmap(pipeline: Pipeline, namespace: str, dag: str, source: str) -> dict[str, Any]:
    owned = ownership.labels_of(pipeline)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"dag-{pipeline.metadata.team}--{pipeline.metadata.name}",
                     "namespace": namespace, "labels": {**owned, DAG_LABEL: "true"}},
        "data": {f"{dag}.py": source},
    }

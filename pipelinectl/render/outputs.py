"""What `render` writes (and `deploy` will apply), per pipeline, in a stable layout (pure).

    kubernetes/<namespace>/<pipeline>.yaml   the CronJob of a cronjob-engine pipeline
    airflow/<team>/<team>__<pipeline>.py     the DAG file of an airflow-engine pipeline

Paths are built from names the schema holds to DNS labels, so no spec value can climb out of
the output folder; `relative_path` checks it anyway.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

import yaml

from pipelinectl.errors import Diagnostic
from pipelinectl.render import airflow, cronjob
from pipelinectl.render.dagfile import pipeline_literal
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Platform
from pipelinectl.spec.size import limit, too_big
from pipelinectl.vocabulary import (
    MANAGED_BY,
    MANAGER,
    RENDERED_AIRFLOW_DIR,
    RENDERED_KUBERNETES_DIR,
)
from pipelinectl.yamlout import dump_all

PLACEHOLDER_DIGEST = "sha256:" + "0" * 64  # `render --image-placeholder`: never deployable
NO_REVISION = "0" * 40  # no commit changed the pipeline's files: outside git, or not committed
MAX_RENDERED_BYTES = 4 * 1024 * 1024  # what prune reads of a file before deciding it is ours
_SAFE_PART = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.yaml|\.py)?$")


@dataclass(frozen=True)
class Rendered:
    path: str  # relative to the output folder, with /
    content: str


def render_pipeline(pipeline: Pipeline, platform: Platform, image: str,
                    revision: str) -> Rendered:
    """The one output file of `pipeline`, whose image is `image` (by @sha256: digest) and
    whose `revision` is the last commit that changed its files: a function of the pipeline's
    inputs, never of the deploying commit, so that a commit that changes none of them changes
    no byte (docs/explanation/how-deploy-decides.md#what-a-commit-writes)."""
    team = platform.teams[pipeline.metadata.team]
    target = cronjob.Target(team.namespace, team.service_account, image, revision,
                            platform.run_as)
    name, team_name = pipeline.metadata.name, pipeline.metadata.team
    if pipeline.resolved_engine == "cronjob":
        return Rendered(relative_path(RENDERED_KUBERNETES_DIR, team.namespace, f"{name}.yaml"),
                        dump_all([cronjob.render(pipeline, target)]))
    where = airflow.team_target(platform, team, target)  # the team's connection and role
    path = relative_path(RENDERED_AIRFLOW_DIR, team_name, f"{airflow.dag_id(pipeline)}.py")
    return Rendered(path, airflow.render(pipeline, where))


def relative_path(*parts: str) -> str:
    for part in parts:
        if not _SAFE_PART.fullmatch(part):
            raise ValueError(f"unsafe path element {part!r}")
    path = posixpath.join(*parts)
    assert posixpath.normpath(path) == path
    return path


def generated(path: str, text: str) -> bool:
    """Whether `text` (a file at `path` of a render output folder) is one pipelinectl wrote:
    a DAG whose PIPELINE literal or a manifest whose labels say managed-by pipelinectl. Only
    such files are ever pruned; a hand-written file beside them is left alone."""
    if path.endswith(".py"):
        try:
            labels = pipeline_literal(text).get("labels")
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return False
    else:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            return False
        metadata = document.get("metadata") if isinstance(document, dict) else None
        labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return isinstance(labels, dict) and labels.get(MANAGED_BY) == MANAGER


def size_problems(pipeline: Pipeline, platform: Platform) -> list[Diagnostic]:
    """The exact size of what `pipeline` renders to, over its limit (spec/size.py), with a
    placeholder image (a digest reference has a fixed length)."""
    image = f"{platform.registry}/{pipeline.metadata.team}/{pipeline.metadata.name}@" \
            f"{PLACEHOLDER_DIGEST}"
    size = len(render_pipeline(pipeline, platform, image, NO_REVISION).content.encode("utf-8"))
    return [too_big(pipeline, size)] if size > limit(pipeline) else []

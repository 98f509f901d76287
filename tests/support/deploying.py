"""Deploying to the fake API server the way `deploy` does, without building: a committed
pipeline, the real render (render/desired.py) with a made-up image digest, and a real
DeployContext (the kubernetes client adapter, the git history adapter)."""

from __future__ import annotations

from pathlib import Path

from pipelinectl import wiring
from pipelinectl.adapters.git import GitHistory
from pipelinectl.adapters.kube import Kube
from pipelinectl.deploy import engine, state
from pipelinectl.render.desired import Desired, dag_places, desired
from pipelinectl.spec import platform, previews
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import load_pipelines
from pipelinectl.vocabulary import ENV_REVISION, GIT_SHA_ANNOTATION
from tests.support.fakekube import FakeKube
from tests.support.repo import git, valid_pipeline

IMAGE = "127.0.0.1:5000/default/{name}@sha256:" + "1" * 64
SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: {name}, team: default}}
image: {{language: python, version: "3.12", dependencies: requirements.txt}}
schedule: "{cron}"
tasks:
  - name: fetch
    command: [python, fetch.py]
    secrets: [{secrets}]
"""


def commit(repo: Path, name: str = "etl", cron: str = "0 7 * * *", message: str = "x") -> str:
    valid_pipeline(repo / name, SPEC.format(name=name, cron=cron, secrets="db"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def desired_of(repo: Path, config: platform.Platform | None = None,
               preview: int | None = None) -> list[Desired]:
    """What `deploy` would render for the repository's pipelines at HEAD (`preview`: what
    `preview deploy` would, for that merge request)."""
    config = config or platform.load(None)
    pipelines = load_pipelines(find_pipelines([], repo), config, None, repo)
    revision = wiring.revisions(repo.resolve(), pipelines)
    return [desired(p if preview is None else previews.as_preview(p, preview), config,
                    IMAGE.format(name=p.metadata.name), revision[p.file]) for p in pipelines]


def context(repo: Path, kubeconfig: Path, force: bool = False,
            config: platform.Platform | None = None) -> engine.DeployContext:
    """As `deploy` makes it: the kubernetes client adapter, the git history, and the DAG
    places of `config` (default: the built-in local platform)."""
    kube = Kube(Kube.connect({"KUBECONFIG": str(kubeconfig)})._client, sleep=lambda _: None)
    dag_namespace, dag_folders = dag_places(config or platform.load(None))
    return engine.DeployContext(kube, GitHistory(repo), git(repo, "rev-parse", "HEAD"),
                                "production", "epi/covid", "2026-11-23T10:00:00Z", force,
                                dag_namespace=dag_namespace, dag_folders=dag_folders)


def run(repo: Path, fake: FakeKube, tmp_path: Path, force: bool = False,
        prune_removed: bool = True) -> list[engine.DeployOutcome]:
    return engine.run(desired_of(repo), context(repo, tmp_path / "kubeconfig", force),
                      prune_removed)


def live_cronjob(fake: FakeKube, name: str = "etl") -> dict:  # type: ignore[type-arg]
    found = fake.get("cronjobs", "default", name)
    assert found is not None
    return found


def without_revision(value: object) -> object:
    """`value` without the pipeline's revision (the git-sha annotation and the
    PIPELINECTL_REVISION variable): a revert is a new commit that changed the pipeline."""
    if isinstance(value, dict):
        return {k: without_revision(v) for k, v in value.items() if k != GIT_SHA_ANNOTATION}
    if isinstance(value, list):
        return [without_revision(v) for v in value
                if not (isinstance(v, dict) and v.get("name") == ENV_REVISION)]
    return value


def recorded(fake: FakeKube, name: str = "etl") -> state.State:
    found = fake.get("configmaps", "default", state.object_name(name))
    assert found is not None
    return state.from_configmap(found)

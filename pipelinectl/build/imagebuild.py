"""Build what changed, reuse what exists: the image step of `build` and `deploy`.

The registry alone decides (no local cache file that an ephemeral CI runner would lose):
1. each pipeline's content tag is looked up; found -> no build, no push, its digest is used;
2. otherwise the image is built (all builds first: one failure means nothing is pushed), then
   pushed under its content tag and its commit's `git-` tag;
3. a commit that moves a pipeline to an image that exists but is not the one of its nearest
   tagged ancestor (a revert) gets a `git-` tag copied in the registry, with no layer moved.
Each build says why: the inputs that differ from the image it replaces, read from its labels.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from pipelinectl.adapters import buildkit, contextdir, credentials
from pipelinectl.adapters.git import GitState
from pipelinectl.adapters.registry import RegistryClient, split_repository
from pipelinectl.build import digest, images
from pipelinectl.spec.platform import Platform

if TYPE_CHECKING:
    import docker

UP_TO_DATE, REUSED, BUILD = "up to date", "reused", "build"
LOOKUP_WORKERS = 8


@dataclass
class Outcome:
    plan: images.ImagePlan
    action: str  # up to date | reused | build (| built locally, with push off)
    digest: str | None = None  # registry digest (sha256:...) once known
    local_id: str | None = None
    previous: tuple[str, str] | None = None  # (commit, digest) of the image it replaces
    reasons: list[str] = field(default_factory=list)
    clean: bool = True  # no uncommitted changes in the pipeline's inputs

    @property
    def reference(self) -> str | None:
        return self.plan.reference(self.digest) if self.digest else None


@dataclass(frozen=True)
class Settings:
    platform: Platform
    environ: Mapping[str, str]
    git: GitState | None
    repo_root: Path
    push: bool
    report: Callable[[str], None]


def run(plans: list[images.ImagePlan], settings: Settings) -> list[Outcome]:
    outcomes = [Outcome(p, BUILD, clean=_clean(p, settings)) for p in plans]
    return (_run_pushing if settings.push else _run_local)(outcomes, settings)


def _run_pushing(outcomes: list[Outcome], settings: Settings) -> list[Outcome]:
    clients = _decide_all(outcomes, settings)
    todo = [o for o in outcomes if o.action == BUILD]
    if todo:
        cli = buildkit.find_cli(settings.environ)
        # The docker SDK (for the push) loads while BuildKit builds: its import costs as
        # much as a cached rebuild.
        sdk = ThreadPoolExecutor(max_workers=1)
        loading = sdk.submit(importlib.import_module, "pipelinectl.adapters.docker")
        ca_bundle = settings.platform.ca_bundle_path()
        for outcome in todo:  # every build before any push: a failure pushes nothing
            _build(outcome, cli, ca_bundle, settings)
        docker_adapter = loading.result()
        sdk.shutdown()
        client = docker_adapter.connect(settings.environ)
        for outcome in todo:
            _push(outcome, docker_adapter, client, clients[_host(outcome.plan)], settings)
    _retag(outcomes, clients, settings)
    return outcomes


def _run_local(outcomes: list[Outcome], settings: Settings) -> list[Outcome]:
    """--no-push: the local daemon's images decide; the registry is never contacted."""
    cli = buildkit.find_cli(settings.environ)
    for outcome in outcomes:
        outcome.local_id = buildkit.local_image(
            cli, f"{outcome.plan.repository}:{outcome.plan.content_tag}", settings.environ)
        if outcome.local_id:
            outcome.action = UP_TO_DATE
    ca_bundle = settings.platform.ca_bundle_path()
    for outcome in outcomes:
        if outcome.action == BUILD:
            outcome.reasons = ["not in the local Docker daemon's images"]
            _build(outcome, cli, ca_bundle, settings)
    return outcomes


def decide(plans: list[images.ImagePlan], settings: Settings) -> list[Outcome]:
    """What `build` would do, asking the registry only: nothing is built or written."""
    outcomes = [Outcome(p, BUILD, clean=_clean(p, settings)) for p in plans]
    _decide_all(outcomes, settings)
    return outcomes


def _decide_all(outcomes: list[Outcome], settings: Settings) -> dict[str, RegistryClient]:
    """Ask the registry about every outcome at once; the clients, by host, for later."""
    clients = _registry_clients([o.plan for o in outcomes], settings.environ)
    with ThreadPoolExecutor(max_workers=LOOKUP_WORKERS) as pool:
        list(pool.map(lambda o: _decide(o, clients[_host(o.plan)], settings), outcomes))
    return clients


def lookup(plans: list[images.ImagePlan], environ: Mapping[str, str]) -> dict[str, str | None]:
    """The registry digest of each plan's content tag (None: not built), by pipeline file."""
    clients = _registry_clients(plans, environ)

    def one(plan: images.ImagePlan) -> str | None:
        repo = split_repository(plan.repository)[1]
        return clients[_host(plan)].manifest_digest(repo, plan.content_tag)

    with ThreadPoolExecutor(max_workers=LOOKUP_WORKERS) as pool:
        return dict(zip([p.pipeline.file for p in plans], pool.map(one, plans), strict=True))


def _host(plan: images.ImagePlan) -> str:
    return split_repository(plan.repository)[0]


def _registry_clients(plans: list[images.ImagePlan],
                      environ: Mapping[str, str]) -> dict[str, RegistryClient]:
    hosts = {_host(p) for p in plans}
    return {h: RegistryClient(h, credentials.resolve(h, environ)) for h in sorted(hosts)}


def _clean(plan: images.ImagePlan, settings: Settings) -> bool:
    git = settings.git
    return git is not None and not git.is_dirty(settings.repo_root, plan.input_paths())


def _decide(outcome: Outcome, registry: RegistryClient, settings: Settings) -> None:
    plan = outcome.plan
    repo = split_repository(plan.repository)[1]
    outcome.digest = registry.manifest_digest(repo, plan.content_tag)
    outcome.previous = _previous(registry, repo, settings.git)
    if outcome.digest is not None:
        same = outcome.previous is not None and outcome.previous[1] == outcome.digest
        outcome.action = UP_TO_DATE if same or settings.git is None else REUSED
        return
    outcome.action = BUILD
    if outcome.previous is None:
        outcome.reasons = ["no earlier image of this pipeline in the registry"]
        return
    labels = registry.labels(repo, outcome.previous[1])
    outcome.reasons = digest.explain(labels.get(digest.LABEL_INPUTS), plan.inputs)


def _previous(registry: RegistryClient, repo: str,
              git: GitState | None) -> tuple[str, str] | None:
    """The image of the nearest commit in first-parent history that has a `git-` tag."""
    if git is None:
        return None
    tags = set(registry.tags(repo))
    for commit in git.history:
        if digest.git_tag(commit) in tags:
            found = registry.manifest_digest(repo, digest.git_tag(commit))
            if found:
                return commit, found
    return None


def _build(outcome: Outcome, cli: str, ca_bundle: str | None, settings: Settings) -> None:
    plan = outcome.plan
    settings.report(f"{plan.name}: building {plan.repository}:{plan.content_tag}")
    for reason in outcome.reasons:
        settings.report(f"  why: {reason}")
    tags = [f"{plan.repository}:{t}" for t in _tags(outcome, settings)]
    shown = str((plan.pipeline_dir / (plan.pipeline.image.dockerfile or "")).relative_to(
        settings.repo_root)) if plan.pipeline.image.dockerfile else plan.build.dockerfile
    outcome.local_id = buildkit.build(
        cli, plan.build, tags, images.labels(plan, settings.git, outcome.clean), ca_bundle,
        settings.environ, shown, contextdir.root(settings.environ, plan.repository),
        settings.report)


def _tags(outcome: Outcome, settings: Settings) -> list[str]:
    tags = [outcome.plan.content_tag]
    if settings.git is not None and outcome.clean:
        tags.append(digest.git_tag(settings.git.commit))
    return tags


def _push(outcome: Outcome, docker_adapter: ModuleType, client: docker.DockerClient,
          registry: RegistryClient, settings: Settings) -> None:
    """Layers go up once, under the content tag; the `git-` tag is then a manifest copy."""
    plan = outcome.plan
    found = credentials.resolve(_host(plan), settings.environ)
    pushed = docker_adapter.push(client, plan.repository, plan.content_tag, found,
                                 settings.report)
    outcome.digest = pushed.digest
    for tag in _tags(outcome, settings)[1:]:
        registry.copy_tag(split_repository(plan.repository)[1], pushed.digest, tag)


def _retag(outcomes: list[Outcome], clients: dict[str, RegistryClient],
           settings: Settings) -> None:
    """A reused image (a revert) gets the commit's `git-` tag, copied in the registry."""
    if settings.git is None:
        return
    for outcome in outcomes:
        if outcome.action == REUSED and outcome.clean and outcome.digest:
            repo = split_repository(outcome.plan.repository)[1]
            clients[_host(outcome.plan)].copy_tag(repo, outcome.digest,
                                                  digest.git_tag(settings.git.commit))

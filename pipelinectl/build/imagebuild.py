"""Build what changed, reuse what exists: the image step of `build` and `deploy`.

The registry alone decides (no local cache file that an ephemeral CI runner would lose):
1. each pipeline's content tag is looked up; found -> no build, no push, its digest is used;
2. otherwise the image is built (all builds first: one failure means nothing is pushed), then
   pushed under its content tag and its commit's `git-` tag;
3. a commit that moves a pipeline to an image that exists but is not the one of its nearest
   tagged ancestor (a revert) gets a `git-` tag copied in the registry, with no layer moved.
Each build says why: the inputs that differ from the image it replaces, read from its labels.
The registry and the builder are ports (build/ports.py): this module imports no adapter.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipelinectl.build import digest, images
from pipelinectl.build.images import split_repository
from pipelinectl.build.ports import Builder, Registry, Report, Tools
from pipelinectl.checkout import GitState
from pipelinectl.vocabulary import IMAGE_INPUTS_LABEL

ImageAction = Literal["up to date", "reused", "build", "promoted"]
UP_TO_DATE: ImageAction = "up to date"
REUSED: ImageAction = "reused"
BUILD: ImageAction = "build"
PROMOTED: ImageAction = "promoted"  # taken as an earlier environment built it
LOOKUP_WORKERS = 8


@dataclass
class ImageOutcome:
    plan: images.ImagePlan
    action: ImageAction
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
    tools: Tools
    git: GitState | None
    repo_root: Path
    push: bool
    report: Report


def run(plans: list[images.ImagePlan], settings: Settings) -> list[ImageOutcome]:
    outcomes = [ImageOutcome(p, BUILD, clean=_clean(p, settings)) for p in plans]
    return (_run_pushing if settings.push else _run_local)(outcomes, settings)


def _run_pushing(outcomes: list[ImageOutcome], settings: Settings) -> list[ImageOutcome]:
    _decide_all(outcomes, settings)
    todo = [o for o in outcomes if o.action == BUILD]
    if todo:
        builder = settings.tools.builder()
        for outcome in todo:  # every build before any push: a failure pushes nothing
            _build(outcome, builder, settings)
        for outcome in todo:
            _push(outcome, builder, settings)
    _retag(outcomes, settings)
    return outcomes


def _run_local(outcomes: list[ImageOutcome], settings: Settings) -> list[ImageOutcome]:
    """--no-push: the local daemon's images decide; the registry is never contacted."""
    builder = settings.tools.builder()
    for outcome in outcomes:
        plan = outcome.plan
        outcome.local_id = builder.local_image(f"{plan.repository}:{plan.content_tag}")
        if outcome.local_id:
            outcome.action = UP_TO_DATE
    for outcome in outcomes:
        if outcome.action == BUILD:
            outcome.reasons = ["not in the local Docker daemon's images"]
            _build(outcome, builder, settings)
    return outcomes


def decide(plans: list[images.ImagePlan], settings: Settings) -> list[ImageOutcome]:
    """What `build` would do, asking the registry only: nothing is built or written."""
    outcomes = [ImageOutcome(p, BUILD, clean=_clean(p, settings)) for p in plans]
    _decide_all(outcomes, settings)
    return outcomes


def _decide_all(outcomes: list[ImageOutcome], settings: Settings) -> None:
    """Ask the registry about every outcome at once."""
    with ThreadPoolExecutor(max_workers=LOOKUP_WORKERS) as pool:
        list(pool.map(lambda o: _decide(o, settings), outcomes))


def promote(plans: list[images.ImagePlan], tools: Tools) -> list[ImageOutcome]:
    """For an environment that does not build: each plan's image as the registry has it
    under its content tag, asking only (nothing is built, pushed or tagged); an outcome
    without a digest has no image yet."""
    found = lookup(plans, tools)
    return [ImageOutcome(p, PROMOTED, digest=found[p.pipeline.file]) for p in plans]


def lookup(plans: list[images.ImagePlan], tools: Tools) -> dict[str, str | None]:
    """The registry digest of each plan's content tag (None: not built), by pipeline file."""
    def one(plan: images.ImagePlan) -> str | None:
        host, repo = split_repository(plan.repository)
        return tools.registry(host).manifest_digest(repo, plan.content_tag)

    with ThreadPoolExecutor(max_workers=LOOKUP_WORKERS) as pool:
        return dict(zip([p.pipeline.file for p in plans], pool.map(one, plans), strict=True))


def _registry(plan: images.ImagePlan, tools: Tools) -> tuple[Registry, str]:
    host, repo = split_repository(plan.repository)
    return tools.registry(host), repo


def _clean(plan: images.ImagePlan, settings: Settings) -> bool:
    git = settings.git
    return git is not None and not git.is_dirty(settings.repo_root, plan.input_paths())


def _decide(outcome: ImageOutcome, settings: Settings) -> None:
    plan = outcome.plan
    registry, repo = _registry(plan, settings.tools)
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
    outcome.reasons = digest.explain(labels.get(IMAGE_INPUTS_LABEL), plan.inputs)


def _previous(registry: Registry, repo: str, git: GitState | None) -> tuple[str, str] | None:
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


def _build(outcome: ImageOutcome, builder: Builder, settings: Settings) -> None:
    plan = outcome.plan
    settings.report(f"{plan.name}: building {plan.repository}:{plan.content_tag}")
    for reason in outcome.reasons:
        settings.report(f"  why: {reason}")
    shown = str((plan.pipeline_dir / (plan.pipeline.image.dockerfile or "")).relative_to(
        settings.repo_root)) if plan.pipeline.image.dockerfile else plan.build.dockerfile
    outcome.local_id = builder.build(
        plan.build, plan.repository, _tags(outcome, settings),
        images.labels(plan, settings.git, outcome.clean), shown, settings.report)


def _tags(outcome: ImageOutcome, settings: Settings) -> list[str]:
    tags = [outcome.plan.content_tag]
    if settings.git is not None and outcome.clean:
        tags.append(digest.git_tag(settings.git.commit))
    return tags


def _push(outcome: ImageOutcome, builder: Builder, settings: Settings) -> None:
    """Layers go up once, under the content tag; the `git-` tag is then a manifest copy."""
    plan = outcome.plan
    outcome.digest = builder.push(plan.repository, plan.content_tag, settings.report)
    registry, repo = _registry(plan, settings.tools)
    for tag in _tags(outcome, settings)[1:]:
        registry.copy_tag(repo, outcome.digest, tag)


def _retag(outcomes: list[ImageOutcome], settings: Settings) -> None:
    """A reused image (a revert) gets the commit's `git-` tag, copied in the registry."""
    if settings.git is None:
        return
    for outcome in outcomes:
        if outcome.action == REUSED and outcome.clean and outcome.digest:
            registry, repo = _registry(outcome.plan, settings.tools)
            registry.copy_tag(repo, outcome.digest, digest.git_tag(settings.git.commit))

"""`pipelinectl preview deploy|delete|prune`: a throw-away deployment per merge request.

`deploy` (CI, on a merge request) builds the images, as deploy does, and deploys the merge
request's commit into each team's preview namespace as the environment the merge request goes
into would run it, with every name suffixed -mr<N>, labelled pipelinectl.io/preview: N, and
every schedule suspended (spec/previews.py). `delete` removes everything of one preview
(objects, DAG files, state objects); `prune` removes this repository's previews deployed
longer ago than the platform's previews.expire_after. None of them touches anything else: a
preview's objects are told apart by their labels and state objects (deploy/engine.py), and a
deploy's are never a preview's (docs/how-to/previews.md).
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelinectl import wiring
from pipelinectl.build import imagebuild
from pipelinectl.deploy import engine, health
from pipelinectl.deploy.state import State
from pipelinectl.errors import EXIT_OK, UserError
from pipelinectl.render.airflow import dag_id
from pipelinectl.render.desired import Desired, dag_places, desired
from pipelinectl.spec import policy, previews
from pipelinectl.spec.discover import repo_root
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Platform
from pipelinectl.units import parse_duration


@dataclass(frozen=True)
class Args:
    action: Literal["deploy", "delete", "prune"]
    paths: list[str]
    repo_id: str | None
    platform: str | None
    mr: str | None = None  # deploy and delete


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    config = wiring.load_platform(args.platform, environ)
    if config.previews is None:
        raise UserError("the platform has no previews",
                        hint="the platform team adds `previews: {namespace: "
                             "\"{namespace}-preview\", expire_after: 7d}`; see "
                             "docs/how-to/previews.md")
    if args.action == "deploy":
        loaded = wiring.load(args.paths, args.platform, args.repo_id, environ, cwd)
        return _deploy(loaded, previews.number(args.mr, environ), environ)
    # delete and prune act on what the state objects record: no pipeline file is read, so
    # they also run without a checkout (a stop job after the branch is gone)
    where = _Where(config, policy.repo_id_from(dict(environ), args.repo_id), repo_root(cwd))
    if args.action == "delete":
        number = previews.number(args.mr, environ)
        return _remove(where, environ, f"preview-mr{number}",
                       lambda _ns, record: record.preview == number,
                       f"no preview of merge request {number} to delete")
    assert config.previews is not None
    limit = parse_duration(config.previews.expire_after)
    now = datetime.datetime.now(datetime.UTC)
    return _remove(where, environ, "preview-prune",
                   lambda _ns, record: record.preview is not None and
                   _age(record, now) > limit,
                   f"no preview older than {config.previews.expire_after}")


@dataclass(frozen=True)
class _Where:
    """What delete and prune need: the platform, the CI project, the repository's folder."""

    config: Platform
    repo_id: str | None
    root: Path


def _deploy(loaded: wiring.Loaded, number: int, environ: Mapping[str, str]) -> int:
    root = loaded.root
    git = wiring.committed(root, environ)
    target = wiring.environment(loaded.config, None, environ, root)
    inside = loaded.in_environment(target)  # as the environment it goes into runs it
    view = loaded.config.in_previews(target)
    built = imagebuild.run(inside.plans(), wiring.image_settings(view, environ, git, root))
    revision = wiring.revisions(root, [o.plan.pipeline for o in built])
    shown = {}
    wanted = []
    for outcome in built:
        assert outcome.reference is not None
        pipeline = previews.as_preview(outcome.plan.pipeline, number)
        shown[pipeline.metadata.name] = (pipeline, outcome)
        wanted.append(desired(pipeline, view, outcome.reference,
                              revision[outcome.plan.pipeline.file]))
    with wiring.delivery(view, root, environ) as delivery:
        ctx = engine.DeployContext(
            wiring.cluster(view, root, environ), wiring.history(root), git.commit,
            f"preview-mr{number}", wiring.source(loaded.repo_id, git, root), wiring.now(),
            False, delivery, wiring.progress, *dag_places(view), guard=False)
        outcomes = engine.run(wanted, ctx, prune_removed=False)
    for result, item in zip(outcomes, wanted, strict=True):
        pipeline, image = shown[result.pipeline]
        sys.stdout.write(_said(result, item, pipeline, image.action))
    sys.stderr.write(f"preview of merge request {number} ({git.commit[:12]}, as {target} "
                     "runs it) deployed\n")
    return EXIT_OK


def _said(result: engine.DeployOutcome, item: Desired, pipeline: Pipeline,
          action: imagebuild.ImageAction) -> str:
    built = "built" if action == imagebuild.BUILD else action
    changes = ", ".join(i.describe() for i in result.applied) or "nothing changed"
    assert pipeline.preview is not None
    start = health.start_command(
        pipeline.metadata.name.removesuffix(previews.suffix(pipeline.preview)), pipeline.preview)
    if pipeline.resolved_engine != "cronjob":  # Airflow 3 keeps a paused DAG's runs queued
        start += f" (its run stays queued until DAG {dag_id(pipeline)} is unpaused in Airflow)"
    return (f"{result.pipeline}: image {built}; {changes} (schedule suspended)\n"
            f"  start a run: {start}\n")


def _remove(where: _Where, environ: Mapping[str, str], holder: str,
            select: Callable[[str, State], bool], none: str) -> int:
    config, root = where.config, where.root
    git = wiring.git_state(root, environ)
    source = wiring.source(where.repo_id, git, root)
    target = wiring.environment(config, None, environ, root)
    view = config.in_previews(target)
    with wiring.delivery(view, root, environ) as delivery:
        ctx = engine.DeployContext(
            wiring.cluster(view, root, environ), wiring.history(root),
            git.commit if git else "", holder, source, wiring.now(), False, delivery,
            wiring.progress, *dag_places(view), guard=False)
        outcomes = engine.remove(ctx, _namespaces(view),
                                 lambda ns, record: record.source == source and
                                 select(ns, record))
    for result in outcomes:
        pruned = ", ".join(i.describe() for i in result.pruned) or "nothing left"
        sys.stdout.write(f"{result.pipeline}: removed {pruned} and its state\n")
    if not outcomes:
        sys.stdout.write(none + "\n")
    return EXIT_OK


def _namespaces(view: Platform) -> list[str]:
    return sorted({team.namespace for team in view.teams.values()})


def _age(record: State, now: datetime.datetime) -> float:
    """Seconds since the preview's last deploy (a time it cannot read counts as old)."""
    try:
        then = datetime.datetime.strptime(record.current.deployed_at, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return float("inf")
    return (now - then.replace(tzinfo=datetime.UTC)).total_seconds()

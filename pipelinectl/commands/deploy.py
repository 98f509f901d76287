"""`pipelinectl deploy`: validate, build or reuse, render, preflight, apply, prune, record.

What CI runs on every push to the deploying branch. Git is the interface: the commit must be
clean and on a branch the platform maps to an environment; a commit that does not descend
from the deployed one is refused (deploy/engine.py).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelinectl import wiring
from pipelinectl.build import imagebuild
from pipelinectl.commands import backfill
from pipelinectl.deploy import airflowbackfills, dagruns, engine
from pipelinectl.deploy.ports import Cluster
from pipelinectl.errors import EXIT_OK, EXIT_USER, UserError
from pipelinectl.render.airflow import dag_id
from pipelinectl.render.desired import Desired, dag_places, desired
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Platform
from pipelinectl.textsafe import inline


@dataclass(frozen=True)
class Args:
    paths: list[str]
    force: bool
    repo_id: str | None
    platform: str | None


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    loaded = wiring.load(args.paths, args.platform, args.repo_id, environ, cwd)
    git = wiring.committed(loaded.root, environ)
    environment = _environment(loaded.config, wiring.branch(loaded.root, environ))
    everywhere = loaded.config
    loaded = loaded.in_environment(environment)
    config, root, repo_id = loaded.config, loaded.root, loaded.repo_id
    assert config.environment is not None
    _refuse_airflow_backfills(config, [plan.pipeline for plan in loaded.plans()])
    if config.environment.build:
        built = imagebuild.run(loaded.plans(), wiring.image_settings(config, environ, git,
                                                                     root))
    else:  # promotion: the images an earlier environment built, never a build or a push
        built = imagebuild.promote(loaded.plans(), wiring.build_tools(config, environ))
        _refuse_missing(built, everywhere, environment, git.commit)
    images = {(config.teams[o.plan.pipeline.metadata.team].namespace, o.plan.name): o
              for o in built}
    if config.kubernetes_directory is not None:
        backfill.refuse_secrets([o.plan.pipeline for o in built])
    revision = wiring.revisions(root, [o.plan.pipeline for o in built])
    wanted = [desired(o.plan.pipeline, config, _reference(o), revision[o.plan.pipeline.file])
              for o in built]
    with wiring.delivery(config, root, environ) as delivery:
        ctx = engine.DeployContext(
            wiring.cluster(config, root, environ), wiring.history(root), git.commit,
            environment, wiring.source(repo_id, git, root), wiring.now(), args.force, delivery,
            wiring.progress, *dag_places(config))
        outcomes = engine.run(wanted, ctx, prune_removed=not args.paths,
                              namespaces=_team_namespaces(config, repo_id))
    for result in outcomes:
        image = None if result.removed else images.get((result.namespace, result.pipeline))
        _say(result, image)
    _restore_dag_pauses(config, environ, [o.plan.pipeline for o in built], wanted, outcomes)
    _airflow_backfills(config, environ, ctx.cluster, images, outcomes)
    failed = _run_local_backfills(outcomes, images, root, config, environ)
    sys.stderr.write(f"deployed {git.commit[:12]} to {environment}"
                     + (" (forced past the stale-commit guard)" if args.force else "") + "\n")
    return EXIT_USER if failed else EXIT_OK


def _refuse_airflow_backfills(config: Platform, pipelines: list[Pipeline]) -> None:
    """On a cluster, Airflow starts the airflow engine's backfills, through its REST API:
    without airflow.api nothing could start them, so the deploy stops before any work."""
    if config.kubernetes_directory is not None or config.airflow.api is not None:
        return
    for pipeline in pipelines:
        if pipeline.resolved_engine == "airflow" and pipeline.backfills:
            raise UserError(f"{pipeline.metadata.name}: backfills of the airflow engine are "
                            "started through Airflow's REST API, and the platform sets no "
                            "airflow.api: nothing deployed",
                            hint="set airflow.api in the platform config (see "
                                 "docs/how-to/airflow-api.md), or remove the backfills")


def _airflow_backfills(config: Platform, environ: Mapping[str, str], cluster: Cluster,
                       images: Mapping[tuple[str, str], imagebuild.ImageOutcome],
                       outcomes: list[engine.DeployOutcome]) -> None:
    """The airflow engine's backfills the deploy starts or stops, through Airflow's REST API
    (deploy/airflowbackfills.py), each recorded in the state once Airflow has it."""
    pending = [o for o in outcomes if o.airflow_backfills[0] or o.airflow_backfills[1]]
    if not pending:
        return
    api = wiring.airflow_api(config, environ)
    assert api is not None  # _refuse_airflow_backfills
    dags = {place: dag_id(built.plan.pipeline) for place, built in images.items()}
    for line in airflowbackfills.apply(api, cluster, dags, pending, wiring.now()):
        sys.stdout.write(line + "\n")


def _run_local_backfills(outcomes: list[engine.DeployOutcome],
                         images: Mapping[tuple[str, str], imagebuild.ImageOutcome], root: Path,
                         config: Platform, environ: Mapping[str, str]) -> int:
    """The local platform: the backfills the deploy started run now, in docker (the deploy
    is recorded first: an id runs once). The number of runs that failed."""
    failed = 0
    cluster = wiring.cluster(config, root, environ) if any(
        o.local_backfills for o in outcomes) else None
    for result in outcomes:
        built = images.get((result.namespace, result.pipeline))
        for planned in result.local_backfills:
            assert cluster is not None and built is not None
            done, bad = backfill.run_all(root, built.plan.pipeline, cluster, result.namespace,
                                         _reference(built), planned, environ)
            sys.stdout.write(f"backfill {planned.id}: {done} of {len(planned.ticks)} runs "
                             f"succeeded" + (f", {bad} failed" if bad else "") + "\n")
            failed += bad
    return failed


def _refuse_missing(built: list[imagebuild.ImageOutcome], config: Platform, environment: str,
                    commit: str) -> None:
    """A promotion whose images are not all in the registry stops before any write, naming
    the environment that builds them."""
    missing = [o for o in built if o.digest is None]
    if not missing:
        return
    names = list(config.environments)
    builder = next((config.environments[n] for n in reversed(names[:names.index(environment)])
                    if config.environments[n].build), None)
    assert builder is not None  # the platform check: a build environment comes first
    listed = ", ".join(f"{o.plan.name} ({o.plan.repository}:{o.plan.content_tag[:20]}...)"
                       for o in missing)
    raise UserError(
        f"{environment} does not build images, and the registry has none for the content of "
        f"commit {commit[:12]} of: {listed}",
        hint=f"environment {builder.name} builds them: deploy this commit there first (push "
             f"it to branch {builder.branch}), then merge it into "
             f"{config.environments[environment].branch}; see docs/how-to/promote.md")


def _reference(outcome: imagebuild.ImageOutcome) -> str:
    assert outcome.reference is not None  # pushed or found: every image has its digest
    return outcome.reference


def _environment(config: Platform, branch: str | None) -> str:
    found = config.environment_of_branch(branch)
    if found is not None:
        return found.name
    mapping = ", ".join(f"{e.branch} -> {e.name}" for e in config.environments.values())
    raise UserError(f"branch {branch or '(detached HEAD)'} deploys to no environment",
                    hint=f"the platform maps {mapping}; feature branches never deploy (in CI "
                         "the branch comes from CI_COMMIT_BRANCH or GITHUB_REF_NAME); see "
                         "docs/reference/platform.md#environments")


def _team_namespaces(config: Platform, repo_id: str | None) -> tuple[str, ...]:
    """Where this repository may have deployed before: to find pipelines it removed."""
    return tuple(sorted({team.namespace for team in config.teams.values()
                         if repo_id is not None and team.repos is not None
                         and repo_id in team.repos}))


def _say(result: engine.DeployOutcome, image: imagebuild.ImageOutcome | None) -> None:
    parts = []
    if result.applied:
        parts.append("applied " + ", ".join(i.describe() for i in result.applied))
    if result.unchanged:
        parts.append(f"{len(result.unchanged)} unchanged")
    if result.pruned:
        parts.append("pruned " + ", ".join(i.describe() for i in result.pruned))
    action = "built" if image and image.action == imagebuild.BUILD else \
        image.action if image else ""
    what = "; ".join(parts) or "nothing to do"
    sys.stdout.write(f"{result.pipeline}: "
                     f"{'removed from the repository; ' if result.removed else ''}"
                     f"{f'image {action}; ' if image else ''}{what}\n")
    for note in result.restored:  # a pause or resume by hand, undone: said, not silent
        sys.stdout.write(note + "\n")
    for note in result.backfills:
        sys.stdout.write(f"{result.pipeline}: {inline(note)}\n")


def _restore_dag_pauses(config: Platform, environ: Mapping[str, str],
                        pipelines: list[Pipeline], wanted: list[Desired],
                        outcomes: list[engine.DeployOutcome]) -> None:
    """Airflow keeps a DAG's pause itself (the file's is_paused_upon_creation counts once):
    with the platform's airflow.api, git's pause is put back through the REST API, and said."""
    api = wiring.airflow_api(config, environ)
    if api is None:
        return
    before = {(o.namespace, o.pipeline): o.previous_paused for o in outcomes}
    for pipeline, item in zip(pipelines, wanted, strict=True):
        if pipeline.resolved_engine == "airflow" and item.paused is not None:
            note = dagruns.restore_pause(api, dag_id(pipeline), item.pipeline, item.paused,
                                         before.get((item.namespace, item.pipeline)))
            if note:
                sys.stdout.write(note + "\n")

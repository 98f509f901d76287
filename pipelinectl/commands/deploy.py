"""`pipelinectl deploy`: validate, build or reuse, render, preflight, apply, prune, record.

What CI runs on every push to the deploying branch. Git is the interface: the commit must be
clean and on a branch the platform maps to an environment; a commit that does not descend
from the deployed one is refused (deploy.py).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Mapping
from pathlib import Path

from pipelinectl import wiring as common
from pipelinectl.adapters import dags as dag_delivery
from pipelinectl.adapters import git as git_adapter
from pipelinectl.adapters.kube import Kube
from pipelinectl.adapters.kubedir import DirectoryKube
from pipelinectl.build import imagebuild
from pipelinectl.deploy import engine as deploy
from pipelinectl.errors import EXIT_OK, UserError
from pipelinectl.render import desired as targets
from pipelinectl.spec.platform import Platform


def run(args: argparse.Namespace, environ: Mapping[str, str], cwd: Path) -> int:
    loaded = common.load(args.paths, args.platform, args.repo_id, environ, cwd)
    config, root, repo_id = loaded.config, loaded.root, loaded.repo_id
    git = _committed(root, environ)
    environment = _environment(config, git_adapter.branch(root, environ))
    built = imagebuild.run(loaded.plans(), imagebuild.Settings(config, environ, git, root, True,
                                                               common.progress))
    wanted = []
    for outcome in built:
        assert outcome.reference is not None
        wanted.append(targets.desired(outcome.plan.pipeline, config, outcome.reference,
                                      git.commit))
    kube = cluster(config, root, environ)
    delivery = delivery_for(config, root, environ)
    ctx = deploy.Context(kube, git, root, environment, source(repo_id, git, root), _now(),
                         args.force, delivery, common.progress)
    try:
        outcomes = deploy.run(wanted, ctx, prune_removed=not args.paths,
                              namespaces=_team_namespaces(config, repo_id))
    finally:
        if isinstance(delivery, dag_delivery.GitDelivery):
            delivery.close()
    for outcome, result in zip(built, outcomes, strict=False):
        action = "built" if outcome.action == imagebuild.BUILD else outcome.action
        _say(outcome.plan.name, action, result)
    for result in outcomes[len(built):]:
        _say(result.pipeline, "removed", result)
    sys.stderr.write(f"deployed {git.commit[:12]} to {environment}"
                     + (" (forced past the stale-commit guard)" if args.force else "") + "\n")
    return EXIT_OK


def cluster(config: Platform, root: Path, environ: Mapping[str, str]) -> Kube | DirectoryKube:
    """The platform's cluster, or its folder of objects (the local platform)."""
    if config.kubernetes_directory is not None:
        folder = Path(config.kubernetes_directory)
        return DirectoryKube(folder if folder.is_absolute() else root / folder)
    return Kube.connect(environ)


def source(repo_id: str | None, git: git_adapter.GitState | None, root: Path) -> str:
    """Which repository deploys: scopes the removal of pipelines it no longer has."""
    return repo_id or (git.source_url if git else None) or str(root)


def _committed(root: Path, environ: Mapping[str, str]) -> git_adapter.GitState:
    git = git_adapter.read(root, environ)
    if git is None:
        raise UserError(f"{root} is not a git repository with a commit: a deploy is a commit",
                        hint="commit the pipeline and deploy from CI")
    # .pipelinectl/ holds pipelinectl's own output (the local platform's objects and DAGs,
    # renders, runs): not part of what is deployed.
    changed_paths = sorted(p for p in git.dirty if not p.startswith(".pipelinectl/"))
    if changed_paths:
        changed = ", ".join(changed_paths[:5])
        raise UserError(f"uncommitted changes ({changed}): a deploy is a commit",
                        hint="commit or stash them; CI deploys what was pushed")
    return git


def _environment(config: Platform, branch: str | None) -> str:
    for name, wanted in sorted(config.environments.items()):
        if wanted == branch:
            return name
    mapping = ", ".join(f"{b} -> {n}" for n, b in sorted(config.environments.items()))
    raise UserError(f"branch {branch or '(detached HEAD)'} deploys to no environment",
                    hint=f"the platform maps {mapping}; feature branches never deploy (in CI "
                         "the branch comes from CI_COMMIT_BRANCH or GITHUB_REF_NAME)")


def delivery_for(config: Platform, root: Path,
              environ: Mapping[str, str]) -> deploy.Delivery | None:
    dags = config.airflow.dags
    if dags.kind == "directory":
        assert dags.directory is not None
        folder = Path(dags.directory)
        return dag_delivery.DirectoryDelivery(folder if folder.is_absolute() else root / folder)
    if dags.kind == "git":
        assert dags.repo is not None
        return dag_delivery.GitDelivery(dags.repo, dags.branch, environ)
    return None  # configmap: Kubernetes objects


def _team_namespaces(config: Platform, repo_id: str | None) -> tuple[str, ...]:
    """Where this repository may have deployed before: to find pipelines it removed."""
    return tuple(sorted({team.namespace for team in config.teams.values()
                         if repo_id is not None and team.repos is not None
                         and repo_id in team.repos}))


def _say(name: str, image_action: str, result: deploy.Outcome) -> None:
    parts = []
    if result.applied:
        parts.append("applied " + ", ".join(i.describe() for i in result.applied))
    if result.unchanged:
        parts.append(f"{len(result.unchanged)} unchanged")
    if result.pruned:
        parts.append("pruned " + ", ".join(i.describe() for i in result.pruned))
    image = "" if image_action == "removed" else f"image {image_action}; "
    what = "; ".join(parts) or "nothing to do"
    sys.stdout.write(f"{name}: {'removed from the repository; ' if result.removed else ''}"
                     f"{image}{what}\n")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


"""Where the commands get their parts: the one place that turns the platform config, the
environment and the checkout into the adapters the stage wings' ports expect (the cluster or
its folder, the DAG delivery, the git history, the registry and the builder), and loads and
checks the pipelines a command acts on. Commands call this; no wing imports it.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipelinectl.build import imagebuild, images
from pipelinectl.build.context import Tracked
from pipelinectl.build.ports import Tools
from pipelinectl.checkout import GitState
from pipelinectl.deploy import state
from pipelinectl.deploy.ports import AirflowApi, Cluster, Delivery, History
from pipelinectl.deploy.state import State
from pipelinectl.errors import Diagnostic, InvalidInput, UserError, did_you_mean
from pipelinectl.spec import environments, platform, policy
from pipelinectl.spec.discover import find_pipelines, repo_root
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Platform
from pipelinectl.spec.validation import default_jobs, load_pipelines
from pipelinectl.vocabulary import OUTPUT_DIR


@dataclass(frozen=True)
class Loaded:
    """Valid pipelines with the platform they were checked against."""

    config: Platform
    repo_id: str | None
    pipelines: list[Pipeline]
    root: Path  # the repository root
    cwd: Path

    def plans(self, include_untracked: bool = False) -> list[images.ImagePlan]:
        """Each pipeline's image plan (reads and hashes its build context): only the files
        git tracks, plus, with `include_untracked` (a local run that asks for it), the
        untracked files git does not ignore. Ignored files never enter an image."""
        tracked = git_tracked(self.root)
        if include_untracked and tracked is not None:
            tracked = tracked.plus(untracked_files(self.root))
        return [images.plan(p, p.folder, self.config, tracked) for p in self.pipelines]

    def in_environment(self, name: str) -> Loaded:
        """These pipelines as environment `name` runs them: the platform's view of it (each
        team's namespace there, its DAG delivery) and each pipeline with its overlay."""
        config = self.config.in_environment(name)
        pipelines, problems = [], []
        for pipeline in self.pipelines:
            built, found = environments.in_environment(pipeline, config)
            pipelines.append(built)
            problems += found
        if problems:  # validate reported them already; a pipeline checked alone may not have
            raise InvalidInput(problems)
        return dataclasses.replace(self, config=config, pipelines=pipelines)

    def untracked_in(self, pipeline: Pipeline) -> list[str]:
        """Untracked, not ignored files under the pipeline's folder (repo-relative, sorted)."""
        try:
            below = pipeline.folder.relative_to(self.root).as_posix()
        except ValueError:
            return []
        prefix = "" if below == "." else below + "/"
        return sorted(p for p in untracked_files(self.root) if p.startswith(prefix))


def load(paths: list[str], platform_option: str | None, repo_id_option: str | None,
         environ: Mapping[str, str], cwd: Path) -> Loaded:
    """The platform, then every pipeline under `paths`: any problem stops the command here."""
    config = load_platform(platform_option, environ)
    repo_id = policy.repo_id_from(dict(environ), repo_id_option)
    pipelines = load_pipelines(find_pipelines(paths, cwd), config, repo_id, cwd,
                               default_jobs(), measure=measure_rendered)
    return Loaded(config, repo_id, pipelines, repo_root(cwd), cwd)


# The branch a merge request goes into, as GitLab and GitHub name it: a plan on a merge request
# shows what will change in that branch's environment.
TARGET_BRANCH_VARIABLES = ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "GITHUB_BASE_REF")


def environment(config: Platform, option: str | None, environ: Mapping[str, str],
                root: Path) -> str:
    """Which environment a command shows: --environment; else the environment of the branch a
    merge request goes into; else the current branch's; else the first one (where a new
    commit lands first)."""
    if option is not None:
        if option not in config.environments:
            known = list(config.environments)
            raise UserError(f"--environment {option!r}: the platform has no such environment",
                            hint=did_you_mean(option, known) or
                            f"its environments: {', '.join(known)}")
        return option
    for variable in TARGET_BRANCH_VARIABLES:
        found = config.environment_of_branch(environ.get(variable) or None)
        if found is not None:
            return found.name
    found = config.environment_of_branch(branch(root, environ))
    return found.name if found is not None else next(iter(config.environments))


def measure_rendered(pipeline: Pipeline, platform: Platform) -> list[Diagnostic]:
    """The rendered size of a pipeline that may not fit (spec/size.py asks only then)."""
    from pipelinectl.render.outputs import size_problems

    return size_problems(pipeline, platform)


def load_platform(option: str | None, environ: Mapping[str, str]) -> Platform:
    """--platform, else $PIPELINECTL_PLATFORM, else the built-in local platform."""
    return platform.load(platform.resolve(option, environ))


def progress(line: str) -> None:
    """Progress goes to stderr, results to stdout."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def git_state(root: Path, environ: Mapping[str, str]) -> GitState | None:
    from pipelinectl.adapters import git

    return git.read(root, environ)


def git_tracked(root: Path) -> Tracked | None:
    from pipelinectl.adapters import git

    return git.tracked(root)


def revisions(root: Path, pipelines: list[Pipeline]) -> dict[str, str]:
    """Each pipeline's revision (by its file): the last commit that changed a file it is made
    of (build/images.py: source_folders), or NO_REVISION. A shallow clone whose history stops
    before some pipeline's last change is deepened first, as the stale-commit guard does; if
    that cannot be, the oldest fetched commit stands in, and the command says so."""
    from pipelinectl.adapters import git
    from pipelinectl.render.outputs import NO_REVISION

    wanted = {p.file: images.source_folders(p, root) for p in pipelines}
    found = git.last_changes(root, wanted)
    if git.is_shallow(root) and set(found.values()) & git.shallow_roots(root):
        if git.deepen(root):
            found = git.last_changes(root, wanted)
        else:
            progress("warning: a shallow clone without the history of every pipeline: their "
                     "pipelinectl.io/git-sha is the oldest commit fetched (fetch the full "
                     "history: docs/explanation/how-deploy-decides.md#the-stale-commit-guard)")
    return {p.file: found.get(p.file, NO_REVISION) for p in pipelines}


def untracked_files(root: Path) -> frozenset[str]:
    from pipelinectl.adapters import git

    return git.untracked(root)


def history(root: Path) -> History:
    from pipelinectl.adapters.git import GitHistory

    return GitHistory(root)


def branch(root: Path, environ: Mapping[str, str]) -> str | None:
    from pipelinectl.adapters import git

    return git.branch(root, environ)


def build_tools(config: Platform, environ: Mapping[str, str]) -> Tools:
    from pipelinectl.adapters.builder import DockerTools

    return DockerTools(environ, config.ca_bundle_path)


def image_settings(config: Platform, environ: Mapping[str, str], git: GitState | None,
                   root: Path, push: bool = True) -> imagebuild.Settings:
    return imagebuild.Settings(build_tools(config, environ), git, root, push, progress)


def docker_client(environ: Mapping[str, str]) -> object:
    """The Docker daemon, for running task containers (`run`)."""
    from pipelinectl.adapters import docker

    return docker.connect(environ)


def cluster(config: Platform, root: Path, environ: Mapping[str, str]) -> Cluster:
    """The platform's cluster, or its folder of objects (the local platform)."""
    if config.kubernetes_directory is not None:
        from pipelinectl.adapters.kubedir import DirectoryKube

        return DirectoryKube(*_below(root, config.kubernetes_directory))
    from pipelinectl.adapters.kube import Kube  # the client costs ~1 s to import

    return Kube.connect(environ)


@contextmanager
def delivery(config: Platform, root: Path, environ: Mapping[str, str]
             ) -> Iterator[Delivery | None]:
    """Where DAG files go (None: ConfigMaps, which the cluster holds), closed afterwards."""
    dags = config.airflow.dags
    found: Delivery | None = None
    if dags.kind == "directory":
        from pipelinectl.adapters.dags import DirectoryDelivery

        assert dags.directory is not None
        found = DirectoryDelivery(*_below(root, dags.directory))
    elif dags.kind == "git":
        from pipelinectl.adapters.dags import GitDelivery

        assert dags.repo is not None
        found = GitDelivery(dags.repo, dags.branch, environ)
    try:
        yield found
    finally:
        if found is not None:
            found.close()


def airflow_api(config: Platform, environ: Mapping[str, str]) -> AirflowApi | None:
    """Airflow's REST API as the platform's airflow.api gives it (None: the platform has
    none), signed in with the user and password of the variables it names in `environ`."""
    api = config.airflow.api
    if api is None:
        return None
    from pipelinectl.adapters.airflowapi import AirflowRestApi

    return AirflowRestApi(api.url, api.username_env, api.password_env, environ)


@dataclass(frozen=True)
class ReadArgs:
    """The arguments of the commands that only read what is deployed (status, history)."""

    paths: list[str]
    repo_id: str | None
    platform: str | None
    environment: str | None = None
    mr: str | None = None  # a merge request: its preview instead of an environment


def deployed(args: ReadArgs, environ: Mapping[str, str], cwd: Path
             ) -> tuple[Cluster, list[tuple[Pipeline, str, State | None]]]:
    """The cluster and each pipeline with its namespace and recorded state."""
    found = deployed_on(args, environ, cwd)
    return found.cluster, found.found


@dataclass(frozen=True)
class Deployed:
    """What a reading command shows: the platform as the environment (or preview) sees it,
    the cluster, each pipeline with its namespace and state; the environment shown, and the
    one a command picks without --environment (a hint adds --environment when they differ)."""

    config: Platform
    cluster: Cluster
    found: list[tuple[Pipeline, str, State | None]]
    environment: str
    default_environment: str


def deployed_on(args: ReadArgs, environ: Mapping[str, str], cwd: Path) -> Deployed:
    """`deployed`, with the platform as the environment (or preview) sees it."""
    loaded = load(args.paths, args.platform, args.repo_id, environ, cwd)
    name = environment(loaded.config, args.environment, environ, loaded.root)
    default = name if args.environment is None else \
        environment(loaded.config, None, environ, loaded.root)
    loaded = loaded.in_environment(name) if args.mr is None else \
        _previewed(loaded, name, args.mr)
    found = cluster(loaded.config, loaded.root, environ)
    return Deployed(loaded.config, found,
                    list(state.of_pipelines(found, loaded.config, loaded.pipelines)), name,
                    default)


def _previewed(loaded: Loaded, base: str, mr: str) -> Loaded:
    """`loaded` as preview `mr` deploys it, as environment `base` runs it."""
    from pipelinectl.spec import previews

    if loaded.config.previews is None:
        raise UserError("--mr: the platform has no previews",
                        hint="see docs/how-to/previews.md")
    number = previews.number(mr, {})
    inside = loaded.in_environment(base)
    return dataclasses.replace(inside, config=loaded.config.in_previews(base),
                               pipelines=[previews.as_preview(p, number)
                                          for p in inside.pipelines])


def _below(root: Path, folder: str) -> tuple[Path, str]:
    """A platform folder as (base, relative): relative to the repository root, it must be
    made of real folders below it; an absolute one is the platform team's to vouch for."""
    path = Path(folder)
    if path.is_absolute():
        return path, ""
    normal = os.path.normpath(folder)
    if normal == ".." or normal.startswith("../"):
        raise UserError(f"the platform folder {folder!r} leaves the repository",
                        hint="give a folder inside the repository, or an absolute path")
    return root, "" if normal == "." else normal


def source(repo_id: str | None, git: GitState | None, root: Path) -> str:
    """Which repository deploys: scopes the removal of pipelines it no longer has."""
    return repo_id or (git.source_url if git else None) or str(root)


def committed(root: Path, environ: Mapping[str, str]) -> GitState:
    git = git_state(root, environ)
    if git is None:
        raise UserError(f"{root} is not a git repository with a commit: a deploy is a commit",
                        hint="commit the pipeline and deploy from CI")
    # .pipelinectl/ holds pipelinectl's own output (the local platform's objects and DAGs,
    # renders, runs): not part of what is deployed.
    changed_paths = sorted(p for p in git.dirty if not p.startswith(OUTPUT_DIR + "/"))
    if changed_paths:
        changed = ", ".join(changed_paths[:5])
        raise UserError(f"uncommitted changes ({changed}): a deploy is a commit",
                        hint="commit or stash them; CI deploys what was pushed")
    return git


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

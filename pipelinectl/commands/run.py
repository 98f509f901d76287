"""`pipelinectl run`: a pipeline's tasks in local containers, as they run in production."""

from __future__ import annotations

import datetime
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelinectl import files, textsafe, wiring
from pipelinectl.build import imagebuild
from pipelinectl.errors import EXIT_OK, EXIT_USER, UserError, did_you_mean
from pipelinectl.local import inputs, runner
from pipelinectl.spec import runvalues
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.model import Pipeline, Task
from pipelinectl.vocabulary import RUNS_DIR


@dataclass(frozen=True)
class Args:
    path: str | None
    task: list[str] | None
    env_file: str | None
    secrets_dir: str | None
    jobs: int
    platform: str | None
    include_untracked: bool = False
    environment: str | None = None
    param: list[str] | None = None
    logical_date: str | None = None


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    where = args.path or "."
    found = len(find_pipelines([where], cwd))
    if found != 1:
        raise UserError(f"run takes one pipeline; found {found} under {where}",
                        hint="name one pipeline.yaml or its folder")
    loaded = wiring.load([where], args.platform, None, environ, cwd)
    if args.environment is not None:  # its overlay: the schedule aside, defaults and all
        loaded = loaded.in_environment(wiring.environment(loaded.config, args.environment,
                                                          environ, loaded.root))
    [pipeline], root = loaded.pipelines, loaded.root
    tasks = _selected(pipeline, args.task or [])
    values = runvalues.run_env(pipeline, runvalues.parse_params(pipeline, args.param or []),
                               runvalues.parse_logical_date(args.logical_date))
    # every input before the build: a mistake costs no build and starts no container
    secrets = inputs.read_secrets(Path(args.secrets_dir) if args.secrets_dir else None,
                                  {s for t in tasks for s in t.secrets})
    extra = inputs.read_env_file(Path(args.env_file)) if args.env_file else {}
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    env = inputs.environments(pipeline, tasks, secrets, extra, f"local__{stamp}",
                              wiring.revisions(root, [pipeline])[pipeline.file], values)
    workspace = _workspace(root, pipeline)
    _assumed(pipeline, tasks, workspace)
    _untracked(loaded.untracked_in(pipeline), args.include_untracked)
    [plan] = loaded.plans(include_untracked=args.include_untracked)
    imagebuild.run([plan], wiring.image_settings(loaded.config, environ,
                                                 wiring.git_state(root, environ), root,
                                                 push=False))
    settings = runner.RunSettings(f"{plan.repository}:{plan.content_tag}", workspace, env,
                                  args.jobs, wiring.progress)
    results = runner.run(wiring.docker_client(environ), pipeline, tasks, settings)
    sys.stdout.write(runner.summary(results))
    sys.stdout.write(f"workspace: {workspace}\n")
    return EXIT_OK if all(r.status == runner.SUCCEEDED for r in results) else EXIT_USER


def _untracked(paths: list[str], included: bool) -> None:
    """Say which files git does not track: the image holds them only when asked."""
    if not paths:
        return
    shown = ", ".join(textsafe.inline(p) for p in paths[:5]) + (
        f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    if included:
        wiring.progress(f"including {len(paths)} untracked file(s) in the image: {shown}")
    else:
        wiring.progress(f"note: {len(paths)} untracked file(s) left out of the image: {shown} "
                        "(git add them, or pass --include-untracked)")


def _workspace(root: Path, pipeline: Pipeline) -> Path:
    """A real folder made inside the repository (a committed symlink anywhere on the way is
    refused, nothing is made or chmodded through it), writable by the task user (uid 10001
    in the images)."""
    return files.real_dir(root, f"{RUNS_DIR}/{pipeline.metadata.name}/workspace", mode=0o777)


def _selected(pipeline: Pipeline, names: list[str]) -> list[Task]:
    ordered = pipeline.ordered_tasks()
    if not names:
        return ordered
    known = [t.name for t in ordered]
    for name in names:
        if name not in known:
            raise UserError(f"{pipeline.metadata.name} has no task {name!r}",
                            hint=did_you_mean(name, known) or f"its tasks: {', '.join(known)}")
    return [t for t in ordered if t.name in names]


def _assumed(pipeline: Pipeline, tasks: list[Task], workspace: Path) -> None:
    chosen = {t.name for t in tasks}
    upstream = sorted({d for t in tasks for d in t.depends_on if d not in chosen})
    if upstream:
        wiring.progress(f"running {', '.join(t.name for t in tasks)} only: assuming the outputs of "
                  f"{', '.join(upstream)} are already in {workspace} (from an earlier run)")


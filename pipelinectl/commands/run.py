"""`pipelinectl run`: a pipeline's tasks in local containers, as they run in production."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pipelinectl import wiring as common
from pipelinectl.adapters import docker as docker_adapter
from pipelinectl.adapters import git as git_adapter
from pipelinectl.build import imagebuild
from pipelinectl.errors import EXIT_OK, EXIT_USER, UserError, did_you_mean
from pipelinectl.local import runner as localrun
from pipelinectl.spec.checks import ordered_tasks
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.model import Pipeline, Task


def run(args: argparse.Namespace, environ: Mapping[str, str], cwd: Path) -> int:
    where = args.path or "."
    found = len(find_pipelines([where], cwd))
    if found != 1:
        raise UserError(f"run takes one pipeline; found {found} under {where}",
                        hint="name one pipeline.yaml or its folder")
    loaded = common.load([where], args.platform, None, environ, cwd)
    [pipeline], [plan], root = loaded.pipelines, loaded.plans(), loaded.root
    imagebuild.run([plan], imagebuild.Settings(
        loaded.config, environ, git_adapter.read(root, environ), root, False,
        common.progress))
    tasks = _selected(pipeline, args.task or [])
    workspace = root / ".pipelinectl" / "runs" / pipeline.metadata.name / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    os.chmod(workspace, 0o777)  # the task user (uid 10001) writes here
    _assumed(pipeline, tasks, workspace)
    secrets = localrun.read_secrets(Path(args.secrets_dir) if args.secrets_dir else None,
                                    {s for t in tasks for s in t.secrets})
    extra = localrun.read_env_file(Path(args.env_file)) if args.env_file else {}
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    settings = localrun.RunSettings(f"{plan.repository}:{plan.content_tag}", workspace,
                                    f"local__{stamp}", secrets, extra, args.jobs, common.progress)
    results = localrun.run(docker_adapter.connect(environ), pipeline, tasks, settings)
    sys.stdout.write(localrun.summary(results))
    sys.stdout.write(f"workspace: {workspace}\n")
    return EXIT_OK if all(r.status == localrun.SUCCEEDED for r in results) else EXIT_USER


def _selected(pipeline: Pipeline, names: list[str]) -> list[Task]:
    ordered = ordered_tasks(pipeline)
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
        common.progress(f"running {', '.join(t.name for t in tasks)} only: assuming the outputs of "
                  f"{', '.join(upstream)} are already in {workspace} (from an earlier run)")


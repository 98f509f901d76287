"""What the commands that act on pipelines share: load and check them, report progress."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelinectl.build import images
from pipelinectl.spec import platform, policy
from pipelinectl.spec.discover import find_pipelines, repo_root
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Platform
from pipelinectl.spec.validation import default_jobs, load_pipelines


@dataclass(frozen=True)
class Loaded:
    """Valid pipelines with the platform they were checked against."""

    config: Platform
    repo_id: str | None
    pipelines: list[Pipeline]
    root: Path  # the repository root
    cwd: Path

    def plans(self) -> list[images.ImagePlan]:
        """Each pipeline's image plan (reads and hashes its build context)."""
        return [images.plan(p, (self.cwd / p.file).resolve().parent, self.config)
                for p in self.pipelines]


def load(paths: list[str], platform_option: str | None, repo_id_option: str | None,
         environ: Mapping[str, str], cwd: Path) -> Loaded:
    """The platform, then every pipeline under `paths`: any problem stops the command here."""
    config = platform.load(platform.resolve(platform_option, environ))
    repo_id = policy.repo_id_from(dict(environ), repo_id_option)
    pipelines = load_pipelines(find_pipelines(paths, cwd), config, repo_id, cwd,
                               default_jobs())
    return Loaded(config, repo_id, pipelines, repo_root(cwd), cwd)


def progress(line: str) -> None:
    """Progress goes to stderr, results to stdout."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()

"""`pipelinectl build`: build and push the images of the pipelines whose inputs changed."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from pipelinectl import wiring as common
from pipelinectl.adapters import git as git_adapter
from pipelinectl.build import imagebuild
from pipelinectl.errors import EXIT_OK


def run(args: argparse.Namespace, environ: Mapping[str, str], cwd: Path) -> int:
    started = time.monotonic()
    outcomes = build(args.paths, args.platform, args.repo_id, args.push, environ, cwd)
    for outcome in outcomes:
        where = outcome.reference or f"{outcome.plan.repository}:{outcome.plan.content_tag}"
        sys.stdout.write(f"{outcome.plan.pipeline.file}: {outcome.plan.name}: "
                         f"{_verb(outcome, args.push)} {where}\n")
    verbs = [_verb(o, args.push) for o in outcomes]
    counts = {verb: verbs.count(verb) for verb in dict.fromkeys(verbs)}
    sys.stderr.write(", ".join(f"{n} {verb}" for verb, n in counts.items())
                     + f" ({time.monotonic() - started:.1f} s)\n")
    return EXIT_OK


def build(paths: list[str], platform_option: str | None, repo_id_option: str | None,
          push: bool, environ: Mapping[str, str], cwd: Path) -> list[imagebuild.Outcome]:
    """Validate, then build what changed."""
    loaded = common.load(paths, platform_option, repo_id_option, environ, cwd)
    settings = imagebuild.Settings(loaded.config, environ,
                                   git_adapter.read(loaded.root, environ), loaded.root, push,
                                   common.progress)
    return imagebuild.run(loaded.plans(), settings)


def _verb(outcome: imagebuild.Outcome, push: bool) -> str:
    if outcome.action == imagebuild.BUILD:
        return "built" if push else "built locally"
    return outcome.action


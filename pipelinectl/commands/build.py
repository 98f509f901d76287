"""`pipelinectl build`: build and push the images of the pipelines whose inputs changed."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelinectl import wiring
from pipelinectl.build import imagebuild
from pipelinectl.errors import EXIT_OK


@dataclass(frozen=True)
class Args:
    paths: list[str]
    push: bool
    repo_id: str | None
    platform: str | None


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    started = time.monotonic()
    loaded = wiring.load(args.paths, args.platform, args.repo_id, environ, cwd)
    settings = wiring.image_settings(loaded.config, environ,
                                     wiring.git_state(loaded.root, environ), loaded.root,
                                     args.push)
    outcomes = imagebuild.run(loaded.plans(), settings)
    for outcome in outcomes:
        where = outcome.reference or f"{outcome.plan.repository}:{outcome.plan.content_tag}"
        sys.stdout.write(f"{outcome.plan.pipeline.file}: {outcome.plan.name}: "
                         f"{_verb(outcome, args.push)} {where}\n")
    verbs = [_verb(o, args.push) for o in outcomes]
    counts = {verb: verbs.count(verb) for verb in dict.fromkeys(verbs)}
    sys.stderr.write(", ".join(f"{n} {verb}" for verb, n in counts.items())
                     + f" ({time.monotonic() - started:.1f} s)\n")
    return EXIT_OK


def _verb(outcome: imagebuild.ImageOutcome, push: bool) -> str:
    if outcome.action == imagebuild.BUILD:
        return "built" if push else "built locally"
    return outcome.action

"""`pipelinectl history`: the last deploys of each pipeline, newest first, from its state."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelinectl import wiring
from pipelinectl.deploy import state
from pipelinectl.errors import EXIT_OK


@dataclass(frozen=True)
class Args:
    paths: list[str]
    repo_id: str | None
    platform: str | None


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    loaded = wiring.load(args.paths, args.platform, args.repo_id, environ, cwd)
    cluster = wiring.cluster(loaded.config, loaded.root, environ)
    for pipeline in loaded.pipelines:
        name = pipeline.metadata.name
        namespace = loaded.config.teams[pipeline.metadata.team].namespace
        record = state.read(cluster, namespace, name)
        if record is None:
            sys.stdout.write(f"{name}: never deployed (namespace {namespace})\n")
            continue
        sys.stdout.write(f"{name} ({namespace}):\n")
        for deploy in record.history:
            digest = deploy.image.partition("@")[2][:19]
            sys.stdout.write(f"  {deploy.deployed_at}  {deploy.revision[:12]}  "
                             f"{deploy.environment}  {digest}"
                             f"{'  forced' if deploy.forced else ''}\n")
    return EXIT_OK

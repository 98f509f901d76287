"""`pipelinectl history`: the last deploys of each pipeline, newest first, from its state."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from pipelinectl import wiring
from pipelinectl.errors import EXIT_OK
from pipelinectl.textsafe import inline

Args = wiring.ReadArgs


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    _cluster, found = wiring.deployed(args, environ, cwd)
    for pipeline, namespace, record in found:
        name = pipeline.metadata.name
        if record is None:
            sys.stdout.write(f"{name}: never deployed (namespace {namespace})\n")
            continue
        sys.stdout.write(f"{name} ({namespace}):\n")
        for deploy in record.history:
            digest = deploy.image.partition("@")[2][:19]
            # a state object is hand-editable: every value printed inert
            sys.stdout.write(f"  {inline(deploy.deployed_at)}  {inline(deploy.revision[:12])}  "
                             f"{inline(deploy.environment)}  {inline(digest)}"
                             f"{'  forced' if deploy.forced else ''}\n")
    return EXIT_OK

"""`pipelinectl schema`: print the JSON Schema of pipeline.yaml or of the platform config."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelinectl.errors import EXIT_OK
from pipelinectl.spec import schema


@dataclass(frozen=True)
class Args:
    which: Literal["pipeline", "platform"]


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    sys.stdout.write(schema.schema_text(args.which))
    return EXIT_OK

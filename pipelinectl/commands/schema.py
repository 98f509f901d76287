"""`pipelinectl schema`: print the JSON Schema of pipeline.yaml or of the platform config."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from pipelinectl.errors import EXIT_OK
from pipelinectl.spec import schema


def run(args: argparse.Namespace, environ: Mapping[str, str], cwd: Path) -> int:
    sys.stdout.write(schema.schema_text(args.which))
    return EXIT_OK

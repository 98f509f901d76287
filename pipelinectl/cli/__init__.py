"""The command line: `pipelinectl` (the console script is `pipelinectl.cli:main`)."""

from __future__ import annotations

from pipelinectl.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

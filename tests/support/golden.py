"""Golden files: the rendered text must equal the file byte for byte. PIPELINECTL_UPDATE_GOLDEN=1
rewrites them (never in CI); review the diff before committing."""

from __future__ import annotations

import os
from pathlib import Path


def check(path: Path, text: str) -> None:
    if os.environ.get("PIPELINECTL_UPDATE_GOLDEN") == "1":
        assert not os.environ.get("CI"), "golden files are never regenerated in CI"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")

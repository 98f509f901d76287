"""The fenced code blocks of the docs pages and the README, with the HTML comments before them.

A comment directly before a block (blank lines allowed) gives the docs tests an instruction:

    <!-- platform: manifests/example/platform.yaml -->   validate this pipeline against FILE
    <!-- expect-invalid: MESSAGE -->                      validate must exit 1, MESSAGE first
    <!-- file: Dockerfile -->                             this block is a file the pipelines
                                                          of the same page name
    <!-- shellcheck: skip REASON -->                      do not shellcheck this block
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[A-Za-z0-9_-]*)\s*$")
DIRECTIVE = re.compile(r"^\s*<!-- (?P<key>[a-z-]+): ?(?P<value>.*?) -->\s*$")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO).as_posix()}:{self.line}"


def pages() -> list[Path]:
    """Every Markdown page the docs tests read: the site (not the prose sources of the
    generated pages, whose blocks are in the generated pages too) and the README."""
    found = [p for p in sorted(DOCS.rglob("*.md")) if "_src" not in p.parts]
    return [*found, REPO / "README.md"]


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    pending: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = DIRECTIVE.match(line)
        fence = FENCE.match(line)
        if directive:
            pending[directive.group("key")] = directive.group("value")
        elif fence:  # an opening fence: whole blocks are skipped below
            indent = len(fence.group("indent"))
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                sys.exit(f"{page}:{index + 1}: unclosed code block")
            body = "\n".join(text[indent:] for text in lines[index + 1:end])
            found.append(Block(page, index + 1, fence.group("lang"), body + "\n", pending))
            pending = {}
            index = end
        elif line.strip():
            pending = {}
        index += 1
    return found


def all_blocks(*langs: str) -> list[Block]:
    return [b for page in pages() for b in blocks(page) if not langs or b.lang in langs]

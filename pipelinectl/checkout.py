"""What the build and the deploy know of the git checkout they run in (pure values).

The git adapter reads them (adapters/git.py); the stage wings only use them.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    commit: str
    committed_at: str  # ISO 8601, UTC: the OCI `created` label (reproducible, unlike now())
    history: tuple[str, ...]  # first-parent ancestry, HEAD first
    dirty: frozenset[str]  # repo-relative paths with uncommitted changes (untracked included)
    source_url: str | None

    def is_dirty(self, root: Path, paths: list[Path]) -> bool:
        """Whether a path under any of `paths` (absolute) has uncommitted changes."""
        prefixes = []
        for path in paths:
            try:
                prefixes.append(path.relative_to(root).as_posix())
            except ValueError:
                continue
        return any(p in ("", ".") or d == p or d.startswith(p.rstrip("/") + "/")
                   for d in self.dirty for p in prefixes)


def strip_credentials(url: str) -> str:
    """A remote URL without user name and password: it ends up in an image label."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, ""))

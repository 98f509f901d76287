"""What the build and the deploy know of the git checkout they run in (pure values).

The git adapter reads them (adapters/git.py); the stage wings only use them.
"""

from __future__ import annotations

import re
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
    """A remote URL as an image label or a log may show it: scheme, host, port and path only.

    User info (user:password@, a token as user name), the query (?private_token=...) and the
    fragment are dropped; an scp-like remote keeps its user name (git@host:path) unless a
    password or token follows it (user:token@host:path becomes host:path). A local path is
    kept as it is.
    """
    if "://" not in url:
        scp = _SCP_LIKE.match(url)
        return scp["rest"] if scp and ":" in scp["user"] else url
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: cut by hand
        return re.sub(r"^([^:/]*://)[^/?#]*@", r"\1", url).split("?")[0].split("#")[0]
    host = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


# user@host:path, as git reads it when there is no '://' (and no '/' before the ':')
_SCP_LIKE = re.compile(r"^(?P<user>[^/]+)@(?P<rest>[^/:@]+:.*)$", re.DOTALL)

"""What the build needs to know of the git checkout: commit, time, dirtiness, history, origin."""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import git

HISTORY_LIMIT = 200  # commits walked back to find the image a pipeline had before


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


def read(root: Path, environ: Mapping[str, str]) -> GitState | None:
    """The state of the repository at `root`; None outside git or before the first commit."""
    try:
        repo = git.Repo(root)
        head = repo.head.commit
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
    try:
        history = tuple(repo.git.rev_list("--first-parent", f"--max-count={HISTORY_LIMIT}",
                                          "HEAD").split())
        status = repo.git.status("--porcelain", "-z", "--untracked-files=all")
    except git.GitCommandError as exc:
        raise RuntimeError(f"git failed in {root}: {exc.stderr.strip()}") from None
    when = datetime.datetime.fromtimestamp(head.committed_date, tz=datetime.UTC)
    return GitState(head.hexsha, when.strftime("%Y-%m-%dT%H:%M:%SZ"), history,
                    _dirty_paths(status), _source_url(repo, environ))


def _dirty_paths(status: str) -> frozenset[str]:
    paths: set[str] = set()
    fields = status.split("\0")
    index = 0
    while index < len(fields):
        entry = fields[index]
        index += 1
        if len(entry) < 4:
            continue
        paths.add(entry[3:])
        if entry[0] in "RC":  # a rename or copy is followed by its source path
            if index < len(fields):
                paths.add(fields[index])
            index += 1
    return frozenset(paths)


def _source_url(repo: git.Repo, environ: Mapping[str, str]) -> str | None:
    if environ.get("CI_PROJECT_URL"):
        return environ["CI_PROJECT_URL"]
    if environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL") or "https://github.com"
        return f"{server}/{environ['GITHUB_REPOSITORY']}"
    try:
        url = repo.remotes.origin.url
    except (AttributeError, IndexError, ValueError):
        return None
    return strip_credentials(url)


def strip_credentials(url: str) -> str:
    """A remote URL without user name and password: it ends up in an image label."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, ""))

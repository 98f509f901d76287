"""What the build needs to know of the git checkout: commit, time, dirtiness, history, origin."""

from __future__ import annotations

import datetime
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pipelinectl.build.context import Tracked
from pipelinectl.checkout import GitState, strip_credentials
from pipelinectl.errors import UserError

HISTORY_LIMIT = 200  # commits walked back to find the image a pipeline had before


def read(root: Path, environ: Mapping[str, str]) -> GitState | None:
    """The state of the repository at `root`; None outside git or before the first commit.

    The git command itself, not GitPython: four short calls cost less than importing it
    (bench/build.py), and GitPython runs the same commands underneath.
    """
    head = _git(root, "log", "-1", "--format=%H %ct", check=False)
    if head is None or not head.strip():
        return None
    commit, seconds = head.split()
    history = tuple(_required(root, "rev-list", "--first-parent",
                              f"--max-count={HISTORY_LIMIT}", "HEAD").split())
    status = _required(root, "status", "--porcelain", "-z", "--untracked-files=all")
    when = datetime.datetime.fromtimestamp(int(seconds), tz=datetime.UTC)
    return GitState(commit, when.strftime("%Y-%m-%dT%H:%M:%SZ"), history,
                    _dirty_paths(status), _source_url(root, environ))


def tracked(root: Path) -> Tracked | None:
    """The files git tracks in the repository at `root` (the index: what the next commit
    holds); None outside git."""
    listed = _git(root, "ls-files", "-z", "--full-name", check=False)
    if listed is None:
        return None
    return Tracked(root, frozenset(p for p in listed.split("\0") if p))


def untracked(root: Path) -> frozenset[str]:
    """Files in the worktree that git does not track and does not ignore (repo-relative);
    empty outside git. Ignored files (.env, .Renviron) are never among them."""
    listed = _git(root, "ls-files", "-z", "--others", "--exclude-standard", "--full-name",
                  check=False)
    return frozenset(p for p in (listed or "").split("\0") if p)


def _git(root: Path, *args: str, check: bool = True) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=False, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except FileNotFoundError:
        raise UserError("git is not installed", hint="install git (Debian: apt-get install "
                                                     "git)") from None
    if done.returncode != 0:
        if check:
            raise UserError(f"git {args[0]} failed in {root}: {done.stderr.strip()}",
                            hint="check that the folder is a git checkout this user can read")
        return None
    return done.stdout


def _required(root: Path, *args: str) -> str:
    output = _git(root, *args)
    assert output is not None
    return output


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


def _source_url(root: Path, environ: Mapping[str, str]) -> str | None:
    if environ.get("CI_PROJECT_URL"):
        return environ["CI_PROJECT_URL"]
    if environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL") or "https://github.com"
        return f"{server}/{environ['GITHUB_REPOSITORY']}"
    url = _git(root, "remote", "get-url", "origin", check=False)
    return strip_credentials(url.strip()) if url and url.strip() else None


def last_changes(root: Path, wanted: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """For each key of `wanted`, the newest commit (from HEAD back) that changed a file below
    one of its folders (repo-relative, "" for the whole repository): one `git log` walk for
    all of them, stopped as soon as every key has its commit. A key whose folders no commit
    touched gets no entry (outside git: none does). In a shallow clone the oldest fetched
    commit counts as changing every file it holds."""
    left = {key: tuple(f"{f}/" if f else "" for f in folders) for key, folders in
            wanted.items()}
    found: dict[str, str] = {}
    if not left:
        return found
    try:
        walk = subprocess.Popen(["git", "-C", str(root), "-c", "core.quotePath=false", "log",
                                 "-z", "--name-only", "--no-renames", "--format=%x01%H",
                                 "HEAD", "--"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL,
                                env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except FileNotFoundError:
        return found
    assert walk.stdout is not None
    pending = b""
    try:
        for block in iter(lambda: walk.stdout.read(65536), b""):  # type: ignore[union-attr]
            records = (pending + block).split(b"\x01")
            pending = records.pop()
            for record in records:
                _match(record, left, found)
            if not left:
                return found
        _match(pending, left, found)
        return found
    finally:
        walk.kill()
        walk.wait()


def _match(record: bytes, left: dict[str, tuple[str, ...]], found: dict[str, str]) -> None:
    """One commit of the walk: its id, then the files it changed."""
    if not record:
        return
    commit, _, names = record.partition(b"\0")
    paths = [n.decode("utf-8", "surrogateescape") for n in names.strip(b"\n").split(b"\0")
             if n.strip(b"\n")]
    for key, prefixes in list(left.items()):
        if any(path.startswith(prefix) for path in paths for prefix in prefixes):
            found[key] = commit.decode()
            del left[key]


def is_ancestor(root: Path, older: str, newer: str) -> bool | None:
    """Whether `older` is `newer` or one of its ancestors; None when `older` is not in this
    clone at all (a shallow clone may lack it: see `deepen`)."""
    if _git(root, "cat-file", "-e", f"{older}^{{commit}}", check=False) is None:
        return None
    done = subprocess.run(["git", "-C", str(root), "merge-base", "--is-ancestor", older, newer],
                          capture_output=True, check=False)
    return done.returncode == 0


def shallow_roots(root: Path) -> frozenset[str]:
    """The commits a shallow clone's history stops at (empty for a full clone)."""
    name = _git(root, "rev-parse", "--git-path", "shallow", check=False)
    if not name:
        return frozenset()
    path = Path(name.strip())
    path = path if path.is_absolute() else root / path
    try:
        return frozenset(path.read_text().split())
    except OSError:
        return frozenset()


def is_shallow(root: Path) -> bool:
    return (_git(root, "rev-parse", "--is-shallow-repository", check=False) or "").strip() \
        == "true"


def deepen(root: Path) -> bool:
    """Fetch the full history of a shallow clone; False when that is not possible."""
    return _git(root, "fetch", "--quiet", "--unshallow", check=False) is not None


def branch(root: Path, environ: Mapping[str, str]) -> str | None:
    """The branch being deployed: CI's word for it first (CI checks out a detached HEAD)."""
    if environ.get("CI_COMMIT_BRANCH"):
        return environ["CI_COMMIT_BRANCH"]
    if environ.get("GITHUB_REF_NAME") and environ.get("GITHUB_REF_TYPE", "branch") == "branch":
        return environ["GITHUB_REF_NAME"]
    name = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return name.strip() if name and name.strip() else None


class GitHistory:
    """The history of the repository at `root` (deploy/ports.py: History)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # A hundred pipelines deployed at one commit ask the same question a hundred times:
        # one git process answers it (forgotten when the history deepens).
        self._answers: dict[tuple[str, str], bool | None] = {}

    def is_ancestor(self, older: str, newer: str) -> bool | None:
        key = (older, newer)
        if key not in self._answers:
            self._answers[key] = is_ancestor(self.root, older, newer)
        return self._answers[key]

    def is_shallow(self) -> bool:
        return is_shallow(self.root)

    def deepen(self) -> bool:
        self._answers.clear()
        return deepen(self.root)

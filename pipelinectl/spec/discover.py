"""Finding the repository root and the pipeline.yaml files in it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipelinectl.errors import UserError

PIPELINE_FILE = "pipeline.yaml"
_SKIP_DIRS = frozenset({"node_modules", "venv", "__pycache__", "site-packages"})


def repo_root(start: Path, cache: dict[Path, Path | None] | None = None) -> Path:
    """The nearest ancestor holding `.git` (a checkout or worktree); else `start` itself.

    Both are resolved (no symlinks). `cache` lets one run share the walk between pipelines.
    """
    start = start.resolve()
    memo = {} if cache is None else cache
    visited = []
    found: Path | None = None
    for folder in (start, *start.parents):
        if folder in memo:
            found = memo[folder]
            break
        visited.append(folder)
        if (folder / ".git").exists():
            found = folder
            break
    for folder in visited:
        memo[folder] = found
    return found or start


def git_root(cwd: Path) -> Path | None:
    """The repository root of the working directory (resolved), or None outside git."""
    root = repo_root(cwd)
    return root if (root / ".git").exists() else None


@dataclass
class Roots:
    """What pipeline_root() learnt, shared by the pipelines of one run: the root (None: none
    found) of each folder it walked, and repo_root()'s own cache."""

    lexical: dict[Path, Path | None] = field(default_factory=dict)
    linked: set[Path] = field(default_factory=set)  # folders with a symlink at or above
    resolved: dict[Path, Path | None] = field(default_factory=dict)


def pipeline_root(path: Path, anchor: Path | None, roots: Roots | None = None) -> Path:
    """The repository root of the pipeline.yaml at `path` (absolute), found without going
    through a symlink: walking up from its folder, the first folder that is `anchor`
    (git_root() of the working directory, perhaps reached through a link), else the first
    that is not a symlink and holds `.git`; else repo_root(). A symlinked folder is never
    taken as a root, so a link to another checkout cannot make that checkout's files the
    pipeline's (pipeline_folder then refuses the link), while a repository reached through a
    link of its own is found. Folders are compared by identity (device and inode): a stat
    each, not a realpath()."""
    memo = roots or Roots()
    start = Path(os.path.normpath(path.parent))
    wanted = _identity(anchor) if anchor is not None else None
    visited: list[tuple[Path, bool]] = []  # each folder walked, and whether it is a symlink
    found: Path | None = None
    above = False  # a symlink above the walked folders (from the cache)
    for folder in (start, *start.parents):
        if folder in memo.lexical:
            found, above = memo.lexical[folder], folder in memo.linked
            break
        link = os.path.islink(folder)
        visited.append((folder, link))
        if wanted is not None and _identity(folder) == wanted:
            found = anchor
            break
        if not link and os.path.exists(folder / ".git"):
            found = folder.resolve()
            break
    for folder, link in reversed(visited):  # top down: a link here is above what follows
        above = above or link
        memo.lexical[folder] = found
        if above:
            memo.linked.add(folder)
    if found is not None:
        return found
    # Outside git: without a symlink on the way, resolving finds no .git either.
    return repo_root(path.parent, memo.resolved) if above else start


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def find_pipelines(paths: list[str], cwd: Path) -> list[Path]:
    """pipeline.yaml files named or found under `paths`; with none, under the repo of `cwd`."""
    roots = [Path(p) for p in paths] or [repo_root(cwd)]
    found: set[Path] = set()
    for root in roots:
        absolute = root if root.is_absolute() else cwd / root
        if absolute.is_file():
            found.add(Path(os.path.normpath(absolute)))
        elif absolute.is_dir():
            found.update(walk(absolute))
        else:
            raise UserError(f"{root}: no such file or directory",
                            hint="name a pipeline.yaml or a folder that holds some")
    if not found:
        where = ", ".join(paths) or str(roots[0])
        raise UserError(f"no {PIPELINE_FILE} found under {where}",
                        hint="create one with: pipelinectl init --language r|python DIR")
    return sorted(found)


def walk(folder: Path) -> list[Path]:
    """Every pipeline.yaml below `folder`, skipping hidden folders and virtualenvs."""
    result = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        if PIPELINE_FILE in files:
            result.append(Path(os.path.normpath(os.path.join(current, PIPELINE_FILE))))
    return result


def display_name(path: Path, cwd: Path) -> str:
    """A path as messages show it: relative to the working directory when under it."""
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def pipeline_folder(path: Path, root: Path) -> tuple[Path, str | None]:
    """The resolved folder of the pipeline.yaml at `path` (absolute), and why it cannot be
    used: no folder between the repository root (`root`, resolved) and the file may be a
    symlink, or validate would check the files beside the link while the build reads
    another folder's."""
    folder = path.parent
    current = folder
    wanted = _identity(root)
    while _identity(current) != wanted and current != current.parent:
        if os.path.islink(current):
            return folder, (f"the folder {current.name} is a symlink: a pipeline's folder must "
                            "be a real folder of the repository")
        current = current.parent
    real = folder.resolve()
    if real != root and root not in real.parents:
        return real, "the pipeline's folder is outside the repository"
    return real, None

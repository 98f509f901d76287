"""Finding the repository root and the pipeline.yaml files in it."""

from __future__ import annotations

import os
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


def pipeline_root(path: Path, anchor: Path | None,
                  cache: dict[Path, Path] | None = None) -> Path:
    """The repository root of the pipeline.yaml at `path` (absolute), found without going
    through a symlink: walking up from its folder, the first folder that resolves to `anchor`
    (git_root() of the working directory), else the first that is not a symlink and holds
    `.git`; else repo_root(). A symlinked folder is never taken as a root, so a link to
    another checkout cannot make that checkout's files the pipeline's (pipeline_folder then
    refuses the link), while a repository reached through a link of its own is found."""
    memo = {} if cache is None else cache
    start = Path(os.path.normpath(path.parent))
    visited = []
    found: Path | None = None
    for folder in (start, *start.parents):
        if folder in memo:
            found = memo[folder]
            break
        visited.append(folder)
        if anchor is not None and folder.resolve() == anchor:
            found = anchor
            break
        if not folder.is_symlink() and (folder / ".git").exists():
            found = folder.resolve()
            break
    if found is None:  # outside git: each folder is its own root, nothing to share
        return repo_root(path.parent)
    for folder in visited:
        memo[folder] = found
    return found


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
    while current.resolve() != root and current != current.parent:
        if current.is_symlink():
            return folder, (f"the folder {current.name} is a symlink: a pipeline's folder must "
                            "be a real folder of the repository")
        current = current.parent
    real = folder.resolve()
    if real != root and root not in real.parents:
        return real, "the pipeline's folder is outside the repository"
    return real, None

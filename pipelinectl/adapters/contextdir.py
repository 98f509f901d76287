"""The build context as a folder that persists between builds of one image repository.

BuildKit sends a folder context incrementally: a file whose size, mode and time are unchanged
is not sent again (a tar on stdin is sent whole, every build). So the context's entries are
kept in ~/.cache/pipelinectl/contexts/<repository hash>/context, rewriting only the files
whose content changed. Times are derived from each file's content hash: the same content
always has the same time (reproducible layers), different content a different time (so
BuildKit sees every change, even one that keeps the size).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pipelinectl import files
from pipelinectl.build.context import CONTEXT_MTIME, BuildInputs, Entry, read_checked

_YEAR = 365 * 86400
_NS = 10**9


def root(environ: Mapping[str, str], repository: str) -> Path:
    key = hashlib.sha256(repository.encode()).hexdigest()[:24]
    return files.cache_dir(environ) / "contexts" / key


@contextmanager
def locked(folder: Path) -> Iterator[Path]:
    """One build at a time per repository on this machine (two CI jobs sharing a cache)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield folder


def mtime_ns(entry: Entry) -> int:
    if entry.kind == "dir" or not entry.sha256:
        return CONTEXT_MTIME * _NS
    number = int(entry.sha256[:24], 16)
    return (CONTEXT_MTIME + number % _YEAR) * _NS + (number // _YEAR) % _NS


def sync(build: BuildInputs, folder: Path) -> None:
    """Make `folder` hold exactly the entries of `build`, rewriting only what changed."""
    record = folder.parent / (folder.name + ".json")
    known = files.read_record(record)
    wanted = {entry.name: entry for entry in build.entries}
    folder.mkdir(parents=True, exist_ok=True)
    _remove_unwanted(folder, wanted)
    current: dict[str, str] = {}
    for entry in build.entries:
        path = folder / entry.name
        stamp = f"{entry.kind}:{entry.mode:o}:{entry.sha256}"
        if entry.kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, entry.mode)
        elif entry.kind == "symlink":
            target = entry.data.decode("utf-8", "surrogateescape")
            if not (path.is_symlink() and os.readlink(path) == target):
                path.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, path)
        elif known.get(entry.name) != stamp or not _intact(path, entry):
            _write_file(path, entry)
        os.utime(path, ns=(mtime_ns(entry),) * 2, follow_symlinks=False)
        current[entry.name] = stamp
    # Folders last, deepest first (creating a child changes a folder's time), the implicit
    # ones (parents no entry names) included.
    for below, _dirs, _names in os.walk(folder, topdown=False):
        os.utime(below, ns=(CONTEXT_MTIME * _NS,) * 2)
    files.write_record(record, current)


def _remove_unwanted(folder: Path, wanted: Mapping[str, Entry]) -> None:
    for current, dirs, names in os.walk(folder, topdown=False):
        for name in names + dirs:
            path = Path(current, name)
            relative = path.relative_to(folder).as_posix()
            entry = wanted.get(relative)
            kind = "symlink" if path.is_symlink() else "dir" if path.is_dir() else "file"
            if entry is not None and entry.kind == kind:
                continue
            if kind == "dir":
                shutil.rmtree(path)
            else:
                path.unlink()


def _intact(path: Path, entry: Entry) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (info.st_mtime_ns == mtime_ns(entry) and info.st_mode & 0o777 == entry.mode
            and not path.is_symlink())


def _write_file(path: Path, entry: Entry) -> None:
    data = entry.data if entry.source is None else read_checked(entry)
    files.write_bytes(path, data, entry.mode)

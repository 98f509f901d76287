"""Files pipelinectl writes and reads for itself: one atomic writer (a reader sees the old file
or the new one, never half of one), its cache folder, its JSON records, and the folders it
ships.

Files are created with the usual permissions (0666 less the umask: Airflow reads delivered DAG
files as another user; a temporary file's 0600 would hide them) unless a mode is given.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelinectl.errors import UserError

PACKAGE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """A folder shipped with pipelinectl (schemas, base-images): inside the installed wheel
    (pyproject.toml force-includes it), or at the top of a source checkout."""
    for folder in (PACKAGE / name, PACKAGE.parent / name):
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"{name}/ is not installed with pipelinectl")


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """~/.cache/pipelinectl, or $XDG_CACHE_HOME/pipelinectl: what only costs time to lose."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or os.path.join(
        env.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base, "pipelinectl")


def real_dir(root: Path, relative: str | Path = "", mode: int | None = None,
             create_root: bool = False) -> Path:
    """`root`/`relative` as a real directory: every folder below `root` is created when
    missing, and opened without following symlinks (O_NOFOLLOW, one level at a time from the
    folder above), so a symlink, a file or a special file anywhere on the way is refused
    (UserError) and nothing is created through it. `root` itself is the caller's choice (the
    repository root, a folder named on the command line). With `mode`, the last folder gets
    it through its own descriptor (never a path a symlink could redirect)."""
    parts = [p for p in Path(relative).parts if p not in ("", ".")]
    if any(p == ".." or p.startswith("/") for p in parts):
        raise ValueError(f"{relative!r} leaves {root}")
    try:
        if create_root:
            os.makedirs(root, exist_ok=True)
        descriptor = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise _refused(root, exc) from None
    try:
        current = root
        for part in parts:
            current = current / part
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o777, dir_fd=descriptor)
            try:
                below = os.open(part, _DIR_NOFOLLOW, dir_fd=descriptor)
            except OSError as exc:
                raise _refused(current, exc) from None
            os.close(descriptor)
            descriptor = below
        if mode is not None:
            os.fchmod(descriptor, mode)
    finally:
        os.close(descriptor)
    return root.joinpath(*parts)


_DIR_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _refused(path: Path, exc: OSError) -> UserError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
        return UserError(f"{path} is a symlink: pipelinectl follows no symlink in the folders "
                         "it writes or reads for itself",
                         hint="remove the symlink (pipelinectl creates its own folders and "
                              "files), or choose another output folder")
    if exc.errno == errno.ENOTDIR:
        return UserError(f"{path} is not a folder",
                         hint="remove or rename it, or choose another output folder")
    return UserError(f"cannot use {path} as a folder: {exc.strerror or exc}",
                     hint="check that the folder is writable")


def checked_below(root: Path, relative: str | Path) -> Path:
    """`root`/`relative` for reading or deleting: no existing part below `root` (the last
    one included) may be a symlink (UserError), so a committed link cannot send a read or a
    delete outside `root`."""
    parts = [p for p in Path(relative).parts if p not in ("", ".")]
    if any(p == ".." or p.startswith("/") for p in parts):
        raise ValueError(f"{relative!r} leaves {root}")
    current = root
    for part in parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            break
        except OSError as exc:
            raise _refused(current, exc) from None
        if stat.S_ISLNK(mode):
            raise _refused(current, OSError(errno.ELOOP, "a symlink"))
    return root.joinpath(*parts)


def write_under(root: Path, relative: str, data: bytes, mode: int | None = None) -> Path:
    """Write `root`/`relative` atomically, its folders made with real_dir (no symlink on the
    way below `root`); a symlink at the file's own name is replaced, never followed."""
    path = Path(relative)
    folder = real_dir(root, path.parent, create_root=True)
    write_bytes(folder / path.name, data, mode)
    return folder / path.name


def write_report(path: Path, text: str) -> None:
    """A report file named on the command line (`validate -o`, `plan -o`), written in place:
    it may be a device or a pipe the user means; a failure is a user error naming it."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}",
                        hint="name a file in a writable folder with room to spare") from None


def create_new(path: Path, data: bytes) -> None:
    """A new file that must not exist yet, never through a symlink at its name (O_EXCL with
    O_NOFOLLOW): `init` writes only files it creates."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    except FileExistsError:
        raise UserError(f"{path} already exists (or is a symlink)",
                        hint="choose an empty folder") from None
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}",
                        hint="choose a writable folder") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace `path` with `data` atomically; `mode` (exact, umask ignored) or 0666 less the
    umask. A failure is a user error naming the file (a full disk, a read-only folder, a name
    too long, a file where a folder should be)."""
    try:
        _write(path, data, mode)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}",
                        hint="check the output folder: it must be a writable folder with room "
                             "to spare") from None


def _write(path: Path, data: bytes, mode: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class NotRegular(Exception):
    """A file that must be read is a symlink, a folder or a special file (FIFO, device)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def read_regular(path: str | Path, limit: int, follow_symlinks: bool = False) -> bytes:
    """Up to `limit` bytes of a regular file, checked before a byte is read: a symlink (unless
    `follow_symlinks`), a folder or a special file raises NotRegular, a FIFO never blocks.
    OSError for the rest (missing, unreadable)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise NotRegular("is a symlink") from None
        raise
    with os.fdopen(descriptor, "rb") as handle:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(f"is {kind_of(mode)}, not a regular file")
        return handle.read(limit)


def kind_of(mode: int) -> str:
    """What a file of this st_mode is, in words (a regular file, a folder, a FIFO...)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def read_record(path: Path) -> dict[str, Any]:
    """A JSON object pipelinectl wrote for itself; {} when missing or unreadable (a record is
    a cache: losing it only costs time)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_record(path: Path, value: Mapping[str, Any]) -> None:
    """Write a JSON record; a read-only cache folder is not an error (it only costs time)."""
    with contextlib.suppress(UserError):
        write_bytes(path, json.dumps(value, sort_keys=True).encode("utf-8"))

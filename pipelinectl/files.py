"""Files pipelinectl writes and reads for itself: one atomic writer (a reader sees the old file
or the new one, never half of one), its cache folder, its JSON records, and the folders it
ships.

Files are created with the usual permissions (0666 less the umask: Airflow reads delivered DAG
files as another user; a temporary file's 0600 would hide them) unless a mode is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
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

"""Writing output files: each one replaced atomically (a reader sees the old file or the new
one, never half of one), created with the usual permissions (0666 less the umask: Airflow reads
delivered DAG files as another user; a temporary file's 0600 would hide them)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pipelinectl.errors import UserError

PACKAGE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """A folder shipped with pipelinectl (schemas, base-images): inside the installed wheel
    (pyproject.toml force-includes it), or at the top of a source checkout."""
    for folder in (PACKAGE / name, PACKAGE.parent / name):
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"{name}/ is not installed with pipelinectl")


def write_text(path: Path, text: str) -> None:
    try:
        _write(path, text)
    except OSError as exc:  # a full disk, a read-only folder, a name too long, a file as folder
        raise UserError(f"cannot write {path}: {exc.strerror or exc}",
                        hint="check the output folder: it must be a writable folder with room "
                             "to spare") from None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

"""Delivering generated DAG files to where the Airflow scheduler reads them.

- directory: a mounted DAGs folder; each file replaced atomically.
- git: a branch of a DAGs repository that git-sync follows; all files of one deploy in one
  commit, pushed with retries when another deploy pushed first (fetch, rebase, push again).
(The third way, ConfigMaps for a dags-folder sidecar, is plain Kubernetes objects: deploy.py.)

The deploy decides what may be deleted (only a DAG pipelinectl generated for that same
pipeline: render/dagfile.py); this module only reads, writes and deletes.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from pipelinectl import files
from pipelinectl.checkout import strip_credentials
from pipelinectl.errors import UserError

PUSH_ATTEMPTS = 5
AUTHOR = ["-c", "user.name=pipelinectl", "-c", "user.email=pipelinectl@localhost"]


class DeliveryError(UserError):
    """The DAG files could not be delivered."""


class DirectoryDelivery:
    """DAG files below `base`/`folder` (a relative folder of the platform's, below the
    repository root; or an absolute folder, then `base` itself): written into real folders
    pipelinectl creates, never through a symlink (files.real_dir, checked_below)."""

    def __init__(self, base: Path, folder: str = "") -> None:
        self.base = base
        self.folder = folder
        self.root = base / folder
        self.location = f"directory:{self.root}"

    def read(self, path: str) -> str | None:
        found = files.checked_below(self.base, self._relative(path))
        try:
            return files.read_regular(found, MAX_DAG_BYTES + 1).decode("utf-8", "replace")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, files.NotRegular) as exc:
            raise DeliveryError(f"cannot read {found}: {getattr(exc, 'what', exc)}",
                                hint="the DAGs folder holds only files pipelinectl wrote and "
                                     "real folders") from None

    def publish(self, writes: Mapping[str, str], deletes: list[str], message: str,
                then: Callable[[], None] = lambda: None) -> None:
        """Every file is written under a temporary name first; `then` (the deploy's state
        records) runs before any is renamed into place: a full disk delivers no DAG without
        its record."""
        staged: list[tuple[Path, Path]] = []
        try:
            for path, text in sorted(writes.items()):
                folder = files.real_dir(self.base, Path(self._relative(path)).parent,
                                        create_root=True)
                target = folder / Path(path).name
                temporary = target.with_name(f".{target.name}.pipelinectl-staged")
                files.write_bytes(temporary, text.encode("utf-8"))
                staged.append((temporary, target))
            then()
        except BaseException:
            for temporary, _target in staged:
                temporary.unlink(missing_ok=True)
            raise
        for temporary, target in staged:
            os.replace(temporary, target)
        for path in deletes:
            files.checked_below(self.base, self._relative(path)).unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing to let go of: the folder stays."""

    def _relative(self, path: str) -> str:
        return posixpath.join(self.folder, path)


MAX_DAG_BYTES = 4 * 1024 * 1024


class GitDelivery:
    def __init__(self, repo: str, branch: str, environ: Mapping[str, str]) -> None:
        self.repo, self.branch = repo, branch
        self.location = f"git:{strip_credentials(repo)}#{branch}"
        self._env = dict(environ)
        self._checkout: Path | None = None

    def read(self, path: str) -> str | None:
        try:
            return (self._work() / path).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def publish(self, writes: Mapping[str, str], deletes: list[str], message: str,
                then: Callable[[], None] = lambda: None) -> None:
        """One commit, pushed; then `then` (the deploy's state records)."""
        self._push(writes, deletes, message)
        then()

    def _push(self, writes: Mapping[str, str], deletes: list[str], message: str) -> None:
        work = self._work()
        for _attempt in range(PUSH_ATTEMPTS):
            for path, text in writes.items():
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                (work / path).write_text(text, encoding="utf-8")
            for path in deletes:
                (work / path).unlink(missing_ok=True)
            self._git("add", "-A")
            if not (self._git("status", "--porcelain") or "").strip():
                return
            self._git(*AUTHOR, "commit", "-q", "-m", message)
            pushed = self._git("push", "-q", "origin", f"HEAD:refs/heads/{self.branch}",
                               check=False)
            if pushed is not None:
                return
            # Another deploy pushed first: start again from its commit.
            self._git("fetch", "-q", "origin", self.branch)
            self._git("reset", "-q", "--hard", f"origin/{self.branch}")
        raise DeliveryError(f"could not push DAG files to {self.location} after "
                            f"{PUSH_ATTEMPTS} attempts: others keep pushing first",
                            hint="run the deploy again")

    def close(self) -> None:
        if self._checkout is not None:
            shutil.rmtree(self._checkout.parent, ignore_errors=True)

    def _work(self) -> Path:
        if self._checkout is None:
            folder = Path(tempfile.mkdtemp(prefix="pipelinectl-dags-")) / "repo"
            # `--` before the repository: a platform value starting with '-' is never an option.
            cloned = self._run(["git", "clone", "-q", "--depth", "1", "--branch", self.branch,
                                "--", self.repo, str(folder)], check=False)
            if cloned is None:  # a new branch: start it empty
                self._run(["git", "clone", "-q", "--depth", "1", "--", self.repo, str(folder)])
                self._run(["git", "-C", str(folder), "checkout", "-q", "--orphan", self.branch])
                self._run(["git", "-C", str(folder), "rm", "-rq", "--ignore-unmatch", "."])
            self._checkout = folder
        return self._checkout

    def _git(self, *args: str, check: bool = True) -> str | None:
        return self._run(["git", "-C", str(self._work()), *args], check=check)

    def _run(self, command: list[str], check: bool = True) -> str | None:
        done = subprocess.run(command, capture_output=True, text=True, env=self._env,
                              check=False)
        if done.returncode != 0:
            if check:
                said = done.stderr.strip().replace(self.repo, strip_credentials(self.repo))
                raise DeliveryError(f"DAG delivery to {self.location} failed: "
                                    f"git {_verb(command)}: {said}",
                                    hint="check the platform's airflow.dags.git settings and "
                                         "the credentials CI gives git")
            return None
        return done.stdout


def _verb(command: list[str]) -> str:
    words = command[1:]
    if words[:1] == ["-C"]:
        words = words[2:]
    return next((w for w in words if not w.startswith("-") and "=" not in w), "?")

"""Kubernetes objects as YAML files: the deploy target of a platform without a cluster.

The built-in local platform sets `kubernetes: {directory: .pipelinectl/kubernetes}`. Deploy
then writes <directory>/<namespace>/<Kind>/<name>.yaml (state objects included) with the same
rules as against a cluster: unchanged objects are not rewritten, prune deletes only owned
files. A folder has no access control and no Secret store: access reviews always allow, and
Secrets are not checked (a local run reads them with `run --secrets-dir`). Nothing runs its
CronJobs on schedule: its Jobs are the records of the runs `pipelinectl trigger` ran in docker.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import posixpath
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from pipelinectl import files
from pipelinectl.adapters.kube import KubeError, annotations_of, applied_hash
from pipelinectl.vocabulary import APPLIED_HASH_ANNOTATION
from pipelinectl.yamlout import dump_all


class DirectoryKube:
    """Objects as files below `base`/`folder`: `folder` (the platform's, relative to the
    repository root `base`) is made of real folders pipelinectl creates, and no read, write
    or delete goes through a symlink below `base` (files.real_dir, checked_below)."""

    checks_secrets = False  # no Secret store in a folder: `run --secrets-dir` reads them
    keeps_jobs = False  # nothing runs a folder's CronJobs: its Jobs are trigger's records

    def __init__(self, base: Path, folder: str = "") -> None:
        self.base = base
        self.folder = folder
        self.root = base / folder
        self.host = f"directory {self.root}"

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        path = files.checked_below(self.base, self._relative(kind, namespace, name))
        try:
            data = files.read_regular(path, MAX_OBJECT_BYTES + 1)
        except FileNotFoundError:
            return None
        except (OSError, files.NotRegular) as exc:
            raise KubeError(f"cannot read {path}: {_reason(exc)}",
                            hint="the platform's kubernetes.directory must be a folder of "
                                 "object files that pipelinectl wrote") from None
        return _object(path, data, kind, namespace, name)

    def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        folder = files.checked_below(self.base, posixpath.join(self.folder, namespace, kind))
        try:
            names = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")
                           and not p.name.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise KubeError(f"cannot read {folder}: {exc.strerror or exc}",
                            hint="the platform's kubernetes.directory must be a readable "
                                 "folder") from None
        found = [self.get(kind, namespace, name) for name in names]
        return [o for o in found if o is not None and _selected(o, selector)]

    def namespace_exists(self, namespace: str) -> bool:
        return True

    def allowed(self, verb: str, kind: str, namespace: str) -> bool:
        return True

    def is_current(self, obj: dict[str, Any], live: Mapping[str, Any]) -> bool:
        return annotations_of(live).get(APPLIED_HASH_ANNOTATION) == applied_hash(obj)

    def apply(self, obj: dict[str, Any], live: Mapping[str, Any] | None) -> bool:
        if live is not None and self.is_current(obj, live):
            return False
        digest = applied_hash(obj)
        body = yaml.safe_load(dump_all([obj]))
        body["metadata"].setdefault("annotations", {})[APPLIED_HASH_ANNOTATION] = digest
        meta = body["metadata"]
        relative = self._relative(body["kind"], meta["namespace"], meta["name"])
        files.write_under(self.base, relative, dump_all([body]).encode("utf-8"))
        return True

    def create(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        with self._locked():
            meta = obj["metadata"]
            if self.get(obj["kind"], meta["namespace"], meta["name"]) is not None:
                return None
            return self._store(obj, "1")

    def replace(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        with self._locked():
            meta = obj["metadata"]
            current = self.get(obj["kind"], meta["namespace"], meta["name"])
            version = str((current or {}).get("metadata", {}).get("resourceVersion", ""))
            if current is None or version != str(meta.get("resourceVersion")) or \
                    not version.isdigit():
                return None
            return self._store(obj, str(int(version) + 1))

    def _store(self, obj: dict[str, Any], version: str) -> dict[str, Any]:
        body = yaml.safe_load(dump_all([obj]))
        body["metadata"]["resourceVersion"] = version
        meta = body["metadata"]
        relative = self._relative(body["kind"], meta["namespace"], meta["name"])
        files.write_under(self.base, relative, dump_all([body]).encode("utf-8"))
        return dict(body)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time for compare-and-swap: an exclusive lock file in the folder
        (two clones deploying to the same folder, as two CI jobs to one cluster)."""
        folder = files.real_dir(self.base, self.folder, create_root=True)
        descriptor = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        path = files.checked_below(self.base, self._relative(kind, namespace, name))
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def _relative(self, kind: str, namespace: str, name: str) -> str:
        for part in (kind, namespace, name):
            if not part or "/" in part or part.startswith(".") or "\0" in part:
                raise KubeError(f"unsafe object name {part!r} for {self.root}",
                                hint="object names are DNS labels")
        return posixpath.join(self.folder, namespace, kind, f"{name}.yaml")


MAX_OBJECT_BYTES = 4 * 1024 * 1024  # far above Kubernetes' 1.5 MiB per object


def _reason(exc: Exception) -> str:
    if isinstance(exc, files.NotRegular):
        return exc.what
    return str(getattr(exc, "strerror", None) or exc)


def _object(path: Path, data: bytes, kind: str, namespace: str, name: str) -> dict[str, Any]:
    """An object file, checked: YAML of a mapping whose metadata names this very object."""
    problem = None
    try:
        value = yaml.load(data.decode("utf-8"), Loader=_SafeLoader)
    except (UnicodeDecodeError, yaml.YAMLError):
        value, problem = None, "not a YAML file pipelinectl wrote"
    if problem is None and len(data) > MAX_OBJECT_BYTES:
        problem = "larger than any object pipelinectl writes"
    meta = value.get("metadata") if isinstance(value, dict) else None
    if problem is None and not (isinstance(meta, dict) and meta.get("name") == name and
                                meta.get("namespace") == namespace and
                                value.get("kind") == kind):
        problem = f"not the {kind} {namespace}/{name} its path says"
    if problem is not None:
        raise KubeError(f"{path}: {problem} (edited by hand?)",
                        hint="delete the file, or restore it from an earlier deploy; the next "
                             "deploy writes it again")
    assert isinstance(value, dict)
    return value


_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _selected(obj: Mapping[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, equals, value = term.partition("=")
        if equals and labels.get(key) != value:
            return False
        if not equals and key not in labels:
            return False
    return True

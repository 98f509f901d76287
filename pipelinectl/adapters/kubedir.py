"""Kubernetes objects as YAML files: the deploy target of a platform without a cluster.

The built-in local platform sets `kubernetes: {directory: .pipelinectl/kubernetes}`. Deploy
then writes <directory>/<namespace>/<Kind>/<name>.yaml (state objects included) with the same
rules as against a cluster: unchanged objects are not rewritten, prune deletes only owned
files. A folder has no access control and no Secret store: access reviews always allow, and
Secrets are not checked (a local run reads them with `run --secrets-dir`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipelinectl import files
from pipelinectl.adapters.kube import KubeError, annotations_of, applied_hash
from pipelinectl.vocabulary import APPLIED_HASH_ANNOTATION
from pipelinectl.yamlout import dump_all


class DirectoryKube:
    checks_secrets = False  # no Secret store in a folder: `run --secrets-dir` reads them

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = f"directory {root}"

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        path = self._path(kind, namespace, name)
        try:
            if not path.is_file():
                return None
            value = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KubeError(f"cannot read {path}: {exc.strerror or exc}",
                            hint="the platform's kubernetes.directory must be a readable "
                                 "folder") from None
        return value if isinstance(value, dict) else None

    def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        folder = self.root / namespace / kind
        try:
            names = sorted(p.stem for p in folder.glob("*.yaml"))
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

    def apply(self, obj: dict[str, Any], live: Mapping[str, Any] | None) -> bool:
        digest = applied_hash(obj)
        if live is not None and annotations_of(live).get(APPLIED_HASH_ANNOTATION) == digest:
            return False
        body = yaml.safe_load(dump_all([obj]))
        body["metadata"].setdefault("annotations", {})[APPLIED_HASH_ANNOTATION] = digest
        meta = body["metadata"]
        path = self._path(body["kind"], meta["namespace"], meta["name"])
        files.write_text(path, dump_all([body]))
        return True

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        path = self._path(kind, namespace, name)
        if not path.is_file():
            return False
        path.unlink()
        return True

    def _path(self, kind: str, namespace: str, name: str) -> Path:
        for part in (kind, namespace, name):
            if not part or "/" in part or part.startswith("."):
                raise ValueError(f"unsafe name {part!r}")
        return self.root / namespace / kind / f"{name}.yaml"


def _selected(obj: Mapping[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, equals, value = term.partition("=")
        if equals and labels.get(key) != value:
            return False
        if not equals and key not in labels:
            return False
    return True

"""The content digest of an image's inputs, its tags, and why one image differs from another.

Pure: works on a BuildInputs (buildinputs.py) and on labels read back from older images.

Tag scheme (README "Images and tags"):
- `content-<64 hex>`: the sha256 of everything that decides the image. The registry holding
  this tag is the whole cache: same inputs, same tag, no build.
- `git-<40 hex>`: the commit whose image this is. Written when a commit builds an image or
  moves to a different existing one (a revert); a commit that changes nothing for a pipeline
  adds no tag, so the nearest `git-` tag in first-parent history is the image it runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelinectl.build.context import BUILDER_DIR, CODE_DIR, BuildInputs, Entry
from pipelinectl.vocabulary import CONTENT_TAG_PREFIX, GIT_TAG_PREFIX

FORMAT = 1
MAX_LISTED_FILES = 1000  # beyond this the label keeps one hash for all code files
_SHORT = 16
_DEPS = f"{BUILDER_DIR}/deps/"
_PACKAGES = f"{BUILDER_DIR}/system-packages.txt"
_KIND = {"file": "-", "dir": "d", "symlink": "l"}


@dataclass(frozen=True)
class Inputs:
    """The inputs of one image, each reduced to a hash (or kept as is where short)."""

    base_image: str | None
    builder: str | None  # our base-images/ files, for language images
    dockerfile: str | None  # a custom Dockerfile
    dependencies: Mapping[str, str]  # file name -> hash
    system_packages: tuple[str, ...]
    files: Mapping[str, str]  # code path -> kind, mode and hash

    @property
    def digest(self) -> str:
        return "sha256:" + _sha(_canonical(self._document(short=False)))

    def label(self) -> str:
        """The inputs as recorded on the image, to explain the next rebuild."""
        return _canonical(self._document(short=True))

    def _document(self, short: bool) -> dict[str, Any]:
        def cut(value: str) -> str:
            return value[:_SHORT] if short else value

        files: Mapping[str, str] = {k: v[:2 + _SHORT] if short else v
                                    for k, v in self.files.items()}
        if not short or len(files) > MAX_LISTED_FILES:
            files = {"*": cut(_sha("".join(f"{k}\0{v}\n" for k, v in sorted(files.items()))))}
        return {
            "format": FORMAT,
            "base-image": self.base_image,
            "builder": self.builder and cut(self.builder),
            "dockerfile": self.dockerfile and cut(self.dockerfile),
            "dependencies": {k: cut(v) for k, v in self.dependencies.items()},
            "system-packages": list(self.system_packages),
            "files": files,
        }


def inputs_of(build: BuildInputs) -> Inputs:
    if build.base_image is None:  # a custom Dockerfile: the context is the code
        dockerfile = next(e for e in build.entries if e.name == build.dockerfile)
        code = {e.name: _member(e) for e in build.entries if e is not dockerfile}
        return Inputs(None, None, dockerfile.sha256, {}, (), code)
    builder = [e for e in build.group(BUILDER_DIR + "/")
               if not e.name.startswith(_DEPS) and e.name != _PACKAGES]
    deps = {e.name[len(_DEPS):]: e.sha256 for e in build.group(_DEPS) if e.kind == "file"}
    code = {e.name[len(CODE_DIR) + 1:]: _member(e) for e in build.group(CODE_DIR + "/")}
    return Inputs(build.base_image, _tree_sha(builder), None, deps, build.system_packages,
                  code)


def content_tag(digest: str) -> str:
    return CONTENT_TAG_PREFIX + digest.removeprefix("sha256:")


def git_tag(commit: str) -> str:
    return GIT_TAG_PREFIX + commit


def explain(previous_label: str | None, current: Inputs) -> list[str]:
    """Which inputs differ from the image this one replaces, one line each."""
    if previous_label is None:
        return ["the image it replaces carries no pipelinectl inputs label"]
    try:
        old = json.loads(previous_label)
    except ValueError:
        return ["the image it replaces has an unreadable pipelinectl inputs label"]
    if not isinstance(old, dict) or old.get("format") != FORMAT:
        return ["the image it replaces was built by another pipelinectl image format"]
    new = json.loads(current.label())
    reasons: list[str] = []
    if old.get("base-image") != new["base-image"]:
        reasons.append(f"base image: {old.get('base-image')} -> {new['base-image']}")
    if old.get("builder") != new["builder"]:
        reasons.append("pipelinectl's base-images/ build files changed")
    if old.get("dockerfile") != new["dockerfile"]:
        reasons.append("Dockerfile changed")
    reasons += _changes("dependencies", _mapping(old.get("dependencies")),
                        new["dependencies"])
    before, after = set(old.get("system-packages") or ()), set(new["system-packages"])
    if before != after:
        reasons.append("system packages: " + "; ".join(filter(None, (
            _listed("added", sorted(after - before)), _listed("removed", sorted(before - after))))))
    reasons += _changes("code", _mapping(old.get("files")), new["files"])
    return reasons or ["same inputs, but the image it replaces has another digest"]


def _changes(what: str, old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    if old == new:
        return []
    if "*" in old or "*" in new:
        return [f"{what}: files changed (too many files to name them)"]
    changed = sorted(k for k in new.keys() & old.keys() if new[k] != old[k])
    parts = [_listed("changed", changed), _listed("added", sorted(new.keys() - old.keys())),
             _listed("removed", sorted(old.keys() - new.keys()))]
    return [f"{what}: " + "; ".join(p for p in parts if p)]


def _listed(verb: str, names: list[str], limit: int = 5) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{verb} {shown}{more}"


def _mapping(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _member(entry: Entry) -> str:
    return f"{_KIND[entry.kind]}{'x' if entry.mode == 0o755 and entry.kind == 'file' else '-'}" \
           f"{entry.sha256}"


def _tree_sha(entries: list[Entry]) -> str:
    return _sha("".join(f"{e.name}\0{_member(e)}\n" for e in sorted(entries, key=lambda e: e.name)))


def _canonical(document: object) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

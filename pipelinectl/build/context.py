"""Everything that decides a pipeline's image, gathered into one deterministic build context.

The context `pipelinectl build` sends to the builder is assembled here, file by file, and the
content digest is computed over exactly those files (digest.py): what is hashed is what is
built. Language images get a context of our own layout:

    .pipelinectl/Dockerfile, helpers   base-images/<language>/ and base-images/common/
    .pipelinectl/system-packages.txt   image.system_packages, one per line
    .pipelinectl/deps/<file>           image.dependencies (requirements.txt, renv.lock, DESCRIPTION)
    code/...                           the pipeline's folder after .dockerignore

A custom `image.dockerfile` gets its `image.context` folder after .dockerignore, as docker
would send it. Modes are reduced to executable or not (as git stores them) and times are not
read, so two clones of the same commit give the same context (adapters/contextdir.py writes it
out for the builder).
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelinectl.build import dockerignore
from pipelinectl.errors import Location, UserError
from pipelinectl.files import shipped
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.repofiles import display

BUILDER_DIR = ".pipelinectl"
CODE_DIR = "code"
DOCKERFILE = f"{BUILDER_DIR}/Dockerfile"
# Never part of a context: git's own data changes with every commit and would defeat reuse.
ALWAYS_EXCLUDED = (".git",)
# Excluded from a language image's code unless .dockerignore re-includes them with `!`:
# the spec itself (a schedule change must not rebuild), caches and local environments.
CODE_EXCLUDED = ("pipeline.yaml", ".pipelinectl", "**/__pycache__", "**/*.pyc", ".venv",
                 "renv/library", "renv/staging", ".Rproj.user", ".Rhistory")
PYTHON_REQUIREMENTS = "requirements.txt"
# Context files get times from 2000-01-01 on (adapters/contextdir.py): zip and some build tools
# refuse dates before 1980, and times derived from content keep rebuilt layers identical.
CONTEXT_MTIME = 946684800
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One member of the build context. Files keep their source path and are read when the
    context is written; `data` holds generated files and symlink targets."""

    name: str
    kind: str  # file | dir | symlink
    mode: int
    sha256: str
    source: Path | None = None
    data: bytes = b""


@dataclass(frozen=True)
class Tracked:
    """What git tracks in the repository at `root` (paths relative to it, with /): a build
    context holds these files and nothing else, so an ignored `.env` never enters an image."""

    root: Path
    paths: frozenset[str]

    @functools.cached_property
    def folders(self) -> frozenset[str]:
        found: set[str] = set()
        for path in self.paths:
            parts = path.split("/")[:-1]
            found.update("/".join(parts[:i + 1]) for i in range(len(parts)))
        return frozenset(found)

    def plus(self, more: frozenset[str]) -> Tracked:
        """These files and `more` (a local run that asks for untracked files)."""
        return Tracked(self.root, self.paths | more)

    def relative(self, path: Path) -> str | None:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return None

    def has_file(self, path: Path) -> bool:
        return self.relative(path) in self.paths

    def has_folder(self, path: Path) -> bool:
        relative = self.relative(path)
        return relative is not None and (relative in self.folders or relative == ".")


@dataclass(frozen=True)
class BuildInputs:
    dockerfile: str  # path of the Dockerfile inside the context
    build_args: tuple[tuple[str, str], ...]
    entries: tuple[Entry, ...]
    base_image: str | None  # language images: the platform's base image for the version
    dependencies: str | None  # the dependency file as the spec names it
    system_packages: tuple[str, ...]

    def group(self, prefix: str) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.name.startswith(prefix))


def base_images_dir() -> Path:
    """base-images/: inside the installed wheel, or at the top of a source checkout."""
    return shipped("base-images")


def collect(pipeline: Pipeline, pipeline_dir: Path, base_image: str | None,
            tracked: Tracked | None = None) -> BuildInputs:
    """The build context of `pipeline`, whose spec lives in `pipeline_dir` (resolved): with
    `tracked`, only files git tracks (outside git, every file .dockerignore keeps)."""
    image = pipeline.image
    if image.dockerfile is not None:
        return _custom(pipeline, pipeline_dir, tracked)
    assert image.language is not None and base_image is not None
    entries = list(_builder_entries(image.language))
    packages = tuple(sorted(set(image.system_packages)))  # one apt-get install: order is moot
    entries.append(_generated(f"{BUILDER_DIR}/system-packages.txt", "".join(
        f"{name}\n" for name in packages).encode()))
    entries.append(_directory(f"{BUILDER_DIR}/deps"))
    if image.dependencies is not None:
        source = pipeline_dir / image.dependencies
        _require_tracked(source, tracked, display(pipeline, image.dependencies))
        name = PYTHON_REQUIREMENTS if image.language == "python" else source.name
        entries.append(_file_entry(f"{BUILDER_DIR}/deps/{name}", source,
                                   display(pipeline, image.dependencies)))
    entries.append(_directory(CODE_DIR))
    ignore = _ignore_patterns(pipeline_dir, CODE_EXCLUDED, tracked)
    entries.extend(_tree(pipeline_dir, CODE_DIR + "/", ignore, tracked))
    return BuildInputs(DOCKERFILE, (("BASE_IMAGE", base_image),), _sorted(entries), base_image,
                       image.dependencies, packages)


def _custom(pipeline: Pipeline, pipeline_dir: Path, tracked: Tracked | None) -> BuildInputs:
    image = pipeline.image
    assert image.dockerfile is not None
    context = Path(os.path.normpath(pipeline_dir / (image.context or ".")))
    dockerfile = Path(os.path.normpath(pipeline_dir / image.dockerfile))
    try:
        inside = dockerfile.relative_to(context).as_posix()
    except ValueError:
        raise UserError(
            f"image.dockerfile {image.dockerfile!r} is outside image.context "
            f"{image.context or '.'!r}", location=pipeline.source.at(("image", "dockerfile")),
            hint="put the Dockerfile inside the build context, or widen image.context; see "
                 "docs/tutorials/python-custom-dockerfile.md") from None
    _require_tracked(dockerfile, tracked, display(pipeline, image.dockerfile))
    ignore = _ignore_patterns(context, (), tracked) + ["!" + inside]
    entries = list(_tree(context, "", ignore, tracked))
    return BuildInputs(inside, (), _sorted(entries), None, None, ())


def _builder_entries(language: str) -> Iterator[Entry]:
    root = base_images_dir()
    for folder in (root / "common", root / language):
        for path in sorted(folder.iterdir()):
            if path.is_file():
                yield _file_entry(f"{BUILDER_DIR}/{path.name}", path, str(path))


def _require_tracked(path: Path, tracked: Tracked | None, shown: str) -> None:
    if tracked is not None and not tracked.has_file(path):
        raise UserError(f"{shown} is not tracked by git, so it cannot be part of the image",
                        hint=f"git add {shown} (deploy needs it committed); `pipelinectl run "
                             "--include-untracked` takes it as it is")


def _ignore_patterns(context: Path, defaults: tuple[str, ...],
                     tracked: Tracked | None) -> list[str]:
    """Built-in exclusions, then the folder's .dockerignore (whose `!` lines win)."""
    patterns = list(ALWAYS_EXCLUDED) + list(defaults)
    ignore_file = context / ".dockerignore"
    if ignore_file.is_file() and not ignore_file.is_symlink() and \
            (tracked is None or tracked.has_file(ignore_file)):
        # utf-8-sig: an editor's byte order mark must not become part of the first pattern.
        patterns.extend(ignore_file.read_text(encoding="utf-8-sig",
                                              errors="replace").splitlines())
    return patterns


def _tree(root: Path, prefix: str, lines: list[str],
          tracked: Tracked | None = None) -> Iterator[Entry]:
    """Files, folders and symlinks under `root` that .dockerignore rules keep (and, with
    `tracked`, that git tracks: a folder without a tracked file is not even walked)."""
    try:
        patterns = dockerignore.parse(lines)
    except ValueError as exc:
        shown = os.path.relpath(root / ".dockerignore")
        raise UserError(f"{shown}: {exc}", location=Location(shown, 1, 1),
                        hint="see docs.docker.com/build/concepts/context/#dockerignore-files"
                        ) from None
    for current, dirs, files in os.walk(root):
        relative_dir = os.path.relpath(current, root)
        base = "" if relative_dir == "." else relative_dir.replace(os.sep, "/") + "/"
        kept_dirs = []
        for name in sorted(dirs):
            relative = base + name
            path = Path(current, name)
            if relative in ALWAYS_EXCLUDED or not _kept(path, tracked, folder=True):
                continue
            excluded = dockerignore.excluded(patterns, relative)
            if path.is_symlink():
                if not excluded:
                    yield _symlink_entry(prefix + relative, path)
                continue
            if not excluded:
                yield _directory(prefix + relative)
            if not excluded or dockerignore.may_reinclude_below(patterns, relative):
                kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in sorted(files):
            relative = base + name
            path = Path(current, name)
            if relative in ALWAYS_EXCLUDED or not _kept(path, tracked, folder=False) or \
                    dockerignore.excluded(patterns, relative):
                continue
            yield (_symlink_entry(prefix + relative, path) if path.is_symlink()
                   else _file_entry(prefix + relative, path, os.path.relpath(path)))


def _kept(path: Path, tracked: Tracked | None, folder: bool) -> bool:
    """Whether git tracks `path` (a symlink to a folder is tracked as a file)."""
    if tracked is None:
        return True
    if folder and not path.is_symlink():
        return tracked.has_folder(path)
    return tracked.has_file(path)


def _file_entry(name: str, path: Path, shown: str) -> Entry:
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{shown}: not a regular file, cannot be part of an image",
                            location=Location(shown, 1, 1),
                            hint="exclude it in .dockerignore")
        return Entry(name, "file", 0o755 if info.st_mode & 0o111 else 0o644, file_sha256(path),
                     source=path)
    except OSError as exc:
        raise UserError(f"cannot read {shown}: {exc.strerror}",
                        hint="check the file's permissions, or exclude it in .dockerignore"
                        ) from None


def _symlink_entry(name: str, path: Path) -> Entry:
    # The link itself, as docker sends it: its target is never read.
    target = os.readlink(path).encode("utf-8", "surrogateescape")
    return Entry(name, "symlink", 0o777, hashlib.sha256(b"link:" + target).hexdigest(),
                 data=target)


def _directory(name: str) -> Entry:
    return Entry(name, "dir", 0o755, "")


def _generated(name: str, data: bytes) -> Entry:
    return Entry(name, "file", 0o644, hashlib.sha256(data).hexdigest(), data=data)


def _sorted(entries: list[Entry]) -> tuple[Entry, ...]:
    return tuple(sorted(entries, key=lambda e: e.name))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_checked(entry: Entry) -> bytes:
    """A context file's bytes, checked against the hash the digest was computed from: a file
    edited since stops the build."""
    assert entry.source is not None
    data = entry.source.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise UserError(f"{os.path.relpath(entry.source)} changed while the image was being "
                        "built", hint="run the build again once the file is saved")
    return data

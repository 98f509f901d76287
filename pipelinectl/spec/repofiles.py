"""Files a spec names: inside the repository, present, and of the right kind.

Paths in pipeline.yaml are relative to its directory. A path that is absolute, climbs out of the
repository with `..`, or passes through a symlink that leads outside it, is refused: the build
must never read the runner's files.
"""

from __future__ import annotations

import functools
import json
import os
import re
import stat
from pathlib import Path

from pipelinectl.errors import Collector, Location
from pipelinectl.files import NotRegular, kind_of, read_regular
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.yamlio import JsonPath, where

R_DEPENDENCY_FILES = ("renv.lock", "DESCRIPTION")
SCRIPT_SUFFIXES = (".R", ".r", ".py", ".sh", ".Rmd", ".qmd", ".jl")
_PIP_OPTIONS_ALLOWED = ("--hash", "-i", "--index-url", "--extra-index-url", "-f",
                        "--find-links", "--trusted-host", "--no-binary", "--only-binary",
                        "--prefer-binary", "--require-hashes", "--pre")
_PIP_INCLUDES = ("-r", "--requirement", "-c", "--constraint", "-e", "--editable")
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*===?\s*[^\s;,=<>~!]+\s*(;.*)?$")
_DIRECT_URL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*@\s*\S+://\S+")
_DCF_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9/._@-]*:")
MAX_DEPENDENCY_BYTES = 10 * 1024 * 1024
MAX_JSON_DEPTH = 64  # a real renv.lock nests 4 levels
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_LONG_NUMBER = re.compile(r"[0-9]{4000,}")


def inside(repo_root: Path, base: Path, relative: str) -> tuple[Path | None, str | None]:
    """Resolve `relative` against `base`; (path, None) if it stays in the repo, else a reason.

    `repo_root` and `base` must already be resolved (no symlinks): callers resolve them once.
    Plain strings, not pathlib: this runs for every file of every pipeline in a monorepo.
    """
    if os.path.isabs(relative) or relative.startswith("~"):
        return None, f"{relative!r} is an absolute path"
    root = str(repo_root)
    lexical = os.path.normpath(os.path.join(base, relative))
    if not _within(lexical, root):
        return None, f"{relative!r} points outside the repository"
    # `base` is resolved: only the components below it (or below the root, for a path that
    # climbs out of `base` with ..) can be symlinks.
    if _through_symlink(lexical, str(base) if _within(lexical, str(base)) else root):
        real = os.path.realpath(lexical)
        if not _within(real, root):
            return None, f"{relative!r} is a symlink to a place outside the repository"
        return Path(real), None
    return Path(lexical), None


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _through_symlink(path: str, root: str) -> bool:
    """Whether any component of `path` below `root` is a symlink."""
    current = root.rstrip(os.sep)
    for part in path[len(current) + 1:].split(os.sep):
        current = current + os.sep + part
        if os.path.islink(current):
            return True
    return False


def display(pipeline: Pipeline, relative: str) -> str:
    """How to name a file next to pipeline.yaml in messages (relative like the spec file)."""
    return os.path.normpath(os.path.join(os.path.dirname(pipeline.file), relative))


def check(pipeline: Pipeline, repo_root: Path, pipeline_dir: Path, problems: Collector) -> None:
    image = pipeline.image
    if image.dependencies is not None:
        found = _file(pipeline, repo_root, pipeline_dir, ("image", "dependencies"),
                      image.dependencies, problems)
        if found:
            _check_dependencies(pipeline, found, problems)
    if image.dockerfile is not None:
        _file(pipeline, repo_root, pipeline_dir, ("image", "dockerfile"), image.dockerfile,
              problems)
    if image.context is not None:
        _file(pipeline, repo_root, pipeline_dir, ("image", "context"), image.context, problems,
              want_dir=True)
    if image.language is not None:
        _check_scripts(pipeline, repo_root, pipeline_dir, problems)


def _file(pipeline: Pipeline, repo_root: Path, base: Path, path: JsonPath, relative: str,
          problems: Collector, want_dir: bool = False) -> Path | None:
    """The file (or folder) a spec field names: inside the repository, reached through no
    symlink, and a regular file (or a real folder); else a problem, and nothing is read."""
    found, reason = inside(repo_root, base, relative)
    if reason:
        problems.add(pipeline.source.at(path), f"{where(path)}: {reason}",
                     "name a file inside the repository, relative to the directory of "
                     "pipeline.yaml", "path")
        return None
    assert found is not None
    kind = "directory" if want_dir else "file"
    shown = display(pipeline, relative)
    lexical = os.path.normpath(os.path.join(base, relative))
    if _through_symlink(lexical, str(base) if _within(lexical, str(base)) else str(repo_root)):
        problems.add(pipeline.source.at(path),
                     f"{where(path)}: {kind} {shown!r} is a symlink (or is reached through "
                     "one)", f"commit the {kind} itself in its place", "not-regular")
        return None
    try:
        mode = os.lstat(lexical).st_mode
    except OSError:
        problems.add(pipeline.source.at(path), f"{where(path)}: {kind} {shown!r} not found",
                     "paths are relative to the directory of pipeline.yaml", "missing-file")
        return None
    if not (stat.S_ISDIR(mode) if want_dir else stat.S_ISREG(mode)):
        want = "folder" if want_dir else "regular file"
        problems.add(pipeline.source.at(path),
                     f"{where(path)}: {shown!r} is {kind_of(mode)}, not a {want}",
                     f"name a {want}", "not-regular")
        return None
    return found


def _check_dependencies(pipeline: Pipeline, found: Path, problems: Collector) -> None:
    image = pipeline.image
    assert image.dependencies is not None
    path: JsonPath = ("image", "dependencies")
    name = found.name
    shown = display(pipeline, image.dependencies)
    if image.language == "r":
        if name not in R_DEPENDENCY_FILES:
            problems.add(pipeline.source.at(path),
                         f"image.dependencies: R dependencies must be in renv.lock or "
                         f"DESCRIPTION, not {name!r}",
                         "run renv::snapshot() to write renv.lock", "dependencies")
        elif name == "renv.lock":
            _check_renv_lock(found, shown, problems)
        else:
            _check_description(found, shown, problems)
    elif image.language == "python":
        _check_requirements(found, shown, problems)


def _read(found: Path, shown: str, problems: Collector) -> str | None:
    try:
        raw = read_regular(found, MAX_DEPENDENCY_BYTES + 1, follow_symlinks=True)
    except NotRegular as exc:
        problems.add(Location(shown, 1, 1), f"the dependency file {exc.what}",
                     "commit the file itself", "dependencies")
        return None
    except OSError as exc:
        problems.add(Location(shown, 1, 1),
                     f"cannot read the dependency file: {exc.strerror or exc}",
                     "check that the file exists and is readable", "dependencies")
        return None
    if len(raw) > MAX_DEPENDENCY_BYTES:
        problems.add(Location(shown, 1, 1), "the dependency file is larger than 10 MiB",
                     "list the packages the pipeline needs, nothing else", "dependencies")
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = raw[:exc.start].decode("utf-8")  # valid up to the bad byte
        line, column = _line_column(prefix, len(prefix))
        problems.add(Location(shown, line, column),
                     f"the dependency file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                     "save it as UTF-8 text", "dependencies")
        return None


def _line_column(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _check_renv_lock(found: Path, shown: str, problems: Collector) -> None:
    text = _read(found, shown, problems)
    if text is None:
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(Location(shown, exc.lineno, exc.colno), f"renv.lock is not valid JSON: "
                     f"{exc.msg}", "write it again with renv::snapshot()", "dependencies")
        return
    except (RecursionError, ValueError) as exc:  # nesting, or a number of 4,300+ digits
        _json_limit(text, shown, isinstance(exc, RecursionError), problems)
        return
    if not isinstance(data, dict) or not isinstance(data.get("Packages"), dict):
        problems.add(Location(shown, 1, 1), "renv.lock has no 'Packages' section",
                     "write it again with renv::snapshot()", "dependencies")


def _json_limit(text: str, shown: str, nested: bool, problems: Collector) -> None:
    """renv.lock beyond what a JSON reader holds: say where (the first bracket deeper than
    64 levels, or the first over-long number), never a traceback."""
    if nested:
        depth = 0
        for token in _JSON_TOKENS.finditer(text):
            depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(token.group(), 0)
            if depth > MAX_JSON_DEPTH:
                problems.add(Location(shown, *_line_column(text, token.start())),
                             f"renv.lock nests deeper than {MAX_JSON_DEPTH} levels",
                             "write it again with renv::snapshot()", "dependencies")
                return
    number = _LONG_NUMBER.search(text)
    where = _line_column(text, number.start()) if number else (1, 1)
    problems.add(Location(shown, *where), "renv.lock holds a number too long to read"
                 if number else "renv.lock cannot be read as JSON",
                 "write it again with renv::snapshot()", "dependencies")


def _check_description(found: Path, shown: str, problems: Collector) -> None:
    text = _read(found, shown, problems)
    if text is None:
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line[0].isspace() and not _DCF_FIELD.match(line):
            problems.add(Location(shown, number, 1), f"DESCRIPTION line {number} is not a "
                         "'Field: value' line", "continuation lines start with a space",
                         "dependencies")
            return


def _check_requirements(found: Path, shown: str, problems: Collector) -> None:
    text = _read(found, shown, problems)
    if text is None:
        return
    for number, line in _logical_lines(text):
        reason = requirement_problem(line)
        if reason:
            problems.add(Location(shown, number, 1), reason[0], reason[1], "unpinned")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Requirement lines with comments removed and backslash continuations joined."""
    result: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            result.append((start, joined))
    if pending.strip():
        result.append((start, pending.strip()))
    return result


@functools.lru_cache(maxsize=8192)
def requirement_problem(line: str) -> tuple[str, str] | None:
    """(message, hint) if a requirements.txt line is not pinned to one exact version."""
    first = line.split()[0]
    option = first.split("=")[0]
    if option in _PIP_INCLUDES:
        message = f"requirements: {first!r} includes other files, which the build does not see"
        return message, "list every package in this file, each pinned with =="
    if option.startswith("-"):
        if option in _PIP_OPTIONS_ALLOWED:
            return None
        return f"requirements: option {option!r} is not supported", "remove it"
    requirement = re.split(r"\s+--", line)[0].strip()
    if _PINNED.match(requirement) or _DIRECT_URL.match(requirement):
        return None
    name = re.split(r"[\s\[<>=!~;@]", requirement)[0]
    return (f"requirements: {requirement!r} is not pinned to one version",
            f"pin an exact version, e.g. {name}==1.2.3 ('pip freeze' lists installed ones)")


def _looks_like_script(arg: str) -> bool:
    """A relative path to a script file, as a command argument (not an option or /abs path)."""
    return arg.endswith(SCRIPT_SUFFIXES) and not arg.startswith(("-", "/")) and "=" not in arg


def _check_scripts(pipeline: Pipeline, repo_root: Path, base: Path,
                   problems: Collector) -> None:
    """Script files named by relative path in commands exist in the pipeline's directory."""
    for task in pipeline.tasks:
        for index, arg in enumerate(task.command):
            program = index == 0 and len(task.command) > 1  # Rscript, python: not our files
            if program or not _looks_like_script(arg):
                continue
            path = task.path + ("command", index)
            if path not in pipeline.source.values:
                path = task.path + ("command",)  # a string command: point at the string
            found, reason = inside(repo_root, base, arg)
            if reason:
                problems.add(pipeline.source.at(path), f"{where(path)}: {reason}",
                             "scripts run from the pipeline's directory; keep them inside "
                             "the repository", "path")
            elif found is not None and not found.is_file():
                problems.add(pipeline.source.at(path),
                             f"{where(path)}: script {display(pipeline, arg)!r} not found",
                             "commands run in the directory of pipeline.yaml; check the name "
                             "and path", "missing-file")

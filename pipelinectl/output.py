"""How problems are printed: text for people, JSON, GitHub annotations, GitLab Code Quality."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from pipelinectl.errors import Diagnostic

FORMATS = ("text", "json", "github", "gitlab")


def render(fmt: str, problems: Sequence[Diagnostic], files: Sequence[str],
           repo_root: Path) -> str:
    return {"text": text, "json": as_json, "github": github, "gitlab": gitlab}[fmt](
        problems, files, repo_root)


def summary(problems: Sequence[Diagnostic], files: Sequence[str]) -> str:
    count = len(files)
    noun = "pipeline file" if count == 1 else "pipeline files"
    if not problems:
        return f"{count} {noun} valid"
    bad = len({p.location.file for p in problems} & set(files)) or 1
    what = "problem" if len(problems) == 1 else "problems"
    return f"{len(problems)} {what} in {bad} of {count} {noun}"


def text(problems: Sequence[Diagnostic], files: Sequence[str], repo_root: Path) -> str:
    lines = [p.render() for p in problems]
    return "\n".join(lines + [summary(problems, files)]) + "\n"


def as_json(problems: Sequence[Diagnostic], files: Sequence[str], repo_root: Path) -> str:
    document = {
        "valid": not problems,
        "files": list(files),
        "problems": [{"file": p.location.file, "line": p.location.line,
                      "column": p.location.column, "message": p.message, "hint": p.hint,
                      "code": p.code} for p in problems],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(problems: Sequence[Diagnostic], files: Sequence[str], repo_root: Path) -> str:
    """GitHub Actions workflow commands: one ::error annotation per problem."""
    lines = []
    for p in problems:
        loc = p.location
        props = f"file={_escape_property(loc.file)}"
        if loc.line:
            props += f",line={loc.line},col={loc.column}"
        props += f",title={_escape_property('pipelinectl ' + p.code)}"
        body = p.message + (f"\nhint: {p.hint}" if p.hint else "")
        lines.append(f"::error {props}::{_escape_data(body)}")
    lines.append(summary(problems, files))
    return "\n".join(lines) + "\n"


def gitlab(problems: Sequence[Diagnostic], files: Sequence[str], repo_root: Path) -> str:
    """A GitLab Code Quality report (paths relative to the repository root)."""
    issues = []
    for p in problems:
        path = _repo_relative(p.location.file, repo_root)
        description = p.message + (f" (hint: {p.hint})" if p.hint else "")
        fingerprint = hashlib.sha256(
            f"{path}\0{p.location.line}\0{p.location.column}\0{p.message}".encode()).hexdigest()
        issues.append({
            "description": description,
            "check_name": f"pipelinectl/{p.code}",
            "fingerprint": fingerprint,
            "severity": "major",
            "location": {"path": path, "lines": {"begin": max(p.location.line, 1)}},
        })
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


def _repo_relative(file: str, repo_root: Path) -> str:
    absolute = Path(os.path.abspath(file))
    try:
        return absolute.relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        return file

"""How problems are printed: text for people, JSON, GitHub annotations, GitLab Code Quality."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pipelinectl.errors import Diagnostic
from pipelinectl.spec.validation import Report

ReportFormat = Literal["text", "json", "github", "gitlab"]  # vocabulary.REPORT_FORMATS


Formatter = Callable[[Report, Path], str]


def render(fmt: ReportFormat, report: Report, repo_root: Path) -> str:
    formatters: dict[ReportFormat, Formatter] = {"text": text, "json": as_json, "github": github,
                                        "gitlab": gitlab}
    return formatters[fmt](report, repo_root)


def summary(report: Report) -> str:
    """One closing line."""
    count, problems = len(report.files), len(report.problems)
    what = "problem" if problems == 1 else "problems"
    if not report.files:
        return f"{problems} {what} in the platform config; no pipeline was checked"
    noun = "pipeline file" if count == 1 else "pipeline files"
    warned = len(report.warnings)
    also = f", {warned} warning{'' if warned == 1 else 's'}" if warned else ""
    if not problems:
        return f"{count} {noun} valid{also}"
    return f"{problems} {what} in {len(report.invalid_files)} of {count} {noun}{also}"


def text(report: Report, repo_root: Path) -> str:
    lines = [p.render() for p in sorted(report.problems + report.warnings,
                                        key=Diagnostic.sort_key)]
    return "\n".join([*lines, summary(report)]) + "\n"


def as_json(report: Report, repo_root: Path) -> str:
    document = {
        "valid": not report.problems,
        "files": report.files,
        "invalid_files": sorted(report.invalid_files),
        "problems": [{"file": p.location.file, "line": p.location.line,
                      "column": p.location.column, "message": p.message, "hint": p.hint,
                      "code": p.code} for p in report.problems],
        "warnings": [{"file": p.location.file, "line": p.location.line,
                      "column": p.location.column, "message": p.message, "hint": p.hint,
                      "code": p.code} for p in report.warnings],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(report: Report, repo_root: Path) -> str:
    """GitHub Actions workflow commands: one ::error annotation per problem."""
    lines = []
    for p in sorted(report.problems + report.warnings, key=Diagnostic.sort_key):
        loc = p.location
        props = f"file={_escape_property(loc.file)}"
        if loc.line:
            props += f",line={loc.line},col={loc.column}"
        props += f",title={_escape_property('pipelinectl ' + p.code)}"
        body = p.message + (f"\nhint: {p.hint}" if p.hint else "")
        lines.append(f"::{'warning' if p.warning else 'error'} {props}::{_escape_data(body)}")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def gitlab(report: Report, repo_root: Path) -> str:
    """A GitLab Code Quality report (paths relative to the repository root)."""
    issues = []
    for p in sorted(report.problems + report.warnings, key=Diagnostic.sort_key):
        path = _repo_relative(p.location.file, repo_root)
        description = p.message + (f" (hint: {p.hint})" if p.hint else "")
        fingerprint = hashlib.sha256(
            f"{path}\0{p.location.line}\0{p.location.column}\0{p.message}".encode()).hexdigest()
        issues.append({
            "description": description,
            "check_name": f"pipelinectl/{p.code}",
            "fingerprint": fingerprint,
            "severity": "minor" if p.warning else "major",
            "location": {"path": path, "lines": {"begin": max(p.location.line, 1)}},
        })
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


def _repo_relative(file: str, repo_root: Path) -> str:
    absolute = Path(os.path.abspath(file))
    try:
        return absolute.relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        return file

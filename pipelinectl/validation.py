"""Load and check pipeline files: the front half of every command (validate, render, deploy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipelinectl import checks, schema, spec, yamlio
from pipelinectl.discover import display_name, repo_root
from pipelinectl.errors import Diagnostic, InvalidInput, Location, dedupe
from pipelinectl.platform import Platform


@dataclass
class Report:
    """The outcome of checking pipeline files. `files` is empty when the platform config
    itself was invalid (then nothing else was checked)."""

    files: list[str] = field(default_factory=list)
    pipelines: list[spec.Pipeline] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    invalid_files: set[str] = field(default_factory=set)


def validate_files(paths: list[Path], platform: Platform, repo_id: str | None,
                   cwd: Path) -> Report:
    """Every problem in every file, sorted; pipelines for the files that are valid."""
    report = Report()
    roots: dict[Path, Path | None] = {}
    for path in paths:
        name = display_name(path, cwd)
        report.files.append(name)
        root = repo_root(path.parent, roots)
        pipeline, problems = validate_one(path, name, root, platform, repo_id)
        report.problems.extend(problems)
        if problems:
            report.invalid_files.add(name)
        elif pipeline is not None:
            report.pipelines.append(pipeline)
    collisions = name_collisions(report.pipelines)
    report.invalid_files.update(p.location.file for p in collisions)
    report.problems = sorted(dedupe(report.problems + collisions), key=Diagnostic.sort_key)
    report.pipelines = [p for p in report.pipelines if p.file not in report.invalid_files]
    return report


def validate_one(path: Path, name: str, root: Path, platform: Platform,
                 repo_id: str | None) -> tuple[spec.Pipeline | None, list[Diagnostic]]:
    try:
        doc = yamlio.load_file(str(path), name)
    except InvalidInput as exc:
        return None, exc.diagnostics()
    problems = schema.validate(doc, "pipeline")
    if problems:
        return None, problems
    pipeline, problems = spec.build(doc)
    context = checks.Context(repo_root=root, pipeline_dir=path.parent.resolve(),
                             platform=platform, repo_id=repo_id)
    return pipeline, problems + checks.check(pipeline, context)


def name_collisions(pipelines: list[spec.Pipeline]) -> list[Diagnostic]:
    """Two files may not declare the same pipeline (same team and name)."""
    first: dict[tuple[str, str], spec.Pipeline] = {}
    problems = []
    for pipeline in sorted(pipelines, key=lambda p: p.file):
        key = (pipeline.metadata.team, pipeline.metadata.name)
        owner = first.setdefault(key, pipeline)
        if owner is not pipeline:
            where: Location = pipeline.source.at(("metadata", "name"))
            problems.append(Diagnostic(
                where, f"metadata.name: pipeline {key[1]!r} of team {key[0]!r} is already "
                f"declared in {owner.file}", "give each pipeline its own name", "duplicate-name"))
    return problems


def load_pipelines(paths: list[Path], platform: Platform, repo_id: str | None,
                   cwd: Path) -> list[spec.Pipeline]:
    """Valid pipelines, or InvalidInput with every problem: later commands start here."""
    report = validate_files(paths, platform, repo_id, cwd)
    if report.problems:
        raise InvalidInput(report.problems)
    return report.pipelines

"""Load and check pipeline files: the front half of every command (validate, render, deploy)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pipelinectl.errors import Diagnostic, InvalidInput, Location, dedupe
from pipelinectl.spec import checks, environments, schema, size, yamlio
from pipelinectl.spec import model as spec
from pipelinectl.spec.discover import Roots, display_name, git_root, pipeline_folder, pipeline_root
from pipelinectl.spec.platform import Platform


@dataclass
class Report:
    """The outcome of checking pipeline files. `files` is empty when the platform config
    itself was invalid (then nothing else was checked)."""

    files: list[str] = field(default_factory=list)
    pipelines: list[spec.Pipeline] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    invalid_files: set[str] = field(default_factory=set)
    warnings: list[Diagnostic] = field(default_factory=list)  # the files stay valid


@dataclass(frozen=True)
class Identity:
    """What the cross-file check needs of a valid pipeline (cheap to send between processes)."""

    file: str
    team: str
    name: str
    location: Location


# (display name, identity if valid, the pipeline if asked for, problems)
Outcome = tuple[str, Identity | None, spec.Pipeline | None, list[Diagnostic]]

# Below this many files, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 300  # measured crossover on 2 cores: ~300 files


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def validate_files(paths: list[Path], platform: Platform, repo_id: str | None,
                   cwd: Path, jobs: int = 1, keep: bool = True,
                   measure: size.Measure | None = None) -> Report:
    """Every problem in every file, sorted; with `keep`, the pipelines of the valid files.

    Files are independent until the name-collision check, so with jobs > 1 a large monorepo is
    checked by worker processes; the report is the same, in the same order.
    """
    report = Report()
    identities: list[Identity] = []
    for name, identity, pipeline, problems in _outcomes(
            paths, _Job(platform, repo_id, cwd, keep, measure), jobs):
        report.files.append(name)
        report.warnings.extend(p for p in problems if p.warning)
        problems = [p for p in problems if not p.warning]
        report.problems.extend(problems)
        if problems:
            report.invalid_files.add(name)
        if identity is not None:
            identities.append(identity)
        if pipeline is not None:
            report.pipelines.append(pipeline)
    collisions = name_collisions(identities)
    report.invalid_files.update(p.location.file for p in collisions)
    report.problems = sorted(dedupe(report.problems + collisions), key=Diagnostic.sort_key)
    report.warnings = sorted(dedupe(report.warnings), key=Diagnostic.sort_key)
    report.pipelines = [p for p in report.pipelines if p.file not in report.invalid_files]
    return report


@dataclass(frozen=True)
class _Job:
    platform: Platform
    repo_id: str | None
    cwd: Path
    keep: bool
    measure: size.Measure | None = None


def _outcomes(paths: list[Path], job: _Job, jobs: int) -> list[Outcome]:
    context = _fork_context()
    if jobs <= 1 or len(paths) < PARALLEL_THRESHOLD or context is None:
        return _validate_chunk(paths, job)
    # Consecutive chunks, a few per worker: pool.map keeps their order, so the outcomes
    # concatenate back in the order of `paths`.
    size = -(-len(paths) // (jobs * 4))
    chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        return [outcome for chunk in pool.map(_validate_chunk, chunks, [job] * len(chunks))
                for outcome in chunk]


def _fork_context() -> multiprocessing.context.BaseContext | None:
    # fork: workers inherit the loaded modules and the compiled schema, so they start at once.
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def _validate_chunk(paths: list[Path], job: _Job) -> list[Outcome]:
    roots = Roots()
    anchor = git_root(job.cwd)
    outcomes: list[Outcome] = []
    for path in paths:
        name = display_name(path, job.cwd)
        pipeline, found = validate_one(path, name, pipeline_root(path, anchor, roots),
                                       job.platform, job.repo_id)
        warnings = [p for p in found if p.warning]
        problems = [p for p in found if not p.warning]
        if pipeline is not None and not problems:  # the size of what it renders to
            problems = size.problems(pipeline, job.platform, job.measure)
        valid = pipeline if pipeline is not None and not problems else None
        problems = problems + warnings
        identity = None if valid is None else Identity(
            valid.file, valid.metadata.team, valid.metadata.name,
            valid.source.at(("metadata", "name")))
        outcomes.append((name, identity, valid if job.keep else None, problems))
    return outcomes


def validate_one(path: Path, name: str, root: Path, platform: Platform,
                 repo_id: str | None) -> tuple[spec.Pipeline | None, list[Diagnostic]]:
    folder, refused = pipeline_folder(path, root)
    if refused:
        return None, [Diagnostic(Location(name), refused,
                                 "move the pipeline into the folder the link points to",
                                 "not-regular")]
    try:
        doc = yamlio.load_file(str(path), name, follow_symlinks=False)
    except InvalidInput as exc:
        return None, exc.diagnostics()
    problems = schema.validate(doc, "pipeline")
    if problems:
        return None, problems
    pipeline, problems = spec.build(doc, folder)
    context = checks.Context(repo_root=root, pipeline_dir=folder, platform=platform,
                             repo_id=repo_id)
    problems = problems + checks.check(pipeline, context)
    if not any(not p.warning for p in problems):  # each overlay, once the pipeline is right
        problems += dedupe(environments.check_overlays(pipeline, platform))
    return pipeline, problems


def name_collisions(identities: list[Identity]) -> list[Diagnostic]:
    """Two files may not declare the same pipeline (same team and name)."""
    first: dict[tuple[str, str], Identity] = {}
    problems = []
    for identity in sorted(identities, key=lambda i: i.file):
        key = (identity.team, identity.name)
        owner = first.setdefault(key, identity)
        if owner is not identity:
            problems.append(Diagnostic(
                identity.location, f"metadata.name: pipeline {key[1]!r} of team {key[0]!r} is "
                f"already declared in {owner.file}", "give each pipeline its own name",
                "duplicate-name"))
    return problems


def load_pipelines(paths: list[Path], platform: Platform, repo_id: str | None,
                   cwd: Path, jobs: int = 1,
                   measure: size.Measure | None = None) -> list[spec.Pipeline]:
    """Valid pipelines, or InvalidInput with every problem: later commands start here."""
    report = validate_files(paths, platform, repo_id, cwd, jobs, measure=measure)
    if report.problems:
        raise InvalidInput(report.problems)
    return report.pipelines

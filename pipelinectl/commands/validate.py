"""`pipelinectl validate`: every problem in every pipeline file, for people and for CI."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelinectl import files, wiring
from pipelinectl.errors import EXIT_OK, EXIT_USER, InvalidInput
from pipelinectl.spec import output, policy
from pipelinectl.spec.discover import find_pipelines, repo_root
from pipelinectl.spec.output import ReportFormat
from pipelinectl.spec.validation import Report, default_jobs, validate_files


@dataclass(frozen=True)
class Args:
    paths: list[str]
    format: ReportFormat
    output: str | None
    jobs: int | None
    repo_id: str | None
    platform: str | None


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    report = _report(args, environ, cwd)
    root = repo_root(cwd)
    rendered = output.render(args.format, report, root)
    if args.output:
        files.write_report(Path(args.output), rendered)
        if args.format != "text":
            rendered = output.text(report, root)
    sys.stdout.write(rendered)
    if args.format in ("json", "gitlab") and not args.output:
        sys.stderr.write(output.summary(report) + "\n")
    return EXIT_USER if report.problems else EXIT_OK


def _report(args: Args, environ: Mapping[str, str], cwd: Path) -> Report:
    try:
        config = wiring.load_platform(args.platform, environ)
    except InvalidInput as exc:
        # A broken platform config is reported like a broken spec, in the same format.
        return Report(files=[], problems=exc.diagnostics())
    files = find_pipelines(args.paths, cwd)
    repo_id = policy.repo_id_from(dict(environ), args.repo_id)
    return validate_files(files, config, repo_id, cwd, args.jobs or default_jobs(), keep=False,
                          measure=wiring.measure_rendered)

"""The shipped examples stay valid, and resolve to the engines the README promises."""

from __future__ import annotations

from pathlib import Path

from pipelinectl.spec import platform
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import validate_files
from tests.support.repo import REPO

EXAMPLES = REPO / "examples"


def test_examples_validate_clean(run) -> None:
    result = run("validate", "examples", cwd=REPO)
    assert (result.code, result.out) == (0, "4 pipeline files valid\n")


def test_examples_engines() -> None:
    files = find_pipelines([str(EXAMPLES)], REPO)
    report = validate_files(files, platform.load(None), None, REPO)
    engines = {p.metadata.name: p.resolved_engine for p in report.pipelines}
    by_folder = {Path(p.file).parent.name: p.metadata.name for p in report.pipelines}
    assert report.problems == []
    assert engines[by_folder["covid-cases-r"]] == "airflow"
    assert engines[by_folder["python-etl"]] == "cronjob"
    assert engines[by_folder["nightly-extract-py"]] == "cronjob"  # a two-task chain
    assert engines[by_folder["weekly-summary-r"]] == "cronjob"

"""The invalid-spec corpus: every fixture gives exactly its expected report, with lines."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pipelinectl.errors import InvalidInput
from pipelinectl.spec import schema, yamlio
from tests.support.repo import REPO

FIXTURES = REPO / "tests" / "fixtures"
INVALID = sorted(p.name for p in (FIXTURES / "invalid").iterdir() if p.is_dir())
PLATFORMS = sorted(p.name for p in (FIXTURES / "platform-invalid").glob("*.yaml"))
LOCATED = re.compile(r"^\S+:\d+:\d+: ", re.MULTILINE)


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 40


@pytest.mark.parametrize("name", INVALID)
def test_invalid_spec_report(name: str, run) -> None:
    folder = FIXTURES / "invalid"
    args_file = folder / name / "args"
    extra = shlex.split(args_file.read_text()) if args_file.exists() else []
    result = run("validate", name, *extra, cwd=folder)
    expected = (folder / name / "expected.txt").read_text()
    assert result.out == expected
    assert result.code == 1
    assert LOCATED.search(result.out), "every problem names FILE:LINE:COL"


@pytest.mark.parametrize("name", PLATFORMS)
def test_invalid_platform_report(name: str, run, tmp_path: Path) -> None:
    from tests.support.repo import valid_pipeline
    folder = FIXTURES / "platform-invalid"
    pipeline = valid_pipeline(tmp_path / "p")
    result = run("validate", str(pipeline.parent), "--platform", name, cwd=folder)
    expected = (folder / name.replace(".yaml", ".expected.txt")).read_text()
    assert result.out == expected
    assert result.code == 1
    assert result.out.startswith(f"{name}:")


STAGES = ("yaml", "schema", "checks")


def stage_of(name: str) -> str:
    """Which stage of validate reports the fixture: its `stage` file says (yaml, schema,
    checks), so that every fixture has a stage-level assertion and none is passed over."""
    stage = (FIXTURES / "invalid" / name / "stage").read_text().strip()
    assert stage in STAGES, f"{name}/stage: {stage!r}"
    return stage


def expected_problems(name: str) -> str:
    """expected.txt without its closing summary line: the problems alone."""
    lines = (FIXTURES / "invalid" / name / "expected.txt").read_text().splitlines()
    return "\n".join(lines[:-1])


@pytest.mark.parametrize("name", INVALID)
def test_each_stage_gives_exactly_the_expected_problems(name: str) -> None:
    """The loader refuses the yaml fixtures with exactly their report; the schema (both the
    compiled shortcut and jsonschema, the reference) refuses the schema fixtures with exactly
    theirs; both accept the checks fixtures, whose problems come from the semantic checks."""
    folder = FIXTURES / "invalid" / name
    stage = stage_of(name)
    specs = sorted(folder.glob("**/pipeline.yaml"))
    assert specs, name
    for path in specs:
        shown = path.relative_to(FIXTURES / "invalid").as_posix()
        if stage == "yaml":
            with pytest.raises(InvalidInput) as refused:
                yamlio.load_file(str(path), shown)
            assert refused.value.render() == expected_problems(name)
            continue
        doc = yamlio.load_file(str(path), shown)
        reference = list(schema._validator("pipeline").iter_errors(doc.data))
        if stage == "schema":
            assert reference and not schema.is_valid_fast(doc.data, "pipeline")
            refusal = InvalidInput(schema.validate(doc, "pipeline"))  # sorted, as reported
            assert refusal.render() == expected_problems(name)
        else:
            assert reference == [] and schema.is_valid_fast(doc.data, "pipeline")


def test_every_stage_has_fixtures() -> None:
    counts = {stage: sum(stage_of(n) == stage for n in INVALID) for stage in STAGES}
    assert min(counts.values()) >= 10, counts

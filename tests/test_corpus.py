"""The invalid-spec corpus: every fixture gives exactly its expected report, with lines."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pipelinectl import schema, yamlio
from pipelinectl.errors import InvalidInput

FIXTURES = Path(__file__).parent / "fixtures"
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
    from tests.conftest import valid_pipeline
    folder = FIXTURES / "platform-invalid"
    pipeline = valid_pipeline(tmp_path / "p")
    result = run("validate", str(pipeline.parent), "--platform", name, cwd=folder)
    expected = (folder / name.replace(".yaml", ".expected.txt")).read_text()
    assert result.out == expected
    assert result.code == 1
    assert result.out.startswith(f"{name}:")


SINGLE = [n for n in INVALID if (FIXTURES / "invalid" / n / "pipeline.yaml").exists()]


@pytest.mark.parametrize("name", SINGLE)
def test_fast_schema_path_never_accepts_what_jsonschema_rejects(name: str) -> None:
    """The compiled validator is a shortcut for valid files; jsonschema is the reference."""
    path = FIXTURES / "invalid" / name / "pipeline.yaml"
    try:
        doc = yamlio.load_file(str(path))
    except InvalidInput:
        return  # a YAML-level fixture: never reaches the schema
    reference = list(schema._validator("pipeline").iter_errors(doc.data))
    if reference:
        assert not schema.is_valid_fast(doc.data, "pipeline")

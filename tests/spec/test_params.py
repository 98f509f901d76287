"""params: the schema's limits, the values as tasks see them, and a run's --param and
--logical-date (the corpus fixtures params-schema and params-checks hold the file reports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelinectl.errors import UserError
from pipelinectl.render import ownership
from pipelinectl.spec import model as spec
from pipelinectl.spec import runvalues, yamlio
from tests.support.repo import VALID_SPEC, valid_pipeline

HEAD = VALID_SPEC.split("tasks:")[0]
TASKS = "tasks:" + VALID_SPEC.split("tasks:")[1]


def with_params(block: str) -> str:
    return HEAD + "params:\n" + block + TASKS


def built(text: str) -> spec.Pipeline:
    pipeline, problems = spec.build(yamlio.load_bytes(text.encode(), "p.yaml"))
    assert problems == []
    return pipeline


def test_values_are_text_as_written() -> None:
    pipeline = built(with_params(
        "  ratio: {default: 1.50, enum: [1.50, 2]}\n"
        "  dry_run: {default: yes}\n"
        "  flag: {default: false, description: off by default}\n"
        "  region: {default: all, enum: [all, north]}\n"))
    found = {p.name: (p.default, p.enum, p.description) for p in pipeline.params}
    assert found == {"ratio": ("1.50", ("1.50", "2"), None), "dry_run": ("yes", None, None),
                     "flag": ("false", None, "off by default"),
                     "region": ("all", ("all", "north"), None)}
    assert [p.env_name for p in pipeline.params] == [
        "PIPELINECTL_PARAM_RATIO", "PIPELINECTL_PARAM_DRY_RUN", "PIPELINECTL_PARAM_FLAG",
        "PIPELINECTL_PARAM_REGION"]


def test_at_most_twenty(tmp_path: Path, run) -> None:
    block = "".join(f"  p{i}: {{default: x}}\n" for i in range(21))
    valid_pipeline(tmp_path / "p", with_params(block))
    result = run("validate", "p", cwd=tmp_path)
    assert result.code == 1
    assert result.out.startswith("p/pipeline.yaml:12:3: params: has 21 entries; the limit is 20\n"
                                 ), result.out


def test_twenty_are_fine(tmp_path: Path, run) -> None:
    block = "".join(f"  p{i}: {{default: x}}\n" for i in range(20))
    valid_pipeline(tmp_path / "p", with_params(block))
    assert run("validate", "p", cwd=tmp_path).code == 0


def test_no_params_keeps_the_spec_digest() -> None:
    """A pipeline without params has the digest it had before params existed (its deployed
    objects do not change on upgrade); a param changes it."""
    plain = built(VALID_SPEC)
    assert ownership.spec_digest(plain) == \
        "sha256:" + __import__("hashlib").sha256(__import__("json").dumps(
            {k: v for k, v in _plain_document(plain).items()}, sort_keys=True,
            separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
    assert ownership.spec_digest(built(with_params("  a: {default: x}\n"))) != \
        ownership.spec_digest(plain)


def _plain_document(pipeline: spec.Pipeline) -> dict[str, object]:
    from dataclasses import fields

    skipped = ("file", "source", "folder", "document", "environment", "preview", "params",
               "backfills")
    return {f.name: ownership._plain(getattr(pipeline, f.name)) for f in fields(pipeline)
            if f.name not in skipped}


PIPELINE = built(with_params("  region: {default: all, enum: [all, north, south]}\n"
                             "  note: {default: ''}\n"))


def test_run_values_default_and_given() -> None:
    assert runvalues.parse_params(PIPELINE, []) == {"region": "all", "note": ""}
    assert runvalues.parse_params(PIPELINE, ["region=north", "note=a=b c"]) == \
        {"region": "north", "note": "a=b c"}
    env = runvalues.run_env(PIPELINE, {"region": "north", "note": ""}, "2026-03-31T00:00:00+00:00")
    assert env == {"PIPELINECTL_PARAM_REGION": "north", "PIPELINECTL_PARAM_NOTE": "",
                   "PIPELINECTL_LOGICAL_DATE": "2026-03-31T00:00:00+00:00"}


@pytest.mark.parametrize("items, message", [
    (["regoin=north"], "error: --param 'regoin': cases-daily has no such param (did you mean "
                       "'region'?)"),
    (["size=1"], "error: --param 'size': cases-daily has no such param (its params: region, "
                 "note)"),
    (["region=east"], "error: --param region: 'east' is not one of its enum values ('all', "
                      "'north', 'south')"),
    (["region"], "error: --param 'region': not NAME=VALUE"),
    (["=x"], "error: --param '=x': not NAME=VALUE"),
    (["note=a\0b"], "error: --param note: 'a\\x00b' contains a NUL character"),
    (["region=north", "region=south"], "error: --param region: given twice"),
    (["region=\u202eevil"], "error: --param region: '\\u202eevil' is not one of its enum "
                            "values ('all', 'north', 'south')"),
])
def test_bad_params_are_refused(items: list[str], message: str) -> None:
    with pytest.raises(UserError) as refused:
        runvalues.parse_params(PIPELINE, items)
    assert refused.value.render() == message + \
        "\n  hint: give each param of pipeline.yaml as NAME=VALUE, at most once"


def test_every_bad_param_is_reported_at_once() -> None:
    with pytest.raises(UserError) as refused:
        runvalues.parse_params(PIPELINE, ["x=1", "region=east"])
    assert refused.value.render().splitlines()[:3] == [
        "error: 2 problems with --param:",
        "  --param 'x': cases-daily has no such param (its params: region, note)",
        "  --param region: 'east' is not one of its enum values ('all', 'north', 'south')"]


@pytest.mark.parametrize("text, iso", [
    ("2026-03-31", "2026-03-31T00:00:00+00:00"),
    ("2026-03-31T06:30:00Z", "2026-03-31T06:30:00+00:00"),
    ("2026-03-31T06:30:00+02:00", "2026-03-31T04:30:00+00:00"),
    ("2026-03-31T06:30", "2026-03-31T06:30:00+00:00"),
])
def test_logical_date(text: str, iso: str) -> None:
    assert runvalues.parse_logical_date(text) == iso


@pytest.mark.parametrize("text", ["yesterday", "2026-02-30", "2026-03-31T25:00", "31/03/2026",
                                  "2026-03-31T00:00:00Z; rm -rf /", ""])
def test_bad_logical_date(text: str) -> None:
    with pytest.raises(UserError) as refused:
        runvalues.parse_logical_date(text)
    assert refused.value.render().startswith(f"error: --logical-date {text!r}: not a date or "
                                             "date-time\n  hint: write a date (2026-03-31)")

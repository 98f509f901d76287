"""backfills: the ticks a backfill re-runs (spec/ticks.py) and what validate refuses; the
corpus fixtures backfills-schema and backfills-checks hold the other file reports."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from pipelinectl.render import ownership
from pipelinectl.spec import model as spec
from pipelinectl.spec import yamlio
from pipelinectl.spec.ticks import MAX_TICKS, backfill_ticks, iso
from tests.support.repo import VALID_SPEC, git, valid_pipeline, write

HEAD = VALID_SPEC.split("tasks:")[0]
TASKS = "tasks:" + VALID_SPEC.split("tasks:")[1]
D = datetime.date
UTC = datetime.UTC


def with_backfills(block: str, schedule: str = 'schedule: "0 7 * * *"\n') -> str:
    return HEAD.replace('schedule: "0 7 * * *"\n', schedule) + "backfills:\n" + block + TASKS


def test_ticks_are_read_in_the_schedules_time_zone() -> None:
    """07:00 in London is 07:00 UTC before the clocks change on 2026-03-29, 06:00 after."""
    assert [iso(t) for t in backfill_ticks("0 7 * * *", "Europe/London", D(2026, 3, 28),
                                           D(2026, 3, 30))] == [
        "2026-03-28T07:00:00+00:00", "2026-03-29T06:00:00+00:00", "2026-03-30T06:00:00+00:00"]


def test_the_range_is_inclusive_of_whole_days() -> None:
    """A tick at midnight of `from` counts, and so does the last minute of `to`; midnight
    after `to` does not (the days are the schedule zone's: Tokyo is UTC+9)."""
    ticks = backfill_ticks("0 0,23 * * *", "Asia/Tokyo", D(2026, 1, 1), D(2026, 1, 2))
    assert [iso(t) for t in ticks] == [
        "2025-12-31T15:00:00+00:00", "2026-01-01T14:00:00+00:00",
        "2026-01-01T15:00:00+00:00", "2026-01-02T14:00:00+00:00"]
    assert [t.isoformat() for t in backfill_ticks("59 23 * * *", "UTC", D(2026, 1, 31),
                                                  D(2026, 1, 31))] == [
        "2026-01-31T23:59:00+00:00"]
    assert len(backfill_ticks("0 7 * * *", "UTC", D(2026, 1, 1), D(2026, 3, 31))) == 90


def test_ticks_are_deterministic_and_bounded() -> None:
    first = backfill_ticks("*/5 * * * *", "UTC", D(2026, 1, 1), D(2026, 12, 31))
    assert len(first) == MAX_TICKS + 1  # counted to one more than allowed, no further
    assert first == backfill_ticks("*/5 * * * *", "UTC", D(2026, 1, 1), D(2026, 12, 31))
    assert first[0] == datetime.datetime(2026, 1, 1, tzinfo=UTC)


def test_backfills_are_typed_and_not_in_the_spec_digest() -> None:
    plain, _ = spec.build(yamlio.load_bytes(VALID_SPEC.encode(), "p.yaml"))
    text = with_backfills('  - {id: fix-q1, from: "2026-01-01", to: "2026-03-31", '
                          "max_parallel: 2, params: {n: 1.50}}\n  - {id: b, from: 2026-01-01,"
                          " to: 2026-01-02}\n")
    pipeline, problems = spec.build(yamlio.load_bytes(text.encode(), "p.yaml"))
    assert problems == []
    assert pipeline.backfills == (
        spec.Backfill(0, "fix-q1", "2026-01-01", "2026-03-31", 2, (("n", "1.50"),)),
        spec.Backfill(1, "b", "2026-01-01", "2026-01-02", 1, ()))
    assert ownership.spec_digest(pipeline) == ownership.spec_digest(plain)


@pytest.mark.parametrize("schedule, block, line", [
    ("", '  - {id: fix-q1, from: "2026-01-01", to: "2026-03-31"}\n',
     "p/pipeline.yaml:11:10: backfills[0]: the pipeline has no schedule, so there are no ticks "
     "to re-run"),
    ('schedule: {cron: "0 7 1 * *", timezone: Europe/Oslo}\n',
     '  - {id: fix, from: "2026-01-02", to: "2026-01-31"}\n',
     "p/pipeline.yaml:12:10: backfills[0]: the schedule 0 7 1 * * (Europe/Oslo) has no tick "
     "from 2026-01-02 .. 2026-01-31"),
    ('schedule: "*/5 * * * *"\n', '  - {id: year, from: "2026-01-01", to: "2026-01-04"}\n',
     "p/pipeline.yaml:12:10: backfills[0]: the schedule */5 * * * * (UTC) has 1,152 ticks "
     "from 2026-01-01 .. 2026-01-04; a backfill starts at most 1,000 runs"),
    ('schedule: "* * * * *"\n', '  - {id: forever, from: "2000-01-01", to: "9999-12-31"}\n',
     "p/pipeline.yaml:12:10: backfills[0]: the schedule * * * * * (UTC) has more than 10,000 "
     "ticks from 2000-01-01 .. 9999-12-31; a backfill starts at most 1,000 runs"),
])
def test_ranges_without_ticks_or_with_too_many_are_refused(
        tmp_path: Path, run, schedule: str, block: str, line: str) -> None:
    valid_pipeline(tmp_path / "p", with_backfills(block, schedule))
    result = run("validate", "p", cwd=tmp_path)
    assert result.code == 1
    assert result.out.splitlines()[0] == line, result.out


def test_a_thousand_ticks_are_fine(tmp_path: Path, run) -> None:
    """1,008 hourly ticks from 2026-01-01 to 2026-02-11 are too many; to 02-10, 984 are not."""
    ticks = backfill_ticks("0 * * * *", "UTC", D(2026, 1, 1), D(2026, 2, 11), limit=2000)
    assert len(ticks) == 1008 and iso(ticks[999]) == "2026-02-11T15:00:00+00:00"
    block = '  - {id: hourly, from: "2026-01-01", to: "2026-02-11", max_parallel: 50}\n'
    valid_pipeline(tmp_path / "p", with_backfills(block, 'schedule: "0 * * * *"\n'))
    assert run("validate", "p", cwd=tmp_path).out.splitlines()[0] == (
        "p/pipeline.yaml:12:10: backfills[0]: the schedule 0 * * * * (UTC) has 1,008 ticks from "
        "2026-01-01 .. 2026-02-11; a backfill starts at most 1,000 runs")
    valid_pipeline(tmp_path / "p", with_backfills(block.replace("02-11", "02-10"),
                                                  'schedule: "0 * * * *"\n'))
    assert run("validate", "p", cwd=tmp_path).code == 0


PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: 127.0.0.1:5000
base_images: {python: {"3.12": "python:3.12-slim"}}
teams:
  default: {namespace: default}
environments:
  dev: {branch: main, namespace: "{namespace}-dev"}
  production: {branch: production, build: false}
"""


def test_an_overlay_schedule_is_checked_for_the_backfills_ticks(tmp_path: Path, run) -> None:
    """The entries are the same in every environment (an overlay cannot hold them); their
    ticks are those of the environment's schedule, checked there."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write(repo / "platform.yaml", PLATFORM)
    block = '  - {id: fix, from: "2026-01-01", to: "2026-01-31"}\n'
    overlay = 'environments:\n  dev:\n    schedule: {cron: "*/1 * * * *"}\n'
    valid_pipeline(repo / "p", with_backfills(block) + overlay)
    result = run("validate", "--platform", "platform.yaml", cwd=repo)
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        "p/pipeline.yaml:12:10: in environment dev: backfills[0]: the schedule */1 * * * * "
        "(UTC) has more than 10,000 ticks from 2026-01-01 .. 2026-01-31; a backfill starts at "
        "most 1,000 runs"), result.out
    valid_pipeline(repo / "p", with_backfills(block) + overlay.replace(
        "environments:\n  dev:\n", "environments:\n  dev:\n    backfills: []\n"))
    result = run("validate", "--platform", "platform.yaml", cwd=repo)
    assert result.code == 1
    assert "environments.dev: unknown key 'backfills'" in result.out, result.out

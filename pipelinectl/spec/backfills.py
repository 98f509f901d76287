"""Checks of a pipeline's backfills (docs/reference/pipeline-yaml.md#backfills): what JSON
Schema cannot say. Each id once; real days, `from` not after `to`; a cron schedule whose
ticks in [from, to] number 1 to 1,000 (spec/ticks.py); params that the pipeline declares,
with values its enum allows and that a task may be given.
"""

from __future__ import annotations

import datetime

from pipelinectl.errors import Collector, did_you_mean
from pipelinectl.spec import checks
from pipelinectl.spec.model import Backfill, Pipeline
from pipelinectl.spec.text import show, show_path
from pipelinectl.spec.ticks import MAX_TICKS, backfill_ticks, count_ticks

COUNTED = 10_000  # ticks counted to say how many are too many


def check_backfills(pipeline: Pipeline, problems: Collector) -> None:
    seen: dict[str, Backfill] = {}
    for backfill in pipeline.backfills:
        first = seen.setdefault(backfill.id, backfill)
        if first is not backfill:
            line = pipeline.source.at(first.path + ("id",)).line
            problems.add(pipeline.source.at(backfill.path + ("id",)),
                         f"backfills[{backfill.index}].id: {show(backfill.id)} is already the "
                         f"id of the backfill on line {line}",
                         "give every backfill its own id (an id runs once)", "backfill")
        _check_params(pipeline, backfill, problems)
        days = _days(pipeline, backfill, problems)
        if days is not None:
            check_ticks(pipeline, backfill, days, problems)


def check_environment_ticks(pipeline: Pipeline, problems: Collector) -> None:
    """An environment whose overlay changes the schedule: its ticks in each range (the
    entries themselves are the pipeline's, checked once)."""
    for backfill in pipeline.backfills:
        days = _days(pipeline, backfill, Collector())
        if days is not None:
            check_ticks(pipeline, backfill, days, problems)


def _days(pipeline: Pipeline, backfill: Backfill, problems: Collector
          ) -> tuple[datetime.date, datetime.date] | None:
    found = []
    for key, text in (("from", backfill.start), ("to", backfill.end)):
        try:
            found.append(datetime.date.fromisoformat(text))
        except ValueError:
            path = backfill.path + (key,)
            problems.add(pipeline.source.at(path),
                         f"{show_path(path)}: {show(text)} is not a real date",
                         "write the date as YYYY-MM-DD", "date")
    if len(found) != 2:
        return None
    if found[0] > found[1]:
        path = backfill.path + ("to",)
        problems.add(pipeline.source.at(path),
                     f"{show_path(path)}: {backfill.end} is before from ({backfill.start})",
                     "write the earlier day as from", "backfill")
        return None
    return found[0], found[1]


def check_ticks(pipeline: Pipeline, backfill: Backfill,
                days: tuple[datetime.date, datetime.date], problems: Collector) -> None:
    """A schedule to take ticks from, and 1 to MAX_TICKS of them in the range (nothing is
    said about a cron or time zone that is wrong: check_schedule says it)."""
    schedule = pipeline.schedule
    where = pipeline.source.at(backfill.path + ("id",))
    name = f"backfills[{backfill.index}]"
    if schedule is None:
        problems.add(where, f"{name}: the pipeline has no schedule, so there are no ticks to "
                     "re-run", "add a cron schedule, or start runs with pipelinectl trigger "
                     "--logical-date", "backfill")
        return
    if checks.cron_problem(schedule.cron) or not checks.is_time_zone(schedule.timezone):
        return
    count = count_ticks(schedule.cron, schedule.timezone, *days)
    span = f"{backfill.start} .. {backfill.end}"
    shown = f"{schedule.cron.strip()} ({schedule.timezone})"
    if count == 0:
        problems.add(where, f"{name}: the schedule {shown} has no tick from {span}",
                     "widen the range, or remove the backfill", "backfill")
    elif count > MAX_TICKS:
        problems.add(where, f"{name}: the schedule {shown} has "
                     f"{_total(schedule.cron, schedule.timezone, days)} ticks from {span}; a "
                     f"backfill starts at most {MAX_TICKS:,} runs",
                     "split it into several backfills of at most 1,000 ticks each",
                     "backfill")


def _total(cron: str, timezone: str, days: tuple[datetime.date, datetime.date]) -> str:
    """How many: counted up to COUNTED (a range can hold billions of minutes; validate must
    stay fast on any input)."""
    found = len(backfill_ticks(cron, timezone, *days, limit=COUNTED + 1))
    return f"{found:,}" if found <= COUNTED else f"more than {COUNTED:,}"


def _check_params(pipeline: Pipeline, backfill: Backfill, problems: Collector) -> None:
    known = [p.name for p in pipeline.params]
    for name, value in backfill.params:
        path = backfill.path + ("params", name)
        param = pipeline.param(name)
        if param is None:
            hint = did_you_mean(name, known) or (f"its params: {', '.join(known)}" if known
                                                 else "declare it under params: first")
            problems.add(pipeline.source.key_at(path),
                         f"{show_path(path)}: {pipeline.metadata.name} has no param "
                         f"{show(name)}", hint, "backfill")
            continue
        if param.enum is not None and value not in param.enum:
            problems.add(pipeline.source.at(path),
                         f"{show_path(path)}: {show(value)} is not one of its enum values "
                         f"({', '.join(show(v) for v in param.enum)})",
                         "give one of the param's enum values", "backfill")
        checks.check_param_value(pipeline, param.env_name, path, value, problems)

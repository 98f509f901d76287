"""The logical dates of a backfill (pure, deterministic): the schedule's cron ticks, read in
the schedule's time zone, from the first moment of `from` to the last of `to` (both days
inclusive), as aware UTC datetimes. The CronJob engine and the Airflow engine both use it.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterBadDateError

MAX_TICKS = 1000  # a backfill starts at most this many runs (validate refuses more)


def backfill_ticks(cron: str, timezone: str, first: datetime.date, last: datetime.date,
                   limit: int = MAX_TICKS + 1) -> list[datetime.datetime]:
    """The ticks of `cron` in [first 00:00, last+1 00:00) of `timezone`, at most `limit`
    of them (the caller asks for one more than it allows, to say "more than")."""
    zone = datetime.UTC if timezone == "UTC" else ZoneInfo(timezone)
    start = datetime.datetime.combine(first, datetime.time(), zone)
    end = datetime.datetime.combine(last, datetime.time.max, zone)  # 9999-12-31 has no next day
    # croniter counts from just before `start`, so that a tick at midnight of `from` counts.
    found: list[datetime.datetime] = []
    ticks = croniter(cron.strip(), start - datetime.timedelta(microseconds=1))
    while len(found) < limit:
        try:
            tick = ticks.get_next(datetime.datetime)
        except (CroniterBadDateError, OverflowError, ValueError):
            break  # past the last year a datetime holds
        if tick > end:
            break
        found.append(tick.astimezone(datetime.UTC))
    return found


def count_ticks(cron: str, timezone: str, first: datetime.date, last: datetime.date) -> int:
    """How many ticks, counting at most to MAX_TICKS + 1 (enough to refuse)."""
    return len(backfill_ticks(cron, timezone, first, last))


def iso(tick: datetime.datetime) -> str:
    """A tick as tasks and annotations get it: ISO 8601 in UTC, as Airflow writes it."""
    return tick.astimezone(datetime.UTC).isoformat()

"""Every schedule validate passes runs on both engines: Kubernetes CronJob (robfig/cron v3's
ParseStandard, whose rules `robfig_accepts` restates from its parser.go) and Airflow (croniter).

The table walks robfig's rules field by field (ranges, steps, names, '?', bounds, day of week
0-6 with SUN-SAT and no 7, descriptors); the check may refuse more than robfig, never less.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from croniter import croniter

from pipelinectl.spec import checks

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (min, max, names) of minute, hour, day of month, month, day of week: robfig's spec.go
_BOUNDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _DAYS))
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                "@hourly")


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi as robfig's mustParseInt uses it (a sign allowed, negatives refused)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if number >= 0 else None


def _int_or_name(text: str, names: dict[str, int]) -> int | None:
    return names[text.lower()] if text.lower() in names else _atoi(text)


def _get_range(expr: str, low: int, high: int, names: dict[str, int]) -> bool:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start_or_none = _int_or_name(low_and_high[0], names)
        if start_or_none is None or len(low_and_high) > 2:
            return False
        start = end = start_or_none
        if len(low_and_high) == 2:
            end_or_none = _int_or_name(low_and_high[1], names)
            if end_or_none is None:
                return False
            end = end_or_none
    if len(range_and_step) > 2:
        return False
    step = 1
    if len(range_and_step) == 2:
        step_or_none = _atoi(range_and_step[1])
        if step_or_none is None:
            return False
        step = step_or_none
        if len(low_and_high) == 1:
            end = high
    return low <= start and end <= high and start <= end and step > 0


def robfig_accepts(spec: str) -> bool:
    """Kubernetes' CronJob validation: no TZ in the schedule, then cron.ParseStandard."""
    if not spec or "TZ" in spec:
        return False
    if spec.startswith("@"):
        return spec in _DESCRIPTORS or spec.startswith("@every ")
    fields = spec.split()
    if len(fields) != 5:
        return False
    return all(_get_range(expr, *bounds)
               for field, bounds in zip(fields, _BOUNDS, strict=True)
               for expr in field.split(",") if expr)


def croniter_accepts(spec: str) -> bool:
    try:
        croniter(spec, datetime(2000, 1, 1)).get_next(datetime)
    except Exception:
        return False
    return True


# Items per field: robfig's grammar (number | name | * | ? ) [- number | name] [/ step],
# its bounds, and what croniter or Quartz accept beyond it.
_ITEMS = ["*", "?", "0", "1", "5", "6", "7", "12", "13", "23", "24", "31", "32", "59", "60",
          "1-0", "0-6", "1-5/2", "5/15", "*/5", "*/0", "0/0", "*-5", "+5", "-1", "1,,2", ",5",
          "1,3-4", "L", "1#2", "5W", "jan", "JAN-MAR", "mar-jan", "dec/2", "mon", "MON-FRI",
          "sat-sun", "fri/2", "monday", "sun,sat", "7-7", "0-7", "00", "007", "1-2-3", "1/2/3",
          "/5", "5/", "?/2"]
_CASES = sorted({" ".join(["0"] * i + [item] + ["*"] * (4 - i)) for i in range(5)
                 for item in _ITEMS} | {"0 0 ? * MON", "0 0 1 * ?", "0 0 31 2 *",
                                        "0 0 29 2 *", "@hourly", "@daily", "@weekly",
                                        "@monthly", "@yearly", "@midnight", "@every 1h",
                                        "TZ=UTC 0 7 * * *", "0 7 * * * *", "0 7 * *"})


@pytest.mark.parametrize("expression", _CASES)
def test_what_validate_passes_both_engines_accept(expression: str) -> None:
    if checks.cron_problem(expression) is None:
        assert robfig_accepts(expression.strip()), "Kubernetes would refuse it"
        assert croniter_accepts(expression.strip()), "Airflow would refuse it"


@pytest.mark.parametrize("expression", [
    "0 7 * * 7", "1-0 * * * *", "0 7 * * sat-sun", "0 7 * mar-jan *", "*/0 * * * *",
    "60 * * * *", "0 24 * * *", "0 0 32 * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * 0 *",
    "0 0 * * monday", "@every 1h", "TZ=UTC 0 7 * * *", "0 7 * * 0-7", "0 0 * * 7-7",
    "0 0 * * * *", "0 7 * * 1#2", "0 7 L * *",
])
def test_what_kubernetes_refuses_validate_refuses(expression: str) -> None:
    assert checks.cron_problem(expression) is not None
    if not robfig_accepts(expression):
        return
    assert not croniter_accepts(expression)  # refused for Airflow's sake


@pytest.mark.parametrize("expression", [
    "0 7 * * 1-5", "*/15 * * * *", "0 0 1 */3 *", "0 7 * JAN-MAR MON-FRI", "5-59/15 * * * *",
    "0 0 ? * SUN", "0 0 1,15 * ?", "00 07 * * 0", "0 0 29 2 *", "0 6 * * sun,sat",
    "@hourly", "@daily", "@weekly", "@monthly",
])
def test_ordinary_schedules_pass(expression: str) -> None:
    assert checks.cron_problem(expression) is None
    assert robfig_accepts(expression) and croniter_accepts(expression)

from __future__ import annotations

from decimal import Decimal

import pytest

from pipelinectl.units import (
    CEILING_TEXT,
    MAX_DURATION_SECONDS,
    ceiling_problem,
    duration_problem,
    parse_duration,
    parse_quantity,
    quantity_problem,
    quantity_text,
)


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("2h", 7200),
                                           ("1d", 86400), ("1h30m", 5400), ("0s", 0)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "1 h", "h1", "1w", "-1s", "1.5h"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text, value", [
    ("500m", Decimal("0.5")), ("2", Decimal(2)), (0.25, Decimal("0.25")), ("1Gi", Decimal(2**30)),
    ("512Mi", Decimal(512 * 2**20)), ("1G", Decimal(10**9)), ("1e3", Decimal(1000)),
    ("1.5Gi", Decimal("1.5") * 2**30), ("100k", Decimal(100_000))])
def test_quantities(text: str | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["2GB", "1 Gi", "lots", "", "-1", "1gi", "Gi"])
def test_not_quantities(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_quantity_problems() -> None:
    assert quantity_problem("cpu", "0") == "must be more than 0, not '0'"
    assert quantity_problem("cpu", "0.0001") == "'0.0001' is less than 1m, the smallest CPU amount"
    assert quantity_problem("memory", "0.5") == "'0.5' is not a whole number of bytes"
    assert quantity_problem("memory", "2Gi") is None
    assert quantity_text(2.0) == "2" and quantity_text(1) == "1" and quantity_text("1Gi") == "1Gi"


# --- bounds (issue 13): nothing downstream overflows ----------------------------------------

@pytest.mark.parametrize("text, problem", [
    ("30d", None), ("1h30m", None), ("720h", None),
    ("0s", ("must be longer than 0s", "e.g. 30s, 5m or 1h")),
    ("30d1s", ("'30d1s' is longer than 30d, the most pipelinectl allows",
               "write at most 30d, e.g. 6h or 2d")),
    ("99999999999999999999d", ("'99999999999999999999d' is longer than 30d, the most "
                               "pipelinectl allows", "write at most 30d, e.g. 6h or 2d")),
    ("9" * 5000 + "s", ("'" + "9" * 37 + "...' is longer than 30d, the most pipelinectl allows",
                        "write at most 30d, e.g. 6h or 2d")),
    ("0" * 5000 + "s", ("must be longer than 0s", "e.g. 30s, 5m or 1h")),
    ("1w", ("'1w' is not a duration", "e.g. 30s, 5m or 1h")),
])
def test_duration_bounds(text: str, problem: tuple[str, str] | None) -> None:
    assert duration_problem(text) == problem


@pytest.mark.parametrize("kind, text, problem", [
    ("cpu", "1e308", "'1e308' is more CPU than Kubernetes can represent"),
    ("cpu", "1e99999999999", "'1e99999999999' is more CPU than Kubernetes can represent"),
    ("cpu", "9" * 5000, "'" + "9" * 37 + "...' is more CPU than Kubernetes can represent"),
    ("cpu", "1e-99999", "'1e-99999' is less than 1m, the smallest CPU amount"),
    ("memory", "1E999999999999999", "'1E999999999999999' is more memory than Kubernetes can "
                                    "represent"),
    ("memory", "8Ei", "'8Ei' is more memory than Kubernetes can represent"),
    ("memory", "7Ei", None), ("cpu", "9223372036", None), ("cpu", "9223372037", "'9223372037' "
                                                           "is more CPU than Kubernetes can "
                                                           "represent"),
    ("cpu", "x\n", "'x\\n' is not a CPU quantity"),
])
def test_quantity_bounds(kind: str, text: str, problem: str | None) -> None:
    assert quantity_problem(kind, text) == problem


def test_ceilings_without_a_team_cap() -> None:
    assert ceiling_problem("cpu", "1024") is None and ceiling_problem("memory", "16Ti") is None
    assert ceiling_problem("cpu", "1025") == (
        "'1025' is more than 1024 CPUs, the most one task may ask for when the platform sets "
        "no max_task_resources for the team")
    assert ceiling_problem("memory", "17Ti") == (
        "'17Ti' is more than 16Ti, the most one task may ask for when the platform sets no "
        "max_task_resources for the team")


def test_the_largest_accepted_values_convert_without_overflow() -> None:
    """What render and run do with a quantity or duration (docker's NanoCpus and Memory are
    int64; Airflow and the DAG file take floats and timedeltas)."""
    import datetime
    assert int(parse_quantity("9223372036") * 1_000_000_000) < 2**63
    assert int(parse_quantity("7Ei")) < 2**63
    assert float(parse_quantity(CEILING_TEXT["cpu"])) == 1024.0
    assert datetime.timedelta(seconds=parse_duration("30d") * 100).days == 3000
    assert parse_duration("30d") == MAX_DURATION_SECONDS

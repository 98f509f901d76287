from __future__ import annotations

from decimal import Decimal

import pytest

from pipelinectl.units import parse_duration, parse_quantity, quantity_problem, quantity_text


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

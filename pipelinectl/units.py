"""Durations (30s, 5m, 2h, 1d, 1h30m) and Kubernetes resource quantities (500m, 2Gi)."""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

_DURATION = re.compile(r"([0-9]+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_QUANTITY = re.compile(r"^([+]?[0-9]+(?:\.[0-9]*)?|[+]?\.[0-9]+)"
                       r"(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}


@functools.lru_cache(maxsize=1024)
def parse_duration(text: str) -> int:
    """Seconds in a duration such as 1h30m; ValueError if it is not one."""
    if not text or _DURATION.sub("", text):
        raise ValueError(f"{text!r} is not a duration")
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(text))


def parse_quantity(value: str | float) -> Decimal:
    """The value of a Kubernetes quantity in base units (cores, bytes)."""
    text = str(value)
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a quantity")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a quantity") from None
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    return base * (Decimal(10) ** int(suffix[1:]))


def quantity_text(value: str | float) -> str:
    """A quantity as the text Kubernetes accepts (YAML numbers become strings)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@functools.lru_cache(maxsize=1024)
def quantity_problem(kind: str, value: str | float) -> str | None:
    """Why `value` is not a usable CPU or memory amount (kind 'cpu' or 'memory'), or None."""
    text = str(value)
    try:
        amount = parse_quantity(text)
    except ValueError:
        return f"{text!r} is not a{' CPU' if kind == 'cpu' else ' memory'} quantity"
    if amount <= 0:
        return f"must be more than 0, not {text!r}"
    if kind == "cpu" and amount < Decimal("0.001"):
        return f"{text!r} is less than 1m, the smallest CPU amount"
    if kind == "memory" and amount != amount.to_integral_value():
        return f"{text!r} is not a whole number of bytes"
    return None

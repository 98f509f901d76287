"""Durations (30s, 5m, 2h, 1d, 1h30m) and Kubernetes resource quantities (500m, 2Gi).

Both are bounded where they are read, so that nothing downstream (activeDeadlineSeconds, an
Airflow timedelta, Docker's NanoCpus, a float in the DAG file) can overflow.
"""

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

MAX_DURATION_SECONDS = 30 * 86400
MAX_DURATION_TEXT = "30d"
# A number of more digits than this is over every bound: never convert it (Python refuses
# int() of more than 4,300 digits, and a huge exponent overflows Decimal).
_MAX_DIGITS = 30
_MAX_EXPONENT = 30
# What Kubernetes and Docker can hold at all: memory in int64 bytes, CPU in int64 nanocores
# (Docker's NanoCpus; Kubernetes keeps millicores). Applies to platform caps too.
LIMITS = {"cpu": Decimal(2**63 - 1) / 10**9, "memory": Decimal(2**63 - 1)}
# The most one task may ask for when the platform sets no max_task_resources for its team:
# larger than any machine a data pipeline runs on, small enough to be a typo when exceeded.
CEILINGS = {"cpu": Decimal(1024), "memory": Decimal(16 * 2**40)}
CEILING_TEXT = {"cpu": "1024", "memory": "16Ti"}


@functools.lru_cache(maxsize=1024)
def parse_duration(text: str) -> int:
    """Seconds in a duration such as 1h30m; ValueError if it is not one (or is absurdly long:
    a number of more than 30 digits)."""
    if not text or _DURATION.sub("", text):
        raise ValueError(f"{text!r} is not a duration")
    parts = _DURATION.findall(text)
    if any(len(n.lstrip("0")) > _MAX_DIGITS for n, _ in parts):
        raise ValueError(f"{text!r} is too long a duration")
    return sum(int(n.lstrip("0") or "0") * _SECONDS[unit] for n, unit in parts)


@functools.lru_cache(maxsize=1024)
def duration_problem(text: str) -> tuple[str, str] | None:
    """(why, hint) if `text` is not a usable duration (0 < duration <= 30 days), or None."""
    example = "e.g. 30s, 5m or 1h"
    try:
        seconds = parse_duration(text)
    except ValueError:
        if _DURATION.sub("", text) or not text:
            return f"{_short(text)!r} is not a duration", example
        seconds = MAX_DURATION_SECONDS + 1  # too many digits: longer than any bound
    if seconds == 0:
        return "must be longer than 0s", example
    if seconds > MAX_DURATION_SECONDS:
        return (f"{_short(text)!r} is longer than {MAX_DURATION_TEXT}, the most pipelinectl "
                "allows", f"write at most {MAX_DURATION_TEXT}, e.g. 6h or 2d")
    return None


def parse_quantity(value: str | float) -> Decimal:
    """The value of a Kubernetes quantity in base units (cores, bytes); ValueError if it is
    not one, or if its number or exponent is too large to be a real amount."""
    text = str(value)
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a quantity")
    number, suffix = match.group(1), match.group(2) or ""
    exponent = suffix not in _BINARY and suffix not in _DECIMAL
    if len(number.lstrip("+0").split(".")[0]) > _MAX_DIGITS or \
            (exponent and abs(int(suffix[1:12])) > _MAX_EXPONENT):
        raise ValueError(f"{text!r} is out of range")
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
    what = "CPU" if kind == "cpu" else "memory"
    if not _QUANTITY.match(text):
        return f"{_short(text)!r} is not a{' CPU' if kind == 'cpu' else ' memory'} quantity"
    try:
        amount = parse_quantity(text)
    except ValueError:  # a number or exponent out of range: far too large, or too small
        amount = Decimal("1e-31") if "-" in text else LIMITS[kind] + 1
    if amount <= 0:
        return f"must be more than 0, not {text!r}"
    if kind == "cpu" and amount < Decimal("0.001"):
        return f"{_short(text)!r} is less than 1m, the smallest CPU amount"
    if kind == "memory" and amount != amount.to_integral_value():
        return f"{_short(text)!r} is not a whole number of bytes"
    if amount > LIMITS[kind]:
        return f"{_short(text)!r} is more {what} than Kubernetes can represent"
    return None


def ceiling_problem(kind: str, value: str) -> str | None:
    """Why a usable quantity is over pipelinectl's ceiling for one task, or None."""
    if parse_quantity(value) <= CEILINGS[kind]:
        return None
    unit = " CPUs" if kind == "cpu" else ""
    return (f"{_short(value)!r} is more than {CEILING_TEXT[kind]}{unit}, the most one task may "
            "ask for when the platform sets no max_task_resources for the team")


def _short(text: str) -> str:
    """Long user text cut for a message (a 300-digit number says nothing more than 40)."""
    return text if len(text) <= 40 else text[:37] + "..."

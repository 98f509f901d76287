"""User text as messages show it: quoted and escaped, and the characters a name may not hold,
explained (docs/reference/pipeline-yaml.md).

A message quotes spec values with repr(): a newline, a terminal escape, a bidirectional or
zero-width character is shown as \\n, \\x1b, \\u202e, never written raw to a terminal or a CI log.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

from pipelinectl.spec.yamlio import JsonPath, where

_SHOWN_CHARS = 80
_CONTROL_NAMES = {"\t": "tab", "\n": "line feed", "\r": "carriage return", "\x00": "NUL",
                  "\x1b": "escape", "\x7f": "delete"}
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
# Letters of other scripts drawn like Latin ones (Unicode's confusables, the common part);
# fullwidth and mathematical letters need no table: NFKC folds them to ASCII.
_LOOKALIKES = dict(zip(
    "аВвсеЕһіјКкМНОорРѕТуХхАСԁԛԝѵαΑΒεΕΖΗιΙκΚΜΝνοΟρΡΤυΥχΧ",
    "aBBceEhijKkMHOopPsTyXxACdqwvaABeEZHiIkKMNvoOpPTuYxX", strict=True))


def show(value: Any) -> str:
    """A spec value as a message quotes it: repr() for text (control, bidirectional and
    zero-width characters escaped), YAML words for the rest; cut after 80 characters."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = "null" if value is None else str(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 3] + "..."


def show_path(path: JsonPath) -> str:
    """where(path), with keys that are not plain printable text shown escaped."""
    return where(tuple(part if isinstance(part, int) or _plain(part) else repr(part)
                       for part in path))


def _plain(text: str) -> bool:
    return text.isascii() and text.isprintable()


@functools.lru_cache(maxsize=1024)
def unusual(text: str) -> str | None:
    """What makes `text` more than printable ASCII, in words (up to three characters), or
    None: for messages about names, which must be plain ASCII."""
    found: list[str] = []
    for char in dict.fromkeys(text):
        if not _plain(char):
            found.append(describe(char))
        if len(found) == 3:
            break
    return "; ".join(found) or None


def describe(char: str) -> str:
    """One character in words: its escape, code point and name, and why it is a problem."""
    code = f"U+{ord(char):04X}"
    if unicodedata.category(char) == "Cc":
        name = _CONTROL_NAMES.get(char)
        return f"{char!r} is a control character ({code}{' ' + name if name else ''})"
    name = unicodedata.name(char, "")
    named = f"{code} {name}".rstrip()
    if char in _BIDI:
        return f"{char!r} ({named}) is an invisible character that reorders how text is shown"
    if char in _ZERO_WIDTH or unicodedata.category(char) in ("Cf", "Zs", "Zl", "Zp"):
        return f"{char!r} ({named}) is an invisible or space character"
    latin = lookalike(char)
    if latin:
        return f"{char!r} ({named}) looks like Latin {latin!r} but is not"
    return f"{char!r} ({named}) is not an ASCII character"


def lookalike(char: str) -> str | None:
    """The ASCII letter or digit `char` is drawn like, or None."""
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) == 1 and folded.isascii() and folded.isalnum():
        return folded
    return _LOOKALIKES.get(char)


def as_ascii(text: str) -> str:
    """`text` with look-alikes replaced by their ASCII letters and invisible characters
    dropped: what the author most likely meant (for a hint's example)."""
    kept = []
    for char in text:
        if _plain(char):
            kept.append(char)
        elif lookalike(char):
            kept.append(lookalike(char) or "")
    return "".join(kept)

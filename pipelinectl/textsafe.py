"""User text made inert where pipelinectl prints it: in terminals, CI logs (GitHub runs
`::command::` lines, GitLab runs quick actions in merge-request notes) and markdown.

A merge request controls every string of a spec, and a hand-edited state object every string
it records: printed raw, a newline could start a line with `/approve` or `::error`, an escape
sequence could rewrite the terminal, a bidi control could reorder what a reviewer reads. So
every user value is printed on one line with control, format (bidi, zero-width) and line
separator characters escaped, and in markdown inside a code span or fence that it cannot close.
"""

from __future__ import annotations

import re
import unicodedata

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_BACKTICKS = re.compile(r"`+")


def inline(value: str) -> str:
    """`value` on one line: control, format and separator characters as escapes."""
    if value.isprintable() and value.isascii():
        return value
    return "".join(_escaped(char) for char in value)


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if unicodedata.category(char) in _UNSAFE_CATEGORIES:
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
            else f"\\U{code:08x}"
    return char


def code_span(value: str) -> str:
    """Markdown inline code showing `value` exactly: the fence is longer than any run of
    backticks inside it, so nothing in `value` can end it."""
    text = inline(value)
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fence(text: str, info: str = "") -> str:
    """A fenced markdown block holding `text` (its own lines kept), with a fence longer than
    any run of backticks in it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    marker = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{marker}{info}\n{body}{marker}\n"

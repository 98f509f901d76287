""".dockerignore matching, as docker's own (moby/patternmatcher) does it.

Rules: each line is a pattern, cleaned like Go's filepath.Clean with leading and trailing
slashes dropped; `*` matches within one path element, `?` one character, `[...]` a class,
`**` any number of elements; a pattern that matches a folder excludes everything below it; a
line starting with `!` re-includes; the last matching line wins. Written here rather than
imported from the docker SDK: importing that pulls in `requests` and doubles the cost of a
rebuild that changed one script (bench/build.py).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading `!`
    exclusion: bool
    regex: re.Pattern[str]


def parse(lines: list[str]) -> list[Pattern]:
    patterns = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        cleaned = posixpath.normpath(line).strip("/")
        if cleaned in ("", "."):
            continue  # "For historical reasons, the pattern . is ignored."
        while cleaned.startswith("../"):
            cleaned = cleaned[3:]
        patterns.append(Pattern(cleaned, exclusion, _regex(cleaned)))
    return patterns


def excluded(patterns: list[Pattern], path: str) -> bool:
    """Whether `path` (relative, with /) is left out of the build context."""
    parents = path.split("/")[:-1]
    prefixes = ["/".join(parents[:i + 1]) for i in range(len(parents))]
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:
            continue  # cannot change the outcome
        hit = bool(pattern.regex.match(path)) or any(
            pattern.regex.match(prefix) for prefix in prefixes)
        if hit:
            matched = not pattern.exclusion
    return matched


def may_reinclude_below(patterns: list[Pattern], folder: str) -> bool:
    """Whether an exclusion (`!`) pattern could re-include something under `folder`."""
    prefix = folder + "/"
    return any(p.exclusion and (p.text.startswith(prefix) or any(c in p.text for c in "*?[\\"))
               for p in patterns)


def _regex(pattern: str) -> re.Pattern[str]:
    """moby's translation of a pattern to a regular expression, step for step."""
    out = "^"
    index, end = 0, len(pattern)
    in_class = False
    while index < end:
        char = pattern[index]
        if in_class and char not in "\\]":
            out += char  # inside [...] everything is the class's own syntax
        elif char == "*" and pattern.startswith("**", index):
            index += 1
            if pattern.startswith("/", index + 1):
                index += 1  # "**/" is "**"
            out += ".*" if index + 1 >= end else "(.*/)?"
        elif char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "\\":
            index += 1
            out += re.escape(pattern[index]) if index < end else "\\\\"
        elif char in "[]":
            in_class = char == "["
            out += char
        else:
            out += re.escape(char)
        index += 1
    try:
        return re.compile(out + "$", re.DOTALL)
    except re.error as exc:
        raise ValueError(f"bad pattern {pattern!r}: {exc}") from None

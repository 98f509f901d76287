"""Patterns in platform strings, such as `teams/{team}`: a closed set of variable names,
replaced as plain text (messages call them placeholders, as the platform reference does).
Never `str.format`: a platform value must not reach attribute lookups (`{team.__class__}`),
indexing or format specs, nor end a command in an internal error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TEAM = "team"
NAMESPACE = "namespace"
NAMES = (TEAM, NAMESPACE)
_BRACED = re.compile(r"\{([^{}]*)\}")


def problem(text: str, allowed: tuple[str, ...] = NAMES) -> tuple[str, str] | None:
    """(what is wrong, hint) when `text` uses a placeholder outside `allowed` or a stray
    brace; None when every brace belongs to an allowed placeholder."""
    listed = ", ".join("{" + name + "}" for name in allowed)
    for match in _BRACED.finditer(text):
        name = match.group(1)
        if name not in allowed:
            from pipelinectl.errors import closest  # only on the error path

            near = closest(name, list(allowed))
            hint = f"did you mean {{{near}}}? " if near else ""
            return (f"unknown placeholder {match.group(0)!r}",
                    f"{hint}the placeholders are {listed}")
    if "{" in _BRACED.sub("", text) or "}" in _BRACED.sub("", text):
        return "a '{' or '}' that is not part of a placeholder", \
            f"the placeholders are {listed}; no other braces are allowed"
    return None


def substitute(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{name}` of `values` replaced by its value, as plain text."""
    return _BRACED.sub(lambda m: values.get(m.group(1), m.group(0)), text)

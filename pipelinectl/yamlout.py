"""Deterministic YAML for rendered objects: key order as built, safe quoting of any string.

Control, bidi and zero-width characters (a spec may hold them in descriptions, commands and
env values) are written escaped, never raw: a reviewer reading a rendered manifest or a plan
diff sees them as `\\u202E`, and nothing reorders the text around them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

import yaml

_Base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def _unsafe(text: str) -> bool:
    return not text.isascii() and any(
        unicodedata.category(c) in _UNSAFE for c in text if c not in "\n\t")


class _Dumper(_Base):  # type: ignore[misc]
    """Writes repeated values (the same labels in three places) out, never as &anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _EscapingDumper(yaml.SafeDumper):
    """The pure-Python dumper, for documents that hold unsafe characters: such a string is
    written double-quoted with every non-ASCII character escaped (libyaml writes them raw)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def analyze_scalar(self, scalar: str) -> Any:
        return self._ascii_only(scalar, super().analyze_scalar, scalar)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        self._ascii_only(text, super().write_double_quoted, text, split)

    def _ascii_only(self, text: str, method: Any, *args: Any) -> Any:
        if not _unsafe(text):
            return method(*args)
        saved = self.allow_unicode
        self.allow_unicode = False
        try:
            return method(*args)
        finally:
            self.allow_unicode = saved


def dump_all(documents: Iterable[dict[str, Any]]) -> str:
    """Documents separated by ---; the emitter quotes every string that needs it, so no
    spec value can change the structure of the output."""
    listed = list(documents)
    options: dict[str, Any] = {"sort_keys": False, "default_flow_style": False,
                               "allow_unicode": True, "explicit_start": True, "width": 4096}
    text: str = yaml.dump_all(listed, Dumper=_Dumper, **options)
    if _unsafe(text):
        text = yaml.dump_all(listed, Dumper=_EscapingDumper, **options)
    return text

"""Deterministic YAML for rendered objects: key order as built, safe quoting of any string."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

_Base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[misc]
    """Writes repeated values (the same labels in three places) out, never as &anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_all(documents: Iterable[dict[str, Any]]) -> str:
    """Documents separated by ---; the emitter quotes every string that needs it, so no
    spec value can change the structure of the output."""
    return yaml.dump_all(list(documents), Dumper=_Dumper, sort_keys=False,
                         default_flow_style=False, allow_unicode=True, explicit_start=True,
                         width=4096)

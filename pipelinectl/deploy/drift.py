"""Pause drift (pure): a pause or resume done by hand, against the pause git declared.

The state object records the pause as deployed (`paused`: the CronJob's spec.suspend, which
a preview or an environment with `schedules: suspended` sets whatever the pipeline says, so
those are never drift). A live value that differs was set by someone else: `status` and
`plan` say so, naming when (the time of the managedFields entry of whoever else owns
spec.suspend, when the API server recorded one; else when it was seen), and `deploy`
restores git's value and says that it did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelinectl.vocabulary import FIELD_MANAGER


@dataclass(frozen=True)
class PauseDrift:
    git_paused: bool
    live_paused: bool
    changed_at: str | None = None  # when the API server recorded the hand change
    changed_by: str | None = None  # the field manager that made it (kubectl-patch, ...)
    field: str = "suspend"  # the live field: a CronJob's suspend, a DAG's is_paused
    where: str = ""  # where the hand change was made, as words (" in Airflow")

    def describe(self, now: str) -> str:
        """`paused by hand (git says running), at 2026-11-23T09:12:00Z by kubectl-patch`"""
        what = f"paused by hand{self.where} (git says running)" if self.live_paused else \
            f"resumed by hand{self.where} (git says paused)"
        if self.changed_at is None:
            return f"{what}, seen at {now}"
        return f"{what}, at {self.changed_at}" + (f" by {self.changed_by}"
                                                   if self.changed_by else "")

    def as_json(self, now: str) -> dict[str, Any]:
        return {"field": self.field, "git": self.git_paused, "live": self.live_paused,
                "changed_at": self.changed_at, "changed_by": self.changed_by,
                "seen_at": now, "message": self.describe(now)}


def live_paused(live: Mapping[str, Any] | None) -> bool | None:
    """A live CronJob's spec.suspend (None: no such object, or not a boolean)."""
    spec = (live or {}).get("spec")
    found = spec.get("suspend", False) if isinstance(spec, dict) else None
    return found if isinstance(found, bool) else None


def of_pause(recorded: bool | None, live: Mapping[str, Any] | None) -> PauseDrift | None:
    """The drift of a live CronJob from the pause the state recorded; None when there is
    none, or when the state is older than the record of pauses (nothing to compare with)."""
    now_paused = live_paused(live)
    if recorded is None or now_paused is None or now_paused == recorded:
        return None
    assert live is not None
    at, by = changed(live)
    return PauseDrift(recorded, now_paused, at, by)


def changed(live: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """When and by whom spec.suspend was last set by a manager other than pipelinectl: the
    newest such managedFields entry that owns it (metadata.managedFields[].fieldsV1 has
    f:spec.f:suspend)."""
    entries = (live.get("metadata") or {}).get("managedFields")
    newest: tuple[str, str] | None = None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("manager") == FIELD_MANAGER:
            continue
        fields = entry.get("fieldsV1")
        spec = fields.get("f:spec") if isinstance(fields, dict) else None
        at, by = entry.get("time"), entry.get("manager")
        if isinstance(spec, dict) and "f:suspend" in spec and isinstance(at, str) and \
                isinstance(by, str) and (newest is None or at > newest[0]):
            newest = (at, by)
    return newest if newest is not None else (None, None)


def desired_paused(obj: Mapping[str, Any]) -> bool | None:
    """The pause an object pipelinectl renders declares (a CronJob's spec.suspend)."""
    return live_paused(obj) if obj.get("kind") == "CronJob" else None


def restored(pipeline: str, recorded: bool | None, desired: bool, live: bool,
             applied_as_is: bool) -> str | None:
    """What a deploy that puts git's pause back says, or None when it restores nothing.
    `applied_as_is`: the live object carries the hash of what was last applied, so a
    difference is a hand change even for a state recorded before pauses were."""
    expected = recorded if recorded is not None else desired if applied_as_is else None
    if expected is None or live in (expected, desired):
        return None
    if desired:
        return f"{pipeline}: paused: the live CronJob was resumed by hand; git says paused"
    return f"{pipeline}: resumed: the live CronJob was suspended by hand; git says running"

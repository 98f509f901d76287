"""Which images the registry may lose (pure): `pipelinectl gc` (docs/how-to/registry-retention.md).

An image (a manifest digest of a pipeline's repository) is kept when:
- a live object, a delivered DAG file or a state object of any environment or preview names
  it (what runs now, and every deploy in the histories: the rollback targets);
- it was made within `keep_days` days, or within GRACE_SECONDS whatever `keep_days` says (an
  image pushed while gc runs is never lost: it is younger than that, or gc never saw it);
- it is its pipeline's newest image and no environment has deployed it (a build waiting for
  promotion);
- when it was made cannot be read.
Every other image is deleted by digest. What that frees is the size of the blobs (layers,
configs) that only deleted images use: the registry's own garbage collection then reclaims it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

GRACE_SECONDS = 3600


@dataclass(frozen=True)
class Stored:
    """One image in the registry."""

    repository: str  # the repository's path in the registry, e.g. data/epi/cases-daily
    pipeline: str  # <team>/<pipeline>
    digest: str
    tags: tuple[str, ...]
    created: str | None  # the image config's `created`, ISO 8601
    blobs: Mapping[str, int]  # digest -> size of its layers and config


@dataclass(frozen=True)
class Decision:
    image: Stored
    keep: bool
    reason: str


def decide(stored: Iterable[Stored], needed: Mapping[str, str], now: datetime.datetime,
           keep_days: int) -> list[Decision]:
    """Keep or delete each image; `needed`: digest -> why a deploy may need it."""
    images = sorted(stored, key=lambda s: (s.pipeline, s.created or "", s.digest))
    newest = {}
    for image in images:  # sorted by time: the last of each pipeline wins
        newest[image.pipeline] = image.digest
    return [_decide(image, needed, now, keep_days, newest[image.pipeline] == image.digest)
            for image in images]


def _decide(image: Stored, needed: Mapping[str, str], now: datetime.datetime, keep_days: int,
            waiting: bool) -> Decision:
    if image.digest in needed:
        return Decision(image, True, needed[image.digest])
    age = _age(image.created, now)
    if age is None:
        return Decision(image, True, "when it was made cannot be read")
    if age < max(keep_days * 86400, GRACE_SECONDS):
        days = f"{keep_days} days" if keep_days * 86400 > GRACE_SECONDS else "the grace hour"
        return Decision(image, True, f"made within {days}")
    if waiting:
        return Decision(image, True, "the pipeline's newest image, not deployed yet")
    return Decision(image, False, "no deploy needs it")


def _age(created: str | None, now: datetime.datetime) -> float | None:
    if not created:
        return None
    try:
        made = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None
    if made.tzinfo is None:
        made = made.replace(tzinfo=datetime.UTC)
    return (now - made).total_seconds()


def freed(decisions: Iterable[Decision]) -> int:
    """Bytes of the blobs only deleted images use (shared ones stay)."""
    kept: set[str] = set()
    gone: dict[str, int] = {}
    for decision in decisions:
        if decision.keep:
            kept.update(decision.image.blobs)
        else:
            gone.update(decision.image.blobs)
    return sum(size for digest, size in gone.items() if digest not in kept)


def table(decisions: list[Decision], applied: bool) -> str:
    """The report: one line per image, then the totals."""
    rows = [("pipeline", "digest", "tags", "made", "decision", "reason")]
    for d in decisions:
        tags = ",".join(sorted(d.image.tags, key=lambda t: (not t.startswith("content-"), t)))
        rows.append((d.image.pipeline, d.image.digest[:19], _short(tags),
                     (d.image.created or "?")[:19], "keep" if d.keep else
                     ("deleted" if applied else "delete"), d.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]
             for row in rows]
    deleted = [d for d in decisions if not d.keep]
    verb = "deleted" if applied else "would delete"
    size = freed(decisions)
    lines.append(f"{verb} {len(deleted)} of {len(decisions)} images, freeing "
                 f"{_size(size)} ({size} bytes) once the registry "
                 "collects its garbage" + ("" if applied else "; dry run: pass --apply"))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _short(tags: str) -> str:
    return tags if len(tags) <= 40 else tags[:37] + "..."


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    value, unit = count / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"

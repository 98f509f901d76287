#!/usr/bin/env python3
"""Benchmark gc's decisions on a year of images against an age-based cleanup policy.

    python bench/gc.py [--teams 20] [--pipelines 10] [--days 365] [--keep-days 30]

A registry as a year of pushes leaves it: --teams x --pipelines pipelines, one image per
working day each (5 layers: 3 shared base layers, a dependency layer that changes monthly, a
code layer of its own). Each pipeline is deployed in dev (the newest image), production (the
image of 10 working days before) and has 20 deploys of history (one a week, the rollback
targets pipelinectl's state records). Timed: gc's pure core (admin/retention.py: decide,
freed, table) on all of it. Printed: the time against a 2 s limit, the images deleted and the
bytes freed, and the peer, a registry cleanup policy by age that keeps --keep-days days: the
images a rollback or a running deploy still needs that it would delete (gc: 0, by design).
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelinectl.admin import retention  # noqa: E402

LIMIT_SECONDS = 2.0
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def registry(teams: int, pipelines: int, days: int) -> tuple[list[retention.Stored],
                                                              dict[str, str]]:
    """The images, and digest -> why a deploy needs it (what gc reads from the state)."""
    stored: list[retention.Stored] = []
    needed: dict[str, str] = {}
    base = {f"sha256:base{i}": 30_000_000 for i in range(3)}
    for team in range(teams):
        for number in range(pipelines):
            pipeline = f"team{team}/pipeline{number}"
            made = []
            for day in range(days, 0, -1):
                when = NOW - datetime.timedelta(days=day)
                if when.weekday() >= 5:
                    continue
                digest = f"sha256:{team:04d}{number:04d}{day:08d}"
                blobs = {**base, f"sha256:deps{team}-{number}-{when.month}": 80_000_000,
                         f"sha256:code{digest}": 20_000}
                stored.append(retention.Stored(f"data/{pipeline}", pipeline, digest,
                                               (f"content-{digest[7:]}",),
                                               when.strftime("%Y-%m-%dT%H:%M:%SZ"), blobs))
                made.append(digest)
            needed[made[-1]] = "deployed in dev"
            needed[made[-11]] = "deployed in production"
            for week in range(20):
                needed.setdefault(made[-11 - 5 * week], "in production's history: a rollback "
                                                        "target")
    return stored, needed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--pipelines", type=int, default=10)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep-days", type=int, default=30)
    args = parser.parse_args()
    stored, needed = registry(args.teams, args.pipelines, args.days)

    start = time.perf_counter()
    decisions = retention.decide(stored, needed, NOW, args.keep_days)
    report = retention.table(decisions, applied=False)
    took = time.perf_counter() - start
    deleted = [d for d in decisions if not d.keep]
    lost = [d for d in deleted if d.image.digest in needed]
    assert not lost, "gc deleted an image a deploy needs"

    cutoff = NOW - datetime.timedelta(days=args.keep_days)
    by_age = [s for s in stored if datetime.datetime.fromisoformat(
        str(s.created).replace("Z", "+00:00")) < cutoff]
    age_lost = [s for s in by_age if s.digest in needed]

    print(f"images: {len(stored):,} of {args.teams * args.pipelines} pipelines over "
          f"{args.days} days; {len(needed):,} needed by a deploy (live or rollback target)")
    print(f"gc decisions + table: {took:.3f} s for {len(stored):,} images "
          f"({took / LIMIT_SECONDS:.2f}x the {LIMIT_SECONDS:.0f} s limit)")
    print(f"gc deletes {len(deleted):,} images, frees {retention.freed(decisions):,} bytes; "
          f"needed images deleted: {len(lost)}")
    print(f"age policy ({args.keep_days} days) deletes {len(by_age):,} images; needed images "
          f"deleted: {len(age_lost):,} ({len(age_lost) / len(needed):.0%} of the rollback "
          "targets and live images)")
    print(report.splitlines()[-1])
    return 0 if took <= LIMIT_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Benchmark `pipelinectl validate` on a generated monorepo (a report, not a test: it never gates).

    python bench/validate.py [--n 1000] [--repeat 5] [--keep DIR]
                             [--pipelinectl PATH] [--check-jsonschema PATH] [--schema FILE]

It writes N valid pipelines with tests/support/monorepo.py, then times, each as a fresh
subprocess (one untimed warm-up round, then --repeat timed rounds that run every command once,
interleaved so that a noisy machine slows all of them alike; min and median wall time):

  ours              pipelinectl validate ROOT (worker processes: one per CPU, at most 8)
  ours, 1 process   pipelinectl validate --jobs 1 ROOT
  floor             the same interpreter reading + parsing every pipeline.yaml with CSafeLoader
  check-jsonschema  check-jsonschema --schemafile schemas/pipeline.schema.json FILES...

and prints ours/floor (goal <= 3x, for both rows) and ours/check-jsonschema (goal < 1x).
Commands run with bytecode caching allowed (PYTHONDONTWRITEBYTECODE removed from their
environment), as in a normal install where pip compiles the package. Exit status is 0
whatever the ratios; it is 1 only when a command that must succeed fails (e.g. validate reports
problems on the generated repo, which means a bug in the generator or in the validator).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

REPO = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schemas" / "pipeline.schema.json"
ARGV_BYTES = 1_000_000  # per check-jsonschema call; Linux ARG_MAX is usually 2 MiB
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

sys.path.insert(0, str(REPO))
from tests.support import monorepo  # noqa: E402

FLOOR_CODE = """\
import pathlib, sys, yaml
count = 0
for path in sorted(pathlib.Path(sys.argv[1]).rglob("pipeline.yaml")):
    yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    count += 1
print(f"parsed {count} files")
"""


class CommandFailed(Exception):
    """A benchmarked command exited non-zero."""


@dataclass
class Timing:
    name: str
    label: str
    runs: list[float]
    summary: str  # last line the command printed, to show what it did

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="pipelines to generate (1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per command (5)")
    parser.add_argument("--keep", type=pathlib.Path, help="generate into DIR and keep it")
    parser.add_argument("--pipelinectl", help="pipelinectl executable (default: next to python)")
    parser.add_argument(
        "--check-jsonschema",
        dest="check_jsonschema",
        help="its executable (default: $CHECK_JSONSCHEMA, else PATH)",
    )
    parser.add_argument(
        "--schema",
        type=pathlib.Path,
        default=SCHEMA,
        help="schema for check-jsonschema (default: schemas/pipeline.schema.json)",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeat < 1:
        parser.error("--n and --repeat must be >= 1")
    return args


def find_pipelinectl(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    beside = pathlib.Path(sys.executable).parent / "pipelinectl"  # not resolved: keep the venv
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("pipelinectl")


def find_check_jsonschema(explicit: str | None) -> str | None:
    return explicit or os.environ.get("CHECK_JSONSCHEMA") or shutil.which("check-jsonschema")


def run_once(argvs: list[list[str]], cwd: pathlib.Path) -> tuple[float, str]:
    """Run the commands one after another; return total wall time and the last output line."""
    elapsed = 0.0
    last = ""
    for argv in argvs:
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                              env=ENV)
        elapsed += time.perf_counter() - start
        if proc.returncode != 0:
            raise CommandFailed(
                f"{argv[0]} exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}"
                f"\n--- stderr ---\n{proc.stderr[-4000:]}"
            )
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        last = lines[-1] if lines else ""
    return elapsed, last


def measure(
    commands: list[tuple[str, str, list[list[str]]]], cwd: pathlib.Path, repeat: int
) -> list[Timing]:
    """Time (name, label, argvs) commands in interleaved rounds after one warm-up round."""
    timings = [Timing(name, label, [], "") for name, label, _ in commands]
    for _, _, argvs in commands:
        run_once(argvs, cwd)  # warm-up: page cache, .pyc files; fails fast on a bad exit
    for _ in range(repeat):
        for timing, (_, _, argvs) in zip(timings, commands, strict=True):
            elapsed, timing.summary = run_once(argvs, cwd)
            timing.runs.append(elapsed)
    return timings


def batches(prefix: list[str], files: list[pathlib.Path]) -> list[list[str]]:
    """Split FILES over as few `prefix + files` command lines as the argv size limit allows."""
    argvs: list[list[str]] = []
    current: list[str] = []
    size = 0
    for path in map(str, files):
        if current and size + len(path) + 1 > ARGV_BYTES:
            argvs.append(prefix + current)
            current, size = [], 0
        current.append(path)
        size += len(path) + 1
    argvs.append(prefix + current)
    return argvs


def bench_all(args: argparse.Namespace, root: pathlib.Path) -> int:
    start = time.perf_counter()
    files = monorepo.generate(root, args.n)
    print(f"generated {len(files)} pipelines in {root} ({time.perf_counter() - start:.2f}s)")
    print(f"python {sys.executable}; {args.repeat} timed runs each, after 1 warm-up run\n")

    pipelinectl = find_pipelinectl(args.pipelinectl)
    if pipelinectl is None:
        print("error: pipelinectl not found next to python or on PATH (pip install -e .)")
        return 1
    commands = [
        ("ours", "pipelinectl validate", [[pipelinectl, "validate", str(root)]]),
        ("ours, 1 process", "pipelinectl validate --jobs 1",
         [[pipelinectl, "validate", "--jobs", "1", str(root)]]),
        ("floor", "floor: parse only (CSafeLoader)",
         [[sys.executable, "-c", FLOOR_CODE, str(root)]]),
    ]
    try:
        timings = measure(commands, root, args.repeat)
    except CommandFailed as exc:
        print(f"error: a command that must succeed failed: {exc}")
        return 1
    other = bench_check_jsonschema(args, root, files)
    if other is not None:
        timings.append(other)

    report(timings, other)
    return 0


def bench_check_jsonschema(
    args: argparse.Namespace, root: pathlib.Path, files: list[pathlib.Path]
) -> Timing | None:
    exe = find_check_jsonschema(args.check_jsonschema)
    if exe is None:
        print(
            "skipping check-jsonschema: not found. Install it in its own venv, e.g.\n"
            "  python3 -m venv /tmp/cj && /tmp/cj/bin/pip install check-jsonschema\n"
            "then pass --check-jsonschema /tmp/cj/bin/check-jsonschema "
            "(or set CHECK_JSONSCHEMA)\n"
        )
        return None
    if not args.schema.is_file():
        print(f"skipping check-jsonschema: {args.schema} does not exist\n")
        return None
    prefix = [exe, "--schemafile", str(args.schema)]
    try:
        return measure(
            [("check-jsonschema", "check-jsonschema (schema only)", batches(prefix, files))],
            root,
            args.repeat,
        )[0]
    except CommandFailed as exc:
        # It reports, not gates: the schema rejecting a valid file is worth seeing, not fatal.
        print(f"check-jsonschema failed, not timed: {exc}\n")
        return None


def report(timings: list[Timing], other: Timing | None) -> None:
    ours, serial, floor = timings[:3]
    width = max(len(t.label) for t in timings)
    print(f"{'command':<{width}}  {'min (s)':>8}  {'median (s)':>10}")
    for t in timings:
        print(f"{t.label:<{width}}  {t.best:>8.3f}  {t.median:>10.3f}")
    print()
    for t in timings:
        print(f"{t.name} said: {t.summary or '(nothing)'}")
    print()
    for row in (ours, serial):
        value = row.best / floor.best
        print(ratio_line(f"{row.name}/floor", value, "<= 3x", value <= 3))
    if other is not None:
        value = ours.best / other.best
        print(ratio_line("ours/check-jsonschema", value, "< 1x", value < 1))
    else:
        print("ours/check-jsonschema = n/a (check-jsonschema not timed)")


def ratio_line(name: str, value: float, goal: str, met: bool) -> str:
    return f"{name} = {value:.2f}x (goal {goal}){'' if met else '  <- goal not met'}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        return bench_all(args, args.keep.resolve())
    with tempfile.TemporaryDirectory(prefix="pipelinectl-bench-") as tmp:
        return bench_all(args, pathlib.Path(tmp))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""How long .dockerignore matching takes: the old regex approach against pipelinectl's matcher
(a report, not a test).

    python bench/dockerignore.py              # --timeout 10 --length 5000

Pathological: the pattern `*a` thirty times then `*b` against a name of `--length` a's. The old
approach (moby's translation run by Python's `re`, what pipelinectl did before) runs in a
subprocess killed after `--timeout` seconds. Typical: 3,500 paths against 8 patterns of the
kind a .dockerignore has, old against new. Prints times and ratios (old / new).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelinectl.build import dockerignore

PATTERN = "*a" * 30 + "*b"
TYPICAL = [".git", "__pycache__", "**/*.pyc", "*.csv", "data/", "!data/keep.csv",
           "**/node_modules", "docs/**/*.md"]
OLD = textwrap.dedent("""
    import re, sys, time
    from pipelinectl.build import dockerignore
    expression = re.compile(dockerignore._regex(sys.argv[1]), re.DOTALL)
    name = "a" * int(sys.argv[2])
    start = time.perf_counter()
    expression.match(name)
    print(time.perf_counter() - start)
""")


def old_pathological(length: int, timeout: float) -> float | None:
    """Seconds, or None when killed after `timeout`."""
    try:
        done = subprocess.run([sys.executable, "-c", OLD, PATTERN, str(length)], timeout=timeout,
                              capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout)


def new_pathological(length: int) -> tuple[float, int]:
    start = time.perf_counter()
    matched, steps = dockerignore.compile_pattern(PATTERN).run("a" * length)
    assert not matched
    return time.perf_counter() - start, steps


def typical_paths() -> list[str]:
    return [f"src/pkg{i % 10}/mod{i}.py" for i in range(3000)] + [
        f"data/f{i}.csv" for i in range(500)]


def old_typical(paths: list[str]) -> float:
    patterns = dockerignore.parse(TYPICAL)
    compiled = [(p.exclusion, re.compile(dockerignore._regex(p.text), re.DOTALL))
                for p in patterns]
    start = time.perf_counter()
    for path in paths:
        parents = path.split("/")[:-1]
        names = [path] + ["/".join(parents[:i + 1]) for i in range(len(parents))]
        matched = False
        for exclusion, expression in compiled:
            if exclusion == matched and any(expression.match(n) for n in names):
                matched = not exclusion
    return time.perf_counter() - start


def new_typical(paths: list[str]) -> float:
    patterns = dockerignore.parse(TYPICAL)
    start = time.perf_counter()
    for path in paths:
        dockerignore.excluded(patterns, path)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--length", type=int, default=5000)
    args = parser.parse_args()
    old = old_pathological(args.length, args.timeout)
    new, steps = new_pathological(args.length)
    shown = f">{args.timeout:g} s (killed)" if old is None else f"{old:.3f} s"
    ratio = f">{args.timeout / new:,.0f}x" if old is None else f"{old / new:,.0f}x"
    print(f"pathological ({PATTERN[:8]}...*b, {args.length:,} chars): old {shown}, "
          f"new {new * 1000:.2f} ms ({steps:,} steps): old/new {ratio}")
    paths = typical_paths()
    old_t = min(old_typical(paths) for _ in range(5))
    new_t = min(new_typical(paths) for _ in range(5))
    print(f"typical ({len(paths):,} paths x {len(TYPICAL)} patterns, best of 5): "
          f"old {old_t * 1000:.1f} ms, new {new_t * 1000:.1f} ms: new/old {new_t / old_t:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

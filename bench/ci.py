#!/usr/bin/env python3
"""Benchmark the pipelinectl tool image the CI templates run in (a report).

    python bench/ci.py [--rounds 5]

Builds ci/image/Dockerfile as the tests do (tests/support/citools.py: the Debian test base
with Debian's Python standing in for python:3.12-slim, which is out of reach here), then times
the merge-request check a CI job runs, `pipelinectl validate` of the examples:

| row | command |
| --- | --- |
| in the tool image | `docker run --rm -v examples:/examples IMAGE pipelinectl validate /examples` |
| on the host | `pipelinectl validate examples` (the same version, installed next to this Python) |
| container floor | `docker run --rm IMAGE true`: what any job image costs to start |

interleaved rounds, minimum and median. Prints the tool image against the host (goal <= 2x: a
CI job's start-up should not dominate the check), what pipelinectl itself costs inside the
container (image minus floor) against the host (goal ~1x: nothing in the image slows it), and
the image size against a limit of 1 GiB (every CI job pulls it onto runners with cold caches).
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.citools import DOCKER, TOOL_IMAGE, build_tool_image  # noqa: E402

GOAL_RATIO = 2.0
SIZE_LIMIT = 1024**3


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    build_tool_image()
    host = shutil.which("pipelinectl", path=str(pathlib.Path(sys.executable).parent))
    assert host, "install pipelinectl next to this Python (pip install -e .)"
    rows = {
        "in the tool image": [DOCKER, "run", "--rm", "-v", f"{REPO / 'examples'}:/examples:ro",
                              TOOL_IMAGE, "pipelinectl", "validate", "/examples"],
        "on the host": [host, "validate", str(REPO / "examples")],
        "container floor": [DOCKER, "run", "--rm", "--entrypoint", "true", TOOL_IMAGE],
    }
    for argv in rows.values():  # warm-up: page cache, bytecode
        timed(argv)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, argv in rows.items():
            times[name].append(timed(argv))
    for name, values in times.items():
        print(f"{name:18} min {min(values):.3f} s  median {statistics.median(values):.3f} s")
    ratio = min(times["in the tool image"]) / min(times["on the host"])
    print(f"tool image / host = {ratio:.2f}x (goal <= {GOAL_RATIO:.0f}x)")
    inside = min(times["in the tool image"]) - min(times["container floor"])
    print(f"(tool image - container floor) / host = {inside / min(times['on the host']):.2f}x "
          "(goal ~1x)")
    size = int(subprocess.run([DOCKER, "image", "inspect", "--format", "{{.Size}}", TOOL_IMAGE],
                              check=True, capture_output=True, text=True).stdout)
    print(f"tool image size {size / 1024**2:.0f} MiB = {size / SIZE_LIMIT:.2f}x "
          "of the 1 GiB limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())

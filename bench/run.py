#!/usr/bin/env python3
"""Benchmark `pipelinectl run`: time to the first task's first output line (a report).

    python bench/run.py [--rounds 5]

Needs what tests/services.sh starts (dockerd, the registry, the Debian base image). It makes a
one-task pipeline whose task prints a line at once (a custom Dockerfile on the Debian base, so
no download is involved), builds it once (warm image), then times, interleaved:

  ours:  `pipelinectl run` from its start to the task's first output line (validation, the
         image decision, container creation and start included)
  floor: `docker run --rm` of the same image and command, to the same line

and prints ours/floor (goal <= 1.3x).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

DOCKER = os.environ.get("PIPELINECTL_DOCKER", "/usr/bin/docker")
CLI = str(pathlib.Path(sys.executable).parent / "pipelinectl")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
MARKER = "first-line-now"
PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: 127.0.0.1:5000/bench-run
allowed_base_registries: [docker.io/pipelinectl-test]
teams: {default: {namespace: default}}
"""
SPEC = f"""\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: hello, team: default}}
image: {{dockerfile: Dockerfile}}
tasks:
  - name: main
    command: [sh, -c, "echo {MARKER}"]
"""


def to_marker(command: list[str], cwd: pathlib.Path) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if MARKER in line:
            elapsed = time.perf_counter() - started
            break
    else:
        raise SystemExit(f"no marker from {' '.join(command)}")
    process.wait()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipelinectl-bench-") as scratch:
        repo = pathlib.Path(scratch)
        (repo / "hello").mkdir()
        (repo / "hello" / "pipeline.yaml").write_text(SPEC)
        (repo / "hello" / "Dockerfile").write_text(
            "FROM pipelinectl-test/debian:bookworm\nUSER 10001\n")
        (repo / "platform.yaml").write_text(PLATFORM)
        ours_command = [CLI, "run", "hello", "--platform", str(repo / "platform.yaml")]
        subprocess.run(ours_command, cwd=repo, env=ENV, check=True, capture_output=True)
        image = "127.0.0.1:5000/bench-run/default/hello"
        tags = subprocess.run([DOCKER, "images", "--format", "{{.Tag}}", image], check=True,
                              capture_output=True, text=True).stdout.split()
        floor_command = [DOCKER, "run", "--rm", f"{image}:{tags[0]}", "sh", "-c",
                         f"echo {MARKER}"]
        ours, floor = [], []
        for _ in range(args.rounds):
            ours.append(to_marker(ours_command, repo))
            floor.append(to_marker(floor_command, repo))
    print(f"time to the first task's first line, warm image ({args.rounds} rounds)")
    print(f"  ours:  pipelinectl run   min {min(ours):.2f} s  median "
          f"{statistics.median(ours):.2f} s")
    print(f"  floor: docker run --rm   min {min(floor):.2f} s  median "
          f"{statistics.median(floor):.2f} s")
    print(f"  ratio ours/floor (goal <= 1.3x): {min(ours) / min(floor):.2f}x min, "
          f"{statistics.median(ours) / statistics.median(floor):.2f}x median")


if __name__ == "__main__":
    main()

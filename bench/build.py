#!/usr/bin/env python3
"""Benchmark `pipelinectl build` against a real dockerd and registry (a report, never a gate).

    python bench/build.py [--rounds 5] [--pipelines 50] [--payload-mb 20]
                          [--registry 127.0.0.1:5000]

Needs what tests/services.sh starts: dockerd, the registry and the base image
pipelinectl-test/debian:bookworm. Two measurements:

1. Rebuild after a script-only change. Each round edits the script and commits, then times
   - ours:  `pipelinectl build` (validate, hash, ask the registry, BuildKit build, push)
   - floor: a hand-written optimal Dockerfile for the same image (same base, Debian package,
            venv and pip layers before the code), `docker build` + `docker push`, warm cache
   - floor, build only: the same `docker build` without the push
   and prints ours/floor (goal <= 1.2x) and ours --no-push / floor build only; once with a
   one-script code layer, once with --payload-mb of reference data beside the script.
2. The no-op decision for a monorepo of --pipelines Python pipelines whose images are all in
   the registry: `pipelinectl build` wall time (goal < 2 s) and the number of builds (goal 0).

Rounds are interleaved; min and median are printed. Commands run as fresh subprocesses with
bytecode caching allowed, as after a normal install.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = pathlib.Path(__file__).resolve().parent.parent
DOCKER = os.environ.get("PIPELINECTL_DOCKER", "/usr/bin/docker")
BASE = "pipelinectl-test/debian:bookworm"
CA = "/etc/ssl/certs/ca-certificates.crt"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CLI = str(pathlib.Path(sys.executable).parent / "pipelinectl")

PLATFORM = f"""\
apiVersion: pipelinectl/v1
kind: Platform
registry: {{registry}}
base_images:
  python: {{{{"3.11": "{BASE}"}}}}
build:
  ca_bundle: {CA}
teams:
  default: {{{{namespace: default}}}}
"""
SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: {name}, team: default}}
image:
  language: python
  version: "3.11"
  dependencies: requirements.txt
  system_packages: [python3-venv]
schedule: "0 7 * * *"
tasks:
  - name: main
    command: [python, etl.py]
"""
FLOOR_DOCKERFILE = f"""\
FROM {BASE}
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv \\
 && rm -rf /var/lib/apt/lists/* && useradd --uid 10001 --create-home pipeline
RUN python3 -m venv /venv
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=secret,id=ca /venv/bin/pip install --cert /run/secrets/ca \\
    -r /tmp/requirements.txt
WORKDIR /app
COPY etl.py /app/
USER 10001
"""


def sh(*command: str, cwd: pathlib.Path | None = None, env: dict[str, str] | None = None
       ) -> str:
    done = subprocess.run(command, cwd=cwd, env=env or ENV, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def git(repo: pathlib.Path, *args: str) -> None:
    sh("git", "-c", "user.email=bench@example.org", "-c", "user.name=bench", *args, cwd=repo)


def timed(*command: str, cwd: pathlib.Path, env: dict[str, str] | None = None
          ) -> tuple[float, str]:
    started = time.perf_counter()
    output = sh(*command, cwd=cwd, env=env)
    return time.perf_counter() - started, output


def pipeline(folder: pathlib.Path, name: str, payload_mb: int = 0) -> None:
    folder.mkdir(parents=True)
    (folder / "pipeline.yaml").write_text(SPEC.format(name=name))
    (folder / "requirements.txt").write_text("six==1.16.0\n")
    (folder / "etl.py").write_text(f"import six\nprint({name!r}, six.__version__)\n")
    if payload_mb:  # reference data shipped with the code (same bytes every run)
        (folder / "reference.bin").write_bytes(random.Random(0).randbytes(payload_mb << 20))


def line(label: str, times: list[float]) -> str:
    return f"  {label:<34} min {min(times):6.2f} s   median {statistics.median(times):6.2f} s"


def rebuild(root: pathlib.Path, registry: str, rounds: int, payload_mb: int) -> None:
    repo = root / f"rebuild-{payload_mb}"
    pipeline(repo / "etl", "etl", payload_mb)
    (repo / "platform.yaml").write_text(PLATFORM.format(registry=f"{registry}/ours{payload_mb}"))
    floor = root / f"floor-{payload_mb}"
    floor.mkdir()
    dockerfile = FLOOR_DOCKERFILE
    if payload_mb:
        shutil.copy(repo / "etl" / "reference.bin", floor / "reference.bin")
        dockerfile = dockerfile.replace("COPY etl.py /app/", "COPY etl.py reference.bin /app/")
    (floor / "Dockerfile").write_text(dockerfile)
    (floor / "requirements.txt").write_text("six==1.16.0\n")
    sh("git", "init", "-q", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    env = {**ENV, "PIPELINECTL_PLATFORM": str(repo / "platform.yaml")}
    floor_image = f"{registry}/floor{payload_mb}/etl"
    ours, ours_local, floor_full, floor_build = [], [], [], []
    for index in range(rounds + 1):  # round 0 warms both caches, untimed
        script = f"import six\nprint('round {index}', six.__version__)\n"
        (repo / "etl" / "etl.py").write_text(script)
        git(repo, "commit", "-qam", f"round {index}")
        elapsed, output = timed(CLI, "build", cwd=repo, env=env)
        assert "built" in output, output
        (repo / "etl" / "etl.py").write_text(script + f"# local {index}\n")
        elapsed_local, _ = timed(CLI, "build", "--no-push", cwd=repo, env=env)
        git(repo, "checkout", "-q", "etl/etl.py")
        (floor / "etl.py").write_text(script)
        build, _ = timed(DOCKER, "build", "-q", "--secret", f"id=ca,src={CA}", "-t",
                         f"{floor_image}:{index}", ".", cwd=floor,
                         env={**ENV, "DOCKER_BUILDKIT": "1"})
        push, _ = timed(DOCKER, "push", f"{floor_image}:{index}", cwd=floor)
        if index:
            ours.append(elapsed)
            ours_local.append(elapsed_local)
            floor_build.append(build)
            floor_full.append(build + push)
    code = f"script + {payload_mb} MiB of reference data" if payload_mb else "one script"
    print(f"rebuild after a script-only change, code layer: {code} ({rounds} rounds, warm "
          "cache)")
    print(line("ours: pipelinectl build", ours))
    print(line("floor: docker build + docker push", floor_full))
    print(line("ours: pipelinectl build --no-push", ours_local))
    print(line("floor: docker build", floor_build))
    print(f"  ratio ours/floor (goal <= 1.2x): {min(ours) / min(floor_full):.2f}x min, "
          f"{statistics.median(ours) / statistics.median(floor_full):.2f}x median")
    print(f"  ratio ours --no-push/floor build only: "
          f"{min(ours_local) / min(floor_build):.2f}x min, "
          f"{statistics.median(ours_local) / statistics.median(floor_build):.2f}x median")


def no_op(root: pathlib.Path, registry: str, count: int, rounds: int) -> None:
    repo = root / "monorepo"
    for index in range(count):
        pipeline(repo / "pipelines" / f"p{index:03d}", f"p{index:03d}")
    (repo / "platform.yaml").write_text(PLATFORM.format(registry=f"{registry}/mono"))
    sh("git", "init", "-q", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    env = {**ENV, "PIPELINECTL_PLATFORM": str(repo / "platform.yaml")}
    started = time.perf_counter()
    sh(CLI, "build", cwd=repo, env=env)
    print(f"no-op decision, {count}-pipeline monorepo (first build of all {count}: "
          f"{time.perf_counter() - started:.0f} s, untimed)")
    times = []
    for index in range(rounds):
        (repo / "README.md").write_text(f"round {index}\n")  # a commit that builds nothing
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"docs {index}")
        elapsed, output = timed(CLI, "build", cwd=repo, env=env)
        builds = output.count(": built ")
        assert builds == 0 and output.count(": up to date ") == count, output[-2000:]
        times.append(elapsed)
    print(line(f"ours: pipelinectl build ({count} up to date)", times))
    print(f"  builds: 0; ratio to the 2 s limit: {min(times) / 2:.2f}x min, "
          f"{statistics.median(times) / 2:.2f}x median")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pipelines", type=int, default=50)
    parser.add_argument("--registry", default="127.0.0.1:5000")
    parser.add_argument("--payload-mb", type=int, default=20,
                        help="also measure a code layer with this much reference data "
                             "(0: skip)")
    args = parser.parse_args()
    registry = f"{args.registry}/bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="pipelinectl-bench-") as scratch:
        root = pathlib.Path(scratch)
        rebuild(root, registry, args.rounds, 0)
        if args.payload_mb:
            rebuild(root, registry, args.rounds, args.payload_mb)
        no_op(root, registry, args.pipelines, args.rounds)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark a production deploy that promotes against a deploy that builds (a report).

    python bench/promote.py [--pipelines 10] [--rounds 3] [--registry 127.0.0.1:5000]

Needs what tests/services.sh starts: dockerd, the registry (its access log) and the base image
pipelinectl-test/debian:bookworm. Each round, in a temporary folder: a git repository of
--pipelines cronjob pipelines (a custom Dockerfile, `FROM` the base + `COPY` of a one-line
script), a platform with the environments dev (branch main, namespace default-dev, schedules
suspended) and production (branch production, `build: false`) and a registry path of this run
and round, the fake API server (tests/support/fakekube.py) with the namespaces default and
default-dev, KUBECONFIG pointing at it. Untimed setup: dev deploys the first commit (builds
everything), production deploys it (promotes). Then, timed, as subprocesses of the real CLI:

1. build:     a commit on main that changes every pipeline's script, `pipelinectl deploy`
              (dev: one code layer per image rebuilt, warm cache otherwise, pushed);
2. promotion: `git merge --no-ff main` into production, `pipelinectl deploy` (no build: each
              image looked up by its content tag in the registry).

For each: wall time (min and median over the rounds), the registry's requests by method
(its access log, this run's repositories only), docker image events and "building" lines
(builds), and the fake API server's reads before the first write, writes, and reads after,
with the order of the registry's requests against the first API write. It prints the ratio
promotion/build and the checks: no build, no upload (only GET/HEAD at the registry), only
reads before writes (every registry request answered before the first API write, none after),
and production's images byte-identical to dev's. The exit status is 0 unless a deploy fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelinectl.vocabulary import LEASE_NAME_PREFIX  # noqa: E402
from tests.support.fakekube import FakeKube, Request  # noqa: E402
from tests.support.services import REGISTRY_LOG, RegistryLog, services_ready  # noqa: E402

DOCKER = os.environ.get("PIPELINECTL_DOCKER", "/usr/bin/docker")
BASE = "pipelinectl-test/debian:bookworm"
CLI = str(pathlib.Path(sys.executable).parent / "pipelinectl")
# Bytecode caching allowed, as after a normal install; no CI variable picks the branch.
ENV = {k: v for k, v in os.environ.items()
       if k not in ("PYTHONDONTWRITEBYTECODE", "PIPELINECTL_PLATFORM", "CI_PROJECT_PATH",
                    "GITHUB_REPOSITORY", "CI_COMMIT_BRANCH", "GITHUB_REF_NAME")}
UPLOADS = ("PUT", "POST", "PATCH", "DELETE")
PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  default: {{namespace: default}}
environments:
  dev: {{branch: main, namespace: "{{namespace}}-dev", schedules: suspended}}
  production: {{branch: production, build: false}}
"""
SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: {name}, team: default}}
image: {{dockerfile: Dockerfile}}
schedule: "{minute} 7 * * *"
engine: cronjob
tasks:
  - name: main
    command: [sh, etl.sh]
"""
DOCKERFILE = f"FROM {BASE}\nCOPY etl.sh /app/\nUSER 10001\n"
# The registry's own log line per request: its time to the nanosecond (the access line has
# seconds), method and path.
_COMPLETED = re.compile(r'^time="([^"]+)" level=\w+ msg="response completed[^"]*".*?'
                        r'http\.request\.method=(\w+) .*?http\.request\.uri="?([^"\s]+)',
                        re.MULTILINE)


class Stamped(list[Request]):
    """The fake API server's request log, with the wall-clock time of each request."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, request: Request) -> None:  # called under the fake's lock
        self.times.append(time.time())
        super().append(request)


@dataclass
class Measure:
    seconds: float
    registry: Counter[str]  # requests by method, this round's repositories only
    image_events: Counter[str]  # docker image events by action, this round's images only
    building: int  # "building" lines on stderr
    reads_before: int  # API reads before the first write (the deploy lease's)
    writes: int  # objects and state, the lease apart
    lease_writes: int
    reads_after: int  # API reads after the first write (under the lease)
    reads_after_objects: int  # API reads after the first object write
    shape: str  # the API request sequence, run-length: 10R 1L 2R 20W 1L (L: the lease)
    registry_before_write: int  # registry requests answered before the first API write
    registry_after_write: int  # and after it
    out: str = ""
    images: dict[str, str] = field(default_factory=dict)  # CronJob -> image reference

    @property
    def uploads(self) -> int:
        return sum(self.registry[m] for m in UPLOADS)

    @property
    def builds(self) -> int:
        return self.building + self.image_events["tag"] + self.image_events["push"]


def sh(*command: str, cwd: pathlib.Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, env=env or ENV, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return done.stdout


def git(repo: pathlib.Path, *args: str) -> str:
    return sh("git", "-c", "user.email=bench@example.org", "-c", "user.name=bench", *args,
              cwd=repo)


def write_scripts(repo: pathlib.Path, count: int, text: str) -> None:
    for index in range(count):
        (repo / f"p{index:02d}" / "etl.sh").write_text(f"echo p{index:02d} {text}\n")


def generate(repo: pathlib.Path, count: int, registry: str, nonce: str) -> None:
    sh("git", "init", "-q", "-b", "main", str(repo), cwd=repo.parent)
    for index in range(count):
        folder = repo / f"p{index:02d}"
        folder.mkdir()
        (folder / "pipeline.yaml").write_text(SPEC.format(name=f"p{index:02d}",
                                                          minute=index % 60))
        (folder / "Dockerfile").write_text(DOCKERFILE)
    write_scripts(repo, count, f"{nonce} first")
    (repo / "platform.yaml").write_text(PLATFORM.format(registry=registry))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    git(repo, "branch", "production")


def deploy(repo: pathlib.Path, env: dict[str, str]) -> tuple[float, str, str]:
    started = time.perf_counter()
    done = subprocess.run([CLI, "deploy", "--platform", str(repo / "platform.yaml")], cwd=repo,
                          env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        print(f"error: pipelinectl deploy failed in {repo} (exit {done.returncode})\n"
              f"{done.stdout}{done.stderr}", file=sys.stderr)
        raise SystemExit(1)
    return elapsed, done.stdout, done.stderr


def _epoch(stamp: str) -> float:
    """RFC 3339 with nanoseconds (the registry's) to seconds since the epoch."""
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", stamp)
    assert match, stamp
    whole = datetime.datetime.fromisoformat(match[1] + match[3].replace("Z", "+00:00"))
    return whole.timestamp() + float(f"0.{match[2] or 0}")


def registry_times(offset: int, prefix: str) -> list[tuple[float, str]]:
    """(time answered, method) of the registry's requests to this round's repositories since
    `offset` of its log (read after RegistryLog.requests, which waits for the log)."""
    with open(REGISTRY_LOG, "rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", "replace")
    return [(_epoch(when), method) for when, method, path in _COMPLETED.findall(text)
            if path.startswith(f"/v2/{prefix}/")]


def image_events(since: float, until: float, prefix: str) -> Counter[str]:
    """Docker's image events (tag, push, ...) between two times, for this round's images."""
    out = sh(DOCKER, "events", "--since", f"{since:.6f}", "--until", f"{until:.6f}",
             "--filter", "type=image", "--format", "{{json .}}", cwd=REPO)
    found: Counter[str] = Counter()
    for line in out.splitlines():
        event = json.loads(line)
        names = [event.get("id", ""), *event.get("Actor", {}).get("Attributes", {}).values()]
        if any(str(n).startswith(prefix) for n in names):
            found[event.get("Action") or event.get("status", "?")] += 1
    return found


def is_lease(request: Request) -> bool:
    return request.name.startswith(LEASE_NAME_PREFIX)


def shape(requests: list[Request]) -> str:
    runs: list[list[object]] = []
    for request in requests:
        letter = ("L" if is_lease(request) else "W") if request.write else "R"
        if runs and runs[-1][1] == letter:
            runs[-1][0] = int(str(runs[-1][0])) + 1
        else:
            runs.append([1, letter])
    return " ".join(f"{count}{letter}" for count, letter in runs) or "-"


def images_of(fake: FakeKube, namespace: str, count: int) -> dict[str, str]:
    found = {}
    for index in range(count):
        job = fake.get("cronjobs", namespace, f"p{index:02d}")
        if job is not None:
            [container] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
            found[f"p{index:02d}"] = container["image"]
    return found


def measured(repo: pathlib.Path, env: dict[str, str], fake: FakeKube, host: str,
             prefix: str, namespace: str, count: int) -> Measure:
    log = RegistryLog()
    first = len(fake.requests)
    since = time.time()
    seconds, out, err = deploy(repo, env)
    until = time.time()
    methods = Counter(method for method, _ in log.requests(prefix))
    answered = registry_times(log.offset, prefix)
    requests = fake.requests[first:]
    times = fake.requests.times[first:]  # type: ignore[attr-defined]
    first_write = next((i for i, r in enumerate(requests) if r.write), len(requests))
    write_time = times[first_write] if first_write < len(requests) else until
    writes = [r for r in requests if r.write]
    leases = sum(1 for r in writes if is_lease(r))
    first_object = next((i for i, r in enumerate(requests) if r.write and not is_lease(r)),
                        len(requests))
    return Measure(seconds, methods, image_events(since, until, f"{host}/{prefix}/"),
                   err.count(": building "), first_write, len(writes) - leases, leases,
                   len(requests) - first_write - len(writes),
                   sum(1 for r in requests[first_object:] if not r.write), shape(requests),
                   sum(1 for when, _ in answered if when < write_time),
                   sum(1 for when, _ in answered if when >= write_time), out,
                   images_of(fake, namespace, count))


def one_round(index: int, registry: str, count: int, nonce: str) -> tuple[Measure, Measure]:
    host, _, path = registry.partition("/")
    prefix = f"{path}/r{index}"
    with tempfile.TemporaryDirectory(prefix="pipelinectl-bench-") as scratch:
        root = pathlib.Path(scratch)
        repo = root / "repo"
        repo.mkdir()
        generate(repo, count, f"{host}/{prefix}", nonce)
        fake = FakeKube()
        fake.requests = Stamped()
        fake.start()
        try:
            for namespace in ("default", "default-dev"):
                fake.add_namespace(namespace)
            env = {**ENV, "KUBECONFIG": str(fake.kubeconfig(root / "kubeconfig"))}
            deploy(repo, env)  # setup, untimed: dev builds the first commit
            git(repo, "checkout", "-q", "production")
            deploy(repo, env)  # and production promotes it
            git(repo, "checkout", "-q", "main")
            write_scripts(repo, count, f"{nonce} round {index}")
            git(repo, "commit", "-qam", f"every script, round {index}")
            build = measured(repo, env, fake, host, prefix, "default-dev", count)
            git(repo, "checkout", "-q", "production")
            git(repo, "merge", "-q", "--no-ff", "main", "-m", f"promote round {index}")
            promotion = measured(repo, env, fake, host, prefix, "default", count)
        finally:
            fake.stop()
    for label, found, action in (("build", build, "built"), ("promotion", promotion,
                                                              "promoted")):
        done = found.out.count(f": image {action}; applied ")
        if done != count:
            print(f"error: the {label} deploy did not {action.rstrip('d')} {count} images:\n"
                  f"{found.out}", file=sys.stderr)
            raise SystemExit(1)
    return build, promotion


def methods(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[m]} {m}" for m in sorted(counts)) or "none"


def report(count: int, rounds: list[tuple[Measure, Measure]]) -> None:
    print(f"production deploy of {count} pipelines: promotion against a deploy that builds "
          f"({len(rounds)} rounds)")
    for label, which in (("build (dev, peer)", 0), ("promotion (production)", 1)):
        runs = [r[which] for r in rounds]
        seconds = [r.seconds for r in runs]
        last = runs[-1]
        events = ", ".join(f"{n} {a}" for a, n in sorted(last.image_events.items())) or "none"
        print(f"  {label:24s} min {min(seconds):6.2f} s   median "
              f"{statistics.median(seconds):6.2f} s")
        print(f"    registry: {methods(last.registry)}")
        print(f"    builds: {last.building} 'building' lines, docker image events: {events}")
        print(f"    API: {last.reads_before} reads before the first write, {last.writes} "
              f"writes (+{last.lease_writes} lease), {last.reads_after} reads after (under "
              f"the lease, {last.reads_after_objects} after the first object write); "
              f"sequence {last.shape}")
        print(f"    registry requests answered before the first API write: "
              f"{last.registry_before_write}, after it: {last.registry_after_write}")
    builds = [r[0].seconds for r in rounds]
    promotions = [r[1].seconds for r in rounds]
    print(f"  ratio promotion/build: {min(promotions) / min(builds):.2f}x min, "
          f"{statistics.median(promotions) / statistics.median(builds):.2f}x median")
    promoted = [r[1] for r in rounds]

    def yes(ok: bool) -> str:
        return "yes" if ok else "NO"

    print(f"  no build: {yes(all(p.builds == 0 for p in promoted))}")
    print(f"  no upload: {yes(all(p.uploads == 0 for p in promoted))} "
          f"(registry methods over all rounds: "
          f"{methods(sum((p.registry for p in promoted), Counter()))})")
    ordered = all(p.registry_after_write == 0 and p.reads_after_objects == 0 and p.writes > 0
                  and p.registry_before_write == sum(p.registry.values()) for p in promoted)
    print(f"  only reads before writes: {yes(ordered)} "
          "(every registry request answered before the first API write, the lease; no API "
          "read after the first object write)")
    print(f"  same images as dev: "
          f"{yes(all(b.images == p.images and len(p.images) == count for b, p in rounds))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--registry", default="127.0.0.1:5000")
    args = parser.parse_args()
    if not services_ready():
        raise SystemExit("needs dockerd, the registry and the base image: "
                         "bash tests/services.sh")
    nonce = uuid.uuid4().hex[:8]
    registry = f"{args.registry}/bench-promote-{nonce}"
    rounds = [one_round(index, registry, args.pipelines, nonce)
              for index in range(args.rounds)]
    report(args.pipelines, rounds)


if __name__ == "__main__":
    main()

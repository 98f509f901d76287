#!/usr/bin/env python3
"""Benchmark `pipelinectl status` on many pipelines: API requests and wall time (a report).

    python bench/status.py [--pipelines 100] [--jobs 1 20] [--rounds 3]

It generates a monorepo of --pipelines one-task cronjob-engine pipelines in a temporary git
repository, deploys them through the real kubernetes client to the fake API server
(tests/support/fakekube.py), then for each count in --jobs stores that many finished Jobs per
pipeline (with a Pod each: every other one failed with an exit code, as the Job controller
and the kubelet leave them) and runs `pipelinectl status --check` as a subprocess, the way CI
runs it. It prints the API requests of one status and its wall time (minimum of --rounds,
Python's start and the loading of every pipeline.yaml included).

Goals: the request count is the same for every --jobs count (it grows with the namespaces,
never with the pipelines or the runs kept), and the time stays within a 2 s budget.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelinectl import wiring  # noqa: E402
from pipelinectl.adapters import git as git_adapter  # noqa: E402
from pipelinectl.adapters.git import GitHistory  # noqa: E402
from pipelinectl.adapters.kube import Kube  # noqa: E402
from pipelinectl.deploy import engine as deploy  # noqa: E402
from pipelinectl.render.desired import desired  # noqa: E402
from pipelinectl.spec import platform  # noqa: E402
from pipelinectl.spec.discover import find_pipelines  # noqa: E402
from pipelinectl.spec.validation import load_pipelines  # noqa: E402
from tests.support.fakekube import FakeKube  # noqa: E402
from tests.support.fakeruns import add, exited, job, pod  # noqa: E402

SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: p{index:03d}, team: default}}
image: {{language: python, version: "3.12", dependencies: requirements.txt}}
schedule: "{minute} 7 * * *"
tasks:
  - name: main
    command: [python, main.py]
"""
BUDGET = 2.0  # seconds for status on 100 pipelines


def git(root: pathlib.Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=b@b", "-c", "user.name=b", "-C", str(root),
                           *args], check=True, capture_output=True, text=True).stdout


def generate(root: pathlib.Path, count: int) -> None:
    for index in range(count):
        folder = root / f"p{index:03d}"
        folder.mkdir(parents=True)
        (folder / "pipeline.yaml").write_text(SPEC.format(index=index, minute=index % 60))
        (folder / "requirements.txt").write_text("six==1.16.0\n")
        (folder / "main.py").write_text("print('hello')\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pipelines")


def deploy_all(root: pathlib.Path, config: platform.Platform, kubeconfig: pathlib.Path) -> None:
    checkout = git_adapter.read(root, {})
    assert checkout is not None
    pipelines = load_pipelines(find_pipelines([], root), config, None, root)
    revision = wiring.revisions(root, pipelines)
    wanted = [desired(p, config, f"127.0.0.1:5000/default/{p.metadata.name}@sha256:"
                      + "1" * 64, revision[p.file]) for p in pipelines]
    kube = Kube(Kube.connect({"KUBECONFIG": str(kubeconfig)})._client)
    ctx = deploy.DeployContext(kube, GitHistory(root), checkout.commit, "production", "bench",
                               "2026-01-01T00:00:00Z")
    deploy.run(wanted, ctx, prune_removed=True)


def keep_runs(fake: FakeKube, count: int, per_pipeline: int) -> None:
    """Jobs 0..per_pipeline-1 of every pipeline (those already there are kept)."""
    for index in range(count):
        name = f"p{index:03d}"
        for run in range(per_pipeline):
            job_name = f"{name}-{29000000 + run}"
            if fake.get("jobs", "default", job_name) is not None:
                continue
            tick = f"2026-11-{1 + run % 28:02d}T07:{index % 60:02d}:00Z"
            end = tick.replace(":00Z", ":45Z")
            failed = run % 2 == 1
            add(fake, "default",
                job(name, job_name, tick, "failed" if failed else "succeeded", tick, end,
                    "BackoffLimitExceeded" if failed else ""),
                pod(name, job_name, "Failed" if failed else "Succeeded",
                    [exited("main", 3 if failed else 0)], created=tick))


def one_status(root: pathlib.Path, fake: FakeKube, env: dict[str, str]) -> tuple[int, float]:
    before = len(fake.requests)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelinectl.cli", "status", "--check"],
                          cwd=root, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"status failed ({done.returncode}): {done.stderr}")
    return len(fake.requests) - before, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = pathlib.Path(scratch_name)
        root = scratch / "repo"
        generate(root, args.pipelines)
        platform_file = scratch / "platform.yaml"
        platform_file.write_text(platform.builtin_path().read_text().replace(
            "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
        config = platform.load(platform_file)
        fake = FakeKube()
        fake.start()
        try:
            fake.add_namespace("default")
            kubeconfig = fake.kubeconfig(scratch / "kubeconfig")
            deploy_all(root, config, kubeconfig)
            env = {**os.environ, "KUBECONFIG": str(kubeconfig),
                   "PIPELINECTL_PLATFORM": str(platform_file), "PYTHONPATH": str(REPO)}
            rows = []
            for per_pipeline in sorted(args.jobs):
                keep_runs(fake, args.pipelines, per_pipeline)
                found = [one_status(root, fake, env) for _ in range(args.rounds)]
                rows.append((per_pipeline, found[0][0], min(t for _, t in found)))
        finally:
            fake.stop()
    print(f"pipelinectl status --check on {args.pipelines} pipelines (cronjob engine, one "
          f"namespace, fake API server; wall time: minimum of {args.rounds}, subprocess)")
    for per_pipeline, requests, elapsed in rows:
        print(f"  {per_pipeline:>3} Jobs per pipeline ({per_pipeline * args.pipelines:>5} Jobs "
              f"and Pods): {requests} API requests, {elapsed:.2f} s")
    counts = {requests for _, requests, _ in rows}
    print(f"requests grow with the runs kept: {'no' if len(counts) == 1 else 'YES'} "
          f"({', '.join(str(r) for _, r, _ in rows)})")
    slowest = max(elapsed for _, _, elapsed in rows)
    print(f"time/budget = {slowest / BUDGET:.2f}x (budget {BUDGET:.0f} s, slowest row)")


if __name__ == "__main__":
    main()

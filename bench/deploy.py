#!/usr/bin/env python3
"""Benchmark the cluster half of `pipelinectl deploy` against the fake API server (a report).

    python bench/deploy.py [--pipelines 100] [--rounds 3]

It generates --pipelines one-task pipelines (tests/support/monorepo.py style: cronjob engine),
commits them to a temporary git repository, and deploys them with pipelinectl/deploy.py
through the real kubernetes client to tests/support/fakekube.py:

1. from scratch (an empty namespace), and
2. again, unchanged (a no-op redeploy),

counting the API requests (reads, writes) and the wall time. The peer is `kubectl apply` of
the same objects, which needs at least one read and one write per object on a first apply and
one read per object when nothing changed (it GETs each object to compute its patch). Goal: the
no-op redeploy makes zero writes and a number of reads that does not grow with the number of
pipelines. Images are fixed digests: building is measured by bench/build.py.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelinectl.adapters import git as git_adapter  # noqa: E402
from pipelinectl.adapters.git import GitHistory  # noqa: E402
from pipelinectl.adapters.kube import Kube  # noqa: E402
from pipelinectl.deploy import engine as deploy  # noqa: E402
from pipelinectl.render.desired import desired as desired_of  # noqa: E402
from pipelinectl.spec import platform  # noqa: E402
from pipelinectl.spec.discover import find_pipelines  # noqa: E402
from pipelinectl.spec.validation import load_pipelines  # noqa: E402
from tests.support.fakekube import FakeKube  # noqa: E402

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


def generate(root: pathlib.Path, count: int) -> None:
    for index in range(count):
        folder = root / f"p{index:03d}"
        folder.mkdir(parents=True)
        (folder / "pipeline.yaml").write_text(SPEC.format(index=index, minute=index % 60))
        (folder / "requirements.txt").write_text("six==1.16.0\n")
        (folder / "main.py").write_text("print('hello')\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for command in (["add", "-A"], ["commit", "-qm", "pipelines"]):
        subprocess.run(["git", "-c", "user.email=b@b", "-c", "user.name=b", "-C", str(root),
                        *command], check=True)


def one_deploy(root: pathlib.Path, fake: FakeKube, kubeconfig: pathlib.Path
               ) -> tuple[float, int, int]:
    local = platform.load(None)
    git = git_adapter.read(root, {})
    assert git is not None
    started = time.perf_counter()
    pipelines = load_pipelines(find_pipelines([], root), local, None, root)
    desired = [desired_of(p, local, f"127.0.0.1:5000/default/{p.metadata.name}@sha256:"
                               + "1" * 64, git.commit) for p in pipelines]
    kube = Kube(Kube.connect({"KUBECONFIG": str(kubeconfig)})._client)
    before = len(fake.requests)
    ctx = deploy.DeployContext(kube, GitHistory(root), git.commit, "production", "bench",
                               "2026-01-01T00:00:00Z")
    deploy.run(desired, ctx, prune_removed=True)
    elapsed = time.perf_counter() - started
    requests = fake.requests[before:]
    writes = sum(1 for r in requests if r.write)
    return elapsed, len(requests) - writes, writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    first, again = [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="pipelinectl-bench-") as scratch:
            root = pathlib.Path(scratch) / "repo"
            generate(root, args.pipelines)
            fake = FakeKube()
            fake.start()
            fake.add_namespace("default")
            kubeconfig = fake.kubeconfig(pathlib.Path(scratch) / "kubeconfig")
            try:
                first.append(one_deploy(root, fake, kubeconfig))
                again.append(one_deploy(root, fake, kubeconfig))
            finally:
                fake.stop()
    n = args.pipelines
    for label, runs, peer_reads, peer_writes in (
            ("from scratch", first, n, n), ("no-op redeploy", again, n, 0)):
        seconds = [r[0] for r in runs]
        _, reads, writes = runs[-1]
        print(f"{label}, {n} pipelines ({args.rounds} rounds):")
        print(f"  ours: {reads} reads, {writes} writes, min {min(seconds):.2f} s, "
              f"median {statistics.median(seconds):.2f} s")
        print(f"  kubectl apply (at least): {peer_reads} reads, {peer_writes} writes")
        print(f"  requests ours/kubectl: {(reads + writes) / (peer_reads + peer_writes):.2f}x")
    _, reads, writes = again[-1]
    print(f"no-op redeploy: {writes} writes (goal 0), {reads} reads "
          "(goal: constant in the number of pipelines)")


if __name__ == "__main__":
    main()

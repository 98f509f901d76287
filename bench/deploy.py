#!/usr/bin/env python3
"""Benchmark the cluster half of `pipelinectl deploy`: what each commit writes (a report).

    python bench/deploy.py [--pipelines 100] [--rounds 3]

It generates a monorepo of --pipelines one-task pipelines in a temporary git repository, twice:
once with the cronjob engine, deployed through the real kubernetes client to the fake API
server (tests/support/fakekube.py), and once with the airflow engine, whose DAG files go to a
bare git repository (`airflow.dags.git`, as git-sync or an Airflow 3 GitDagBundle reads them)
and whose state goes to the fake API server. Each repository sees four deploys:

1. from scratch (an empty namespace);
2. the same commit again (a no-op redeploy);
3. a docs-only commit (a README at the top);
4. a commit that changes one pipeline's schedule;

and for each it counts API reads and writes (deploy leases apart, and with them), DAG files
written, commits on the DAG branch, and wall time (loading and rendering the pipelines
included). The peer for the first two is `kubectl apply` of the same objects (at least one read
and one write per object on a first apply, one read per object when nothing changed). Goals:
the docs-only commit makes 0 object writes and 0 DAG writes; the one-pipeline commit writes
that pipeline's objects only, a number that does not grow with the number of pipelines.
Images are fixed digests: building is measured by bench/build.py.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelinectl import wiring  # noqa: E402
from pipelinectl.adapters import git as git_adapter  # noqa: E402
from pipelinectl.adapters.git import GitHistory  # noqa: E402
from pipelinectl.adapters.kube import Kube  # noqa: E402
from pipelinectl.deploy import engine as deploy  # noqa: E402
from pipelinectl.deploy.ports import Delivery  # noqa: E402
from pipelinectl.render.desired import dag_places, desired  # noqa: E402
from pipelinectl.spec import platform  # noqa: E402
from pipelinectl.spec.discover import find_pipelines  # noqa: E402
from pipelinectl.spec.validation import load_pipelines  # noqa: E402
from pipelinectl.vocabulary import LEASE_NAME_PREFIX  # noqa: E402
from tests.support.fakekube import FakeKube  # noqa: E402

SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: p{index:03d}, team: default}}
image: {{language: python, version: "3.12", dependencies: requirements.txt}}
schedule: "{minute} {hour} * * *"
engine: {engine}
tasks:
  - name: main
    command: [python, main.py]
"""
PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: 127.0.0.1:5000
base_images:
  python: {{"3.12": "python:3.12-slim"}}
teams:
  default: {{namespace: default}}
airflow:
  dags:
    git: {{repo: {remote}, branch: dags, path: "teams/{{team}}"}}
"""
STEPS = ("from scratch", "no-op redeploy", "docs-only commit", "one-pipeline commit")


@dataclass
class Counts:
    seconds: float
    reads: int
    writes: int  # objects and state, leases apart
    lease_writes: int
    dag_files: int  # DAG files written or deleted
    dag_commits: int  # commits on the DAG branch


class Counting:
    """A DAG delivery that counts the files it is asked to write or delete."""

    def __init__(self, inner: Delivery) -> None:
        self.inner = inner
        self.location = inner.location
        self.files = 0

    def read(self, path: str) -> str | None:
        return self.inner.read(path)

    def publish(self, writes: Mapping[str, str], deletes: list[str], message: str,
                then: Callable[[], None]) -> None:
        self.files += len(writes) + len(deletes)
        self.inner.publish(writes, deletes, message, then)

    def close(self) -> None:
        self.inner.close()


def git(root: pathlib.Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=b@b", "-c", "user.name=b", "-C", str(root),
                           *args], check=True, capture_output=True, text=True).stdout


def write_pipeline(root: pathlib.Path, index: int, engine: str, hour: int = 7) -> None:
    folder = root / f"p{index:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.yaml").write_text(SPEC.format(index=index, minute=index % 60, hour=hour,
                                                      engine=engine))
    (folder / "requirements.txt").write_text("six==1.16.0\n")
    (folder / "main.py").write_text("print('hello')\n")


def generate(root: pathlib.Path, count: int, engine: str) -> None:
    for index in range(count):
        write_pipeline(root, index, engine)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pipelines")


def one_deploy(root: pathlib.Path, fake: FakeKube, kubeconfig: pathlib.Path,
               config: platform.Platform, remote: pathlib.Path | None) -> Counts:
    checkout = git_adapter.read(root, {})
    assert checkout is not None
    commits_before = _commits(remote)
    started = time.perf_counter()
    pipelines = load_pipelines(find_pipelines([], root), config, None, root)
    revision = wiring.revisions(root, pipelines)
    wanted = [desired(p, config, f"127.0.0.1:5000/default/{p.metadata.name}@sha256:"
                      + "1" * 64, revision[p.file]) for p in pipelines]
    kube = Kube(Kube.connect({"KUBECONFIG": str(kubeconfig)})._client)
    before = len(fake.requests)
    with wiring.delivery(config, root, {"PATH": "/usr/bin:/bin"}) as found:
        delivery = Counting(found) if found is not None else None
        ctx = deploy.DeployContext(kube, GitHistory(root), checkout.commit, "production",
                                   "bench", "2026-01-01T00:00:00Z", delivery=delivery,
                                   dag_namespace=dag_places(config)[0],
                                   dag_folders=dag_places(config)[1])
        deploy.run(wanted, ctx, prune_removed=True)
    elapsed = time.perf_counter() - started
    requests = fake.requests[before:]
    writes = [r for r in requests if r.write]
    leases = sum(1 for r in writes if r.name.startswith(LEASE_NAME_PREFIX))
    return Counts(elapsed, len(requests) - len(writes), len(writes) - leases, leases,
                  delivery.files if delivery else 0, _commits(remote) - commits_before)


def _commits(remote: pathlib.Path | None) -> int:
    if remote is None:
        return 0
    found = subprocess.run(["git", "-C", str(remote), "rev-list", "--count", "dags"],
                           capture_output=True, text=True, check=False)
    return int(found.stdout) if found.returncode == 0 else 0


def scenario(engine: str, count: int, scratch: pathlib.Path) -> list[Counts]:
    """The four deploys of one monorepo."""
    root = scratch / "repo"
    generate(root, count, engine)
    remote = None
    config = platform.load(None)
    if engine == "airflow":
        remote = scratch / "dags.git"
        subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
        config_file = scratch / "platform.yaml"
        config_file.write_text(PLATFORM.format(remote=remote))
        config = platform.load(str(config_file))
    fake = FakeKube()
    fake.start()
    fake.add_namespace("default")
    kubeconfig = fake.kubeconfig(scratch / "kubeconfig")
    try:
        found = [one_deploy(root, fake, kubeconfig, config, remote)]
        found.append(one_deploy(root, fake, kubeconfig, config, remote))
        (root / "README.md").write_text("# The team's pipelines\n")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "docs only")
        found.append(one_deploy(root, fake, kubeconfig, config, remote))
        write_pipeline(root, 0, engine, hour=9)
        git(root, "commit", "-qam", "p000 at nine")
        found.append(one_deploy(root, fake, kubeconfig, config, remote))
    finally:
        fake.stop()
    return found


def report(engine: str, count: int, rounds: list[list[Counts]]) -> None:
    where = ("CronJobs on the fake API server" if engine == "cronjob" else
             "DAG files in git (airflow.dags.git), state on the fake API server")
    print(f"{engine} engine, {count} pipelines, {where} ({len(rounds)} rounds):")
    for step, label in enumerate(STEPS):
        runs = [r[step] for r in rounds]
        last = runs[-1]
        seconds = [r.seconds for r in runs]
        print(f"  {label:20s} {last.reads:4d} reads, {last.writes:4d} object writes "
              f"(+{last.lease_writes} lease), {last.dag_files:4d} DAG files, "
              f"{last.dag_commits} DAG commits, min {min(seconds):.2f} s, "
              f"median {statistics.median(seconds):.2f} s")
    first, again = rounds[-1][0], rounds[-1][1]
    if engine == "cronjob":
        print(f"  requests ours/kubectl apply: from scratch "
              f"{(first.reads + first.writes + first.lease_writes) / (2 * count):.2f}x, "
              f"no-op {(again.reads + again.writes) / count:.2f}x")
    docs, one = rounds[-1][2], rounds[-1][3]
    print(f"  docs-only commit: {docs.writes} object writes, {docs.dag_files} DAG files "
          f"(goal 0 and 0): {'met' if docs.writes == docs.dag_files == 0 else 'NOT met'}")
    per_pipeline = first.writes / count
    print(f"  one-pipeline commit: {one.writes} object writes + {one.dag_files} DAG files "
          f"against {per_pipeline:.0f} object writes per pipeline from scratch (goal: one "
          f"pipeline's, not O(N)): "
          f"{'met' if one.writes <= per_pipeline and one.dag_files <= 1 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for engine in ("cronjob", "airflow"):
        rounds = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="pipelinectl-bench-") as scratch:
                rounds.append(scenario(engine, args.pipelines, pathlib.Path(scratch)))
        report(engine, args.pipelines, rounds)


if __name__ == "__main__":
    main()

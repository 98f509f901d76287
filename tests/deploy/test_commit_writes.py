"""A commit writes only what it changed (issue 20): rendered output is a function of each
pipeline's inputs, never of the commit, so an unrelated commit writes nothing and a commit that
changes one pipeline writes that pipeline's objects and state (and the repository's lease)
only; the stale-commit guard still refuses an old commit for every pipeline, with zero
writes, also when the newer deploy left some pipelines' state alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipelinectl import wiring
from pipelinectl.deploy import engine, lease, state
from pipelinectl.deploy.engine import Refused
from pipelinectl.spec import platform
from pipelinectl.vocabulary import GIT_SHA_ANNOTATION, LEASE_NAME_PREFIX
from tests.support.deploying import SPEC, context, desired_of, recorded, run, without_revision
from tests.support.fakekube import FakeKube
from tests.support.repo import git, valid_pipeline, write

NAMES = ("alpha", "beta", "gamma")
AIRFLOW_SPEC = SPEC.replace("tasks:", "engine: airflow\ntasks:")


def commit_all(repo: Path, crons: dict[str, str], message: str) -> str:
    for name, cron in crons.items():
        valid_pipeline(repo / name, SPEC.format(name=name, cron=cron, secrets="db"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def written(fake: FakeKube, since: int) -> list[str]:
    """The objects written since request `since`, as `METHOD kind/name` (leases apart)."""
    found = []
    for request in fake.requests[since:]:
        if not request.write:
            continue
        kind = request.path.rstrip("/").split("/")[-1 if request.method == "POST" else -2]
        found.append(f"{request.method} {kind}/{request.name}")
    return found


def without_leases(writes: list[str]) -> list[str]:
    return [w for w in writes if f"/{LEASE_NAME_PREFIX}" not in w]  # taken, given back


@pytest.fixture
def monorepo(git_repo: Path, fake: FakeKube, tmp_path: Path) -> str:
    """Three pipelines deployed at commit A (returned)."""
    a = commit_all(git_repo, dict.fromkeys(NAMES, "0 7 * * *"), "A")
    run(git_repo, fake, tmp_path)
    assert {recorded(fake, n).current.revision for n in NAMES} == {a}
    return a


def test_an_unrelated_commit_renders_the_same_bytes_and_writes_nothing(
        git_repo: Path, fake: FakeKube, tmp_path: Path, monorepo: str) -> None:
    before = desired_of(git_repo)
    write(git_repo / "README.md", "# cases\n")
    write(git_repo / "docs" / "notes.md", "how the pipelines work\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "docs only")
    assert desired_of(git_repo) == before  # every object, byte for byte
    mark = len(fake.requests)
    outcomes = run(git_repo, fake, tmp_path)
    assert written(fake, mark) == []  # no object, no state, no lease
    assert [o.recorded for o in outcomes] == [False, False, False]
    assert {recorded(fake, n).current.revision for n in NAMES} == {monorepo}


def test_a_commit_that_changes_one_pipeline_writes_that_pipeline_only(
        git_repo: Path, fake: FakeKube, tmp_path: Path, monorepo: str) -> None:
    b = commit_all(git_repo, {"beta": "0 9 * * *"}, "B: beta at nine")
    mark = len(fake.requests)
    run(git_repo, fake, tmp_path)
    assert sorted(without_leases(written(fake, mark))) == [
        "PATCH configmaps/pipelinectl-state-beta", "PATCH cronjobs/beta"]
    leases = [w for w in written(fake, mark) if w not in without_leases(written(fake, mark))]
    assert len(leases) == 2  # taken, then given back with B recorded as deployed
    assert recorded(fake, "beta").current.revision == b
    assert recorded(fake, "alpha").current.revision == monorepo  # untouched: not rewritten
    name = lease.lease_name("epi/covid", "production")
    assert lease.deployed_commit(fake.get("configmaps", "default", name)) == b


def test_a_stale_job_is_refused_for_every_pipeline_with_zero_writes(
        git_repo: Path, fake: FakeKube, tmp_path: Path, monorepo: str) -> None:
    commit_all(git_repo, {"alpha": "0 9 * * *"}, "B: alpha only")
    run(git_repo, fake, tmp_path)
    git(git_repo, "checkout", "-q", monorepo)  # the CI job of A, late
    mark = len(fake.requests)
    with pytest.raises(Refused, match=r"^alpha: commit [0-9a-f]{12} does not descend from the "
                                      r"deployed commit [0-9a-f]{12}: refusing to roll default "
                                      r"back \(a stale CI job\?\)$"):
        run(git_repo, fake, tmp_path)
    assert written(fake, mark) == []


def test_a_stale_job_cannot_prune_a_pipeline_added_since(
        git_repo: Path, fake: FakeKube, tmp_path: Path, monorepo: str) -> None:
    """Commit B only adds a pipeline: the states of the others still say A. The repository's
    lease record says B, so A's late job, which would prune the new pipeline, is refused."""
    commit_all(git_repo, {"delta": "0 9 * * *"}, "B: a new pipeline")
    run(git_repo, fake, tmp_path)
    git(git_repo, "checkout", "-q", monorepo)
    mark = len(fake.requests)
    with pytest.raises(Refused, match=r"^the repository's last deploy to default: commit "
                                      r"[0-9a-f]{12} does not descend from the deployed "
                                      r"commit [0-9a-f]{12}"):
        run(git_repo, fake, tmp_path)
    assert written(fake, mark) == []
    assert fake.get("cronjobs", "default", "delta") is not None


def test_a_revert_writes_the_old_objects_back(git_repo: Path, fake: FakeKube, tmp_path: Path,
                                              monorepo: str) -> None:
    spec_a = fake.get("cronjobs", "default", "gamma")
    commit_all(git_repo, {"gamma": "0 9 * * *"}, "B")
    run(git_repo, fake, tmp_path)
    git(git_repo, "revert", "--no-edit", "HEAD")
    run(git_repo, fake, tmp_path)
    reverted = fake.get("cronjobs", "default", "gamma")
    assert spec_a is not None and reverted is not None
    assert without_revision(reverted["spec"]) == without_revision(spec_a["spec"])
    assert reverted["metadata"]["annotations"][GIT_SHA_ANNOTATION] == \
        git(git_repo, "rev-parse", "HEAD")  # the revert is the last change of gamma
    assert [d.revision for d in state.from_configmap(
        fake.get("configmaps", "default", state.object_name("gamma")) or {}).history][1:] == [
        git(git_repo, "rev-parse", "HEAD~1"), monorepo]


DELIVERY_HEAD = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: 127.0.0.1:5000
base_images:
  python: {"3.12": "python:3.12-slim"}
teams:
  default: {namespace: default}
airflow:
  dags:
"""
DELIVERIES = {
    "directory": "    directory: dags\n",
    "git": "    git: {repo: REMOTE, branch: dags, path: \"teams/{team}\"}\n",
    "configmap": "    configmap: {namespace: airflow-dags}\n",
}


class Delivered:
    """A platform whose Airflow DAGs go one of the three ways, and what reached it."""

    def __init__(self, kind: str, tmp_path: Path, fake: FakeKube) -> None:
        self.kind, self.tmp_path, self.fake = kind, tmp_path, fake
        self.remote = tmp_path / "dags.git"
        git(tmp_path, "init", "-q", "--bare", str(self.remote))
        text = DELIVERY_HEAD + DELIVERIES[kind].replace("REMOTE", str(self.remote))
        self.config = platform.load(str(write(tmp_path / "platform.yaml", text)))
        fake.add_namespace("airflow-dags")

    def deploy(self, repo: Path) -> None:
        ctx = context(repo, self.tmp_path / "kubeconfig", config=self.config)
        with wiring.delivery(self.config, self.tmp_path, {"PATH": "/usr/bin:/bin"}) as found:
            engine.run(desired_of(repo, self.config), dataclasses.replace(ctx, delivery=found),
                       prune_removed=True)

    def files(self) -> dict[str, tuple[str, int]]:
        """Each DAG file: its text, and its mtime (directory) or 0."""
        if self.kind == "directory":
            return {p.name: (p.read_text(), p.stat().st_mtime_ns)
                    for p in (self.tmp_path / "dags").rglob("*.py")}
        if self.kind == "git":
            names = git(self.remote, "ls-tree", "-r", "--name-only", "dags").split()
            return {n: (git(self.remote, "show", f"dags:{n}"), 0) for n in names}
        return {name: (str(obj["data"]), 0) for (_, _, ns, name), obj in
                self.fake.objects.items() if ns == "airflow-dags"}

    def commits(self) -> int:
        if self.kind != "git":
            return 0
        return len(git(self.remote, "log", "--format=%H", "dags").splitlines())


@pytest.mark.parametrize("kind", sorted(DELIVERIES))
def test_dag_delivery_writes_only_changed_dags(git_repo: Path, fake: FakeKube, tmp_path: Path,
                                               kind: str) -> None:
    where = Delivered(kind, tmp_path, fake)
    for name in NAMES:
        valid_pipeline(git_repo / name, AIRFLOW_SPEC.format(name=name, cron="0 7 * * *",
                                                            secrets="db"))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "A")
    where.deploy(git_repo)
    first, commits = where.files(), where.commits()
    assert len(first) == 3 and commits == (1 if kind == "git" else 0)

    write(git_repo / "README.md", "# docs only\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "docs")
    mark = len(fake.requests)
    where.deploy(git_repo)
    assert where.files() == first  # same text, same mtime: not rewritten
    assert where.commits() == commits  # git delivery: no commit
    assert written(fake, mark) == []

    valid_pipeline(git_repo / "beta", AIRFLOW_SPEC.format(name="beta", cron="0 9 * * *",
                                                          secrets="db"))
    git(git_repo, "commit", "-qam", "B")
    mark = len(fake.requests)
    where.deploy(git_repo)
    after = where.files()
    changed = sorted(n for n in after if after[n] != first[n])
    assert len(changed) == 1 and "beta" in changed[0], changed
    assert where.commits() == commits + (1 if kind == "git" else 0)
    objects = without_leases(written(fake, mark))
    assert sorted(objects) == sorted(["PATCH configmaps/pipelinectl-state-beta"] + (
        [f"PATCH configmaps/{changed[0]}"] if kind == "configmap" else []))

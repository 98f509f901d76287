"""Promotion (SPEC 5): dev builds from main; production, fed by the branch `production`, never
builds: a merge of main into it deploys the byte-identical image dev runs, with the registry
asked but never written to; a commit whose image no environment built is refused before any
write. Against the real registry and dockerd, and the fake API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX, RegistryLog

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
metadata: {name: etl, team: default}
image: {dockerfile: Dockerfile}
schedule: "0 7 * * *"
tasks:
  - name: main
    command: [sh, etl.sh]
environments:
  dev:
    defaults: {env: {DB_HOST: dev-db.internal}}
"""


@pytest.fixture
def cluster(fake_kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    for namespace in ("default", "default-dev"):
        fake_kube.add_namespace(namespace)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    return fake_kube


@pytest.fixture
def repo(services: None, tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(folder))
    write(folder / "etl" / "pipeline.yaml", SPEC)
    write(folder / "etl" / "Dockerfile", f"FROM {BASE}\nCOPY etl.sh /app/\nUSER 10001\n")
    write(folder / "etl" / "etl.sh", "echo cases\n")
    write(folder / "platform.yaml", PLATFORM.format(
        registry=f"{HOST}/{PREFIX}/promote-{tmp_path.name}"))
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "A")
    git(folder, "branch", "production")
    return folder


def deploy(run, repo: Path):
    return run("deploy", "--platform", str(repo / "platform.yaml"), cwd=repo)


def cronjob(fake: FakeKube, namespace: str) -> dict:  # type: ignore[type-arg]
    found = fake.get("cronjobs", namespace, "etl")
    assert found is not None
    return found


def image_of(job: dict) -> str:  # type: ignore[type-arg]
    [container] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return str(container["image"])


def env_of(job: dict) -> dict[str, str]:  # type: ignore[type-arg]
    [container] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def repository(repo: Path) -> str:
    return f"{PREFIX}/promote-{repo.parent.name}/default/etl"


def test_production_runs_the_image_dev_built_with_no_build_and_no_upload(
        run, repo: Path, cluster: FakeKube) -> None:
    dev = deploy(run, repo)
    assert (dev.code, dev.out) == (0, "etl: image built; applied CronJob default-dev/etl\n"), \
        dev.err
    dev_job = cronjob(cluster, "default-dev")
    assert dev_job["spec"]["suspend"] is True  # dev: schedules suspended
    assert env_of(dev_job)["DB_HOST"] == "dev-db.internal"  # dev's overlay

    git(repo, "checkout", "-q", "production")
    plan = run("plan", "--format", "markdown", "--platform", str(repo / "platform.yaml"),
               cwd=repo)
    assert plan.code == 0, plan.err
    assert plan.out.startswith("### pipelinectl plan\n\nEnvironment `production` (branch "
                               "`production`), promoted: no build\n\n")
    assert "CronJob default/etl" in plan.out
    log = RegistryLog()
    promoted = deploy(run, repo)
    assert promoted.code == 0, promoted.err
    assert promoted.out == "etl: image promoted; applied CronJob default/etl\n"
    assert "building" not in promoted.err
    production = cronjob(cluster, "default")
    assert image_of(production) == image_of(dev_job)  # the same digest, byte for byte
    assert production["spec"]["suspend"] is False and "DB_HOST" not in env_of(production)
    assert {method for method, _ in log.requests(repository(repo))} <= {"GET", "HEAD"}

    # B on main goes to dev (a build), then production by a merge: B's image, not rebuilt
    git(repo, "checkout", "-q", "main")
    write(repo / "etl" / "etl.sh", "echo cases, by region\n")
    git(repo, "commit", "-qam", "B")
    built = deploy(run, repo)
    assert built.out == "etl: image built; applied CronJob default-dev/etl\n", built.err
    git(repo, "checkout", "-q", "production")
    git(repo, "merge", "-q", "--no-ff", "main", "-m", "promote B")
    log = RegistryLog()
    merged = deploy(run, repo)
    assert merged.out == "etl: image promoted; applied CronJob default/etl\n", merged.err
    assert image_of(cronjob(cluster, "default")) == image_of(cronjob(cluster, "default-dev"))
    assert image_of(cronjob(cluster, "default")) != image_of(production)
    assert {method for method, _ in log.requests(repository(repo))} <= {"GET", "HEAD"}

    history = run("history", "--environment", "production", "--platform",
                  str(repo / "platform.yaml"), cwd=repo)
    assert history.code == 0, history.err
    lines = history.out.splitlines()
    assert lines[0] == "etl (default):"
    assert [line.split()[2] for line in lines[1:]] == ["production", "production"]
    dev_history = run("history", "--environment", "dev", "--platform",
                      str(repo / "platform.yaml"), cwd=repo)
    assert dev_history.out.splitlines()[0] == "etl (default-dev):"
    assert [line.split()[2] for line in dev_history.out.splitlines()[1:]] == ["dev", "dev"]


def test_a_commit_no_environment_built_is_refused_before_any_write(
        run, repo: Path, cluster: FakeKube) -> None:
    assert deploy(run, repo).code == 0  # dev builds A
    git(repo, "checkout", "-q", "production")
    write(repo / "etl" / "etl.sh", "echo straight to production\n")
    git(repo, "commit", "-qam", "a hotfix that skipped dev")
    commit = git(repo, "rev-parse", "HEAD")
    plan = run("plan", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert plan.code == 0, plan.err
    assert ("  image missing: production does not build, and no image has this content yet; "
            "environment dev (branch main) must build it first, or the deploy is refused"
            ) in plan.out.splitlines()
    before = len(cluster.writes())
    log = RegistryLog()
    refused = deploy(run, repo)
    assert refused.code == 1 and refused.out == ""
    tag = refused.err.split("(", 1)[1].split(")", 1)[0]
    assert refused.err == (
        f"error: production does not build images, and the registry has none for the content "
        f"of commit {commit[:12]} of: etl ({tag})\n"
        "  hint: environment dev builds them: deploy this commit there first (push it to "
        "branch main), then merge it into production; see docs/how-to/promote.md\n")
    assert tag.startswith(f"{HOST}/{repository(repo)}:content-")
    assert len(cluster.writes()) == before
    assert {method for method, _ in log.requests(repository(repo))} <= {"GET", "HEAD"}

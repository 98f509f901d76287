"""Pause drift through the commands, with a real build and registry and the fake API server:
`plan` and `status` report a pause done by hand, `deploy` restores git's value and says so; a
preview and an environment with `schedules: suspended` are paused by design, not drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.test_promotion import SPEC
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX

PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  default: {{namespace: default}}
environments:
  dev: {{branch: dev, namespace: "{{namespace}}-dev", schedules: suspended}}
  production: {{branch: main}}
previews: {{namespace: "{{namespace}}-preview", expire_after: 2d}}
"""


@pytest.fixture
def repo(services: None, fake_kube: FakeKube, tmp_path: Path, run,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    for namespace in ("default", "default-dev", "default-preview"):
        fake_kube.add_namespace(namespace)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("CI_PROJECT_PATH", "epi/covid")
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(folder))
    write(folder / "etl" / "pipeline.yaml", SPEC)
    write(folder / "etl" / "Dockerfile", f"FROM {BASE}\nCOPY etl.sh /app/\nUSER 10001\n")
    write(folder / "etl" / "etl.sh", "echo cases\n")
    write(folder / "platform.yaml", PLATFORM.format(
        registry=f"{HOST}/{PREFIX}/drift-{tmp_path.name}"))
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "A")
    return folder


def pipelinectl(run, repo: Path, *args: str):
    return run(*args, "--platform", str(repo / "platform.yaml"), cwd=repo)


def test_plan_status_and_deploy_on_a_pause_by_hand(run, repo: Path,
                                                   fake_kube: FakeKube) -> None:
    assert pipelinectl(run, repo, "deploy").code == 0
    fake_kube.suspend_by_hand("default", "etl", True)
    hand = "paused by hand (git says running), at 2026-11-23T09:12:00Z by kubectl-patch"
    status = pipelinectl(run, repo, "status")
    assert f"  drift: {hand}" in status.out.splitlines()
    plan = pipelinectl(run, repo, "plan")
    assert plan.out.splitlines()[:4] == [
        "environment production (branch main)", "", "etl (CronJob default/etl):",
        f"  resumed: the live CronJob was {hand}"]
    deployed = pipelinectl(run, repo, "deploy")
    assert deployed.code == 0, deployed.err
    assert deployed.out.splitlines()[1:] == [
        "etl: resumed: the live CronJob was suspended by hand; git says running"]
    assert fake_kube.get("cronjobs", "default", "etl")["spec"]["suspend"] is False  # type: ignore[index]
    assert "  drift: " not in pipelinectl(run, repo, "status").out
    assert pipelinectl(run, repo, "plan").out.endswith("\nNo changes.\n")


def test_a_suspended_environment_and_a_preview_are_not_drift(
        run, repo: Path, fake_kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
    git(repo, "checkout", "-qb", "dev")
    assert pipelinectl(run, repo, "deploy").code == 0
    assert fake_kube.get("cronjobs", "default-dev", "etl")["spec"]["suspend"] is True  # type: ignore[index]
    dev = pipelinectl(run, repo, "status", "--environment", "dev")
    assert dev.code == 0 and "  next run: paused (suspend: true)" in dev.out.splitlines()
    assert "  drift: " not in dev.out
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "7")
    monkeypatch.setenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
    assert pipelinectl(run, repo, "preview", "deploy").code == 0
    shown = pipelinectl(run, repo, "status", "--mr", "7")
    assert shown.code == 0 and "  next run: paused (suspend: true)" in shown.out.splitlines()
    assert "  drift: " not in shown.out
    fake_kube.suspend_by_hand("default-dev", "etl", False)  # resumed by hand: that is drift
    assert ("  drift: resumed by hand (git says paused), at 2026-11-23T09:12:00Z by "
            "kubectl-patch") in pipelinectl(run, repo, "status", "--environment",
                                            "dev").out.splitlines()

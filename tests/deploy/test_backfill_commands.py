"""The worked example of docs/how-to/backfill.md, through the commands, with a real build and
registry and the fake API server: a backfill added in a merge request (plan), deployed (one
Indexed Job), its progress in `status` (text and JSON, from a Job status the test sets, as the
Job controller would), and its removal (plan, deploy: the Job suspended and kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
"""
SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: cases, team: default}
image: {dockerfile: Dockerfile}
schedule: {cron: "0 6 * * *", timezone: Europe/London}
params:
  region: {default: all, enum: [all, north, south]}
tasks:
  - name: recompute
    command: [sh, recompute.sh]
    retries: 1
"""
BACKFILL = """\
backfills:
  - id: fix-2026-q1
    from: "2026-01-01"
    to: "2026-03-31"
    max_parallel: 2
    params: {region: north}
"""


@pytest.fixture
def repo(services: None, fake_kube: FakeKube, tmp_path: Path, run,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_kube.add_namespace("default")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("CI_PROJECT_PATH", "epi/covid")
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(folder))
    write(folder / "cases" / "pipeline.yaml", SPEC)
    write(folder / "cases" / "Dockerfile", f"FROM {BASE}\nCOPY recompute.sh /app/\nUSER 10001\n")
    write(folder / "cases" / "recompute.sh", "echo cases\n")
    write(folder / "platform.yaml", PLATFORM.format(
        registry=f"{HOST}/{PREFIX}/backfill-{tmp_path.name}"))
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "A")
    assert pipelinectl(run, folder, "deploy").code == 0
    return folder


def pipelinectl(run, repo: Path, *args: str):
    return run(*args, "--platform", str(repo / "platform.yaml"), cwd=repo)


def commit(repo: Path, text: str, message: str) -> None:
    write(repo / "cases" / "pipeline.yaml", text)
    git(repo, "commit", "-qam", message)


def test_rerun_q1_after_a_bug_fix(run, repo: Path, fake_kube: FakeKube) -> None:
    # the merge request: plan against the target branch's rendering, no cluster needed
    assert pipelinectl(run, repo, "render", "-o", str(repo.parent / "main")).code == 0
    commit(repo, SPEC + BACKFILL, "Re-run Q1 after the fix of the region join")
    plan = pipelinectl(run, repo, "plan", "--against", str(repo.parent / "main"))
    assert plan.out.splitlines()[:4] == [
        "cases (CronJob default/cases):",
        "  backfill fix-2026-q1: will start 90 runs (2026-01-01T06:00:00+00:00 .. "
        "2026-03-31T05:00:00+00:00), at most 2 at once",
        "  image rebuild: code: changed pipeline.yaml", ""], plan.out
    assert pipelinectl(run, repo, "plan").out.splitlines()[:2] == plan.out.splitlines()[:2]
    deployed = pipelinectl(run, repo, "deploy")
    assert deployed.code == 0, deployed.err
    assert deployed.out.splitlines() == [
        "cases: image built; applied CronJob default/cases",
        "cases: backfill fix-2026-q1: started 90 runs, at most 2 at once"]
    job = fake_kube.get("jobs", "default", "cases-bf-fix-2026-q1")
    assert job is not None and job["spec"]["parallelism"] == 2
    again = pipelinectl(run, repo, "deploy")
    assert again.out.splitlines() == ["cases: image up to date; 1 unchanged"]
    assert pipelinectl(run, repo, "plan").out == "No changes.\n"

    # the Job controller's progress: 40 done, 2 running, the indexes of Jan 3 and Feb 1 failed
    stored = fake_kube.objects[("batch/v1", "jobs", "default", "cases-bf-fix-2026-q1")]
    stored["status"] = {"active": 2, "succeeded": 40, "failed": 2,
                        "completedIndexes": "0-1,3-30,32-41", "failedIndexes": "2,31"}
    status = pipelinectl(run, repo, "status")
    assert ("  backfill fix-2026-q1: 40 of 90 done, 2 running, failed: "
            "2026-01-03T06:00:00+00:00, 2026-02-01T06:00:00+00:00") in status.out.splitlines()
    [shown] = json.loads(pipelinectl(run, repo, "status", "--format", "json").out)["pipelines"]
    assert shown["backfills"] == [{
        "id": "fix-2026-q1", "job": "cases-bf-fix-2026-q1", "runs": 90, "done": 40,
        "running": 2, "failed": ["2026-01-03T06:00:00+00:00", "2026-02-01T06:00:00+00:00"],
        "stopped": False, "finished": False, "missing": False}]
    assert [r["name"] for r in shown["runs"]] == []  # the backfill is not one run

    # the removal
    commit(repo, SPEC, "Q1 is done")
    plan = pipelinectl(run, repo, "plan")
    words = plan.out.split("\n\n")[0].splitlines()
    assert words[0] == "cases (CronJob default/cases):" and len(words) == 3
    assert words[1].startswith("  image cases@sha256:")  # the image from before the change
    assert words[2] == "  backfill fix-2026-q1: will stop"
    removed = pipelinectl(run, repo, "deploy")
    assert removed.out.splitlines() == [
        "cases: image reused; applied CronJob default/cases",
        "cases: backfill fix-2026-q1: stopped, 40 of 90 done"]
    kept = fake_kube.get("jobs", "default", "cases-bf-fix-2026-q1")
    assert kept is not None and kept["spec"]["suspend"] is True
    assert kept["status"]["completedIndexes"] == "0-1,3-30,32-41"
    assert not [line for line in pipelinectl(run, repo, "status").out.splitlines()
                if line.startswith("  backfill ")]

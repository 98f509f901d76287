# ruff: noqa: E501 - the spec below holds whole shell commands
"""Backfills on the local platform: a real deploy to the platform's folder that adds a
backfill of 3 ticks runs them in docker, at most max_parallel at once, each with its own
PIPELINECTL_LOGICAL_DATE, each recorded as a Job file labelled with the backfill's id; the
id is in the state, and deploying again runs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelinectl.spec import platform
from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX

SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: recount, team: default}
image: {dockerfile: Dockerfile}
schedule: {cron: "30 6 * * *", timezone: Europe/Paris}
params:
  region: {default: all, enum: [all, north, south]}
tasks:
  - name: count
    command: [sh, -c, "echo counted date=$PIPELINECTL_LOGICAL_DATE index=$JOB_COMPLETION_INDEX region=$PIPELINECTL_PARAM_REGION; test $PIPELINECTL_LOGICAL_DATE != 2026-03-02T05:30:00+00:00"]
"""
BACKFILL = """\
backfills:
  - {id: fix-march, from: "2026-03-01", to: "2026-03-03", max_parallel: 2, params: {region: north}}
"""


@pytest.fixture
def repo(services: None, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(folder))
    local = platform.builtin_path().read_text()
    write(folder / "platform.yaml", local.replace(
        "registry: 127.0.0.1:5000", f"registry: {HOST}/{PREFIX}/backfill").replace(
        "allowed_base_registries: [docker.io/rocker, docker.io/library]",
        "allowed_base_registries: [docker.io/pipelinectl-test]"))
    write(folder / "recount" / "pipeline.yaml", SPEC)
    write(folder / "recount" / "Dockerfile", f"FROM {BASE}\nUSER 10001\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "recount")
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(folder / "platform.yaml"))
    deployed = run("deploy", cwd=folder)
    assert deployed.code == 0, deployed.err
    return folder


def recorded_jobs(repo: Path) -> list[dict]:  # type: ignore[type-arg]
    folder = repo / ".pipelinectl" / "kubernetes" / "default" / "Job"
    return [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]


def test_a_backfill_of_three_ticks_runs_in_docker(repo: Path, run) -> None:
    write(repo / "recount" / "pipeline.yaml", SPEC + BACKFILL)
    git(repo, "commit", "-qam", "backfill")
    deployed = run("deploy", cwd=repo)
    assert deployed.code == 1, deployed.err  # the run of March 2 failed
    lines = deployed.out.splitlines()
    assert lines[:2] == ["recount: image built; applied CronJob default/recount",
                         "recount: backfill fix-march: started 3 runs, at most 2 at once"]
    assert sorted(lines[2:5]) == [
        "backfill fix-march: run 0 (2026-03-01T05:30:00+00:00) succeeded",
        "backfill fix-march: run 1 (2026-03-02T05:30:00+00:00) failed",
        "backfill fix-march: run 2 (2026-03-03T05:30:00+00:00) succeeded"]
    assert lines[5] == "backfill fix-march: 2 of 3 runs succeeded, 1 failed"
    for index, day in enumerate(("01", "02", "03")):  # each run's own logical date
        assert (f"[count] counted date=2026-03-{day}T05:30:00+00:00 index={index} "
                "region=north\n") in deployed.err
    found = recorded_jobs(repo)
    assert sorted(j["metadata"]["name"] for j in found) == [
        "recount-bf-fix-march-0", "recount-bf-fix-march-1", "recount-bf-fix-march-2"]
    for job in found:
        assert job["metadata"]["labels"]["pipelinectl.io/trigger"] == "backfill"
        assert job["metadata"]["labels"]["pipelinectl.io/backfill"] == "fix-march"
    state = json.loads(yaml.safe_load((repo / ".pipelinectl" / "kubernetes" / "default" /
                                       "ConfigMap" / "pipelinectl-state-recount.yaml"
                                       ).read_text())["data"]["state.json"])
    assert state["backfills"]["fix-march"]["ticks"] == 3
    status = run("status", cwd=repo)
    assert ("  backfill fix-march: 2 of 3 done, 0 running, failed: "
            "2026-03-02T05:30:00+00:00, finished") in status.out.splitlines(), status.out
    assert "  run recount-bf-fix-march-1: failed after" in status.out, status.out
    assert json.loads(run("status", "--format", "json", cwd=repo).out)["pipelines"][0][
        "runs"][0]["trigger"] == "backfill"
    again = run("deploy", cwd=repo)  # never twice
    assert again.code == 0 and "backfill" not in again.out
    assert len(recorded_jobs(repo)) == 3
    write(repo / "recount" / "pipeline.yaml", SPEC)
    git(repo, "commit", "-qam", "done")
    removed = run("deploy", cwd=repo)
    assert "recount: backfill fix-march: removed, 2 of 3 done (its runs ran at its deploy)" \
        in removed.out.splitlines(), removed.out
    assert len(recorded_jobs(repo)) == 3  # the records stay


def test_tasks_that_need_secrets_are_refused_before_any_write(repo: Path, run) -> None:
    write(repo / "recount" / "pipeline.yaml", SPEC.replace(
        "  - name: count\n", "  - name: count\n    secrets: [db]\n") + BACKFILL)
    git(repo, "commit", "-qam", "backfill")
    before = sorted(p.name for p in (repo / ".pipelinectl" / "kubernetes").rglob("*"))
    result = run("deploy", cwd=repo)
    assert result.code == 1
    assert result.err.splitlines()[-2:] == [
        "error: recount: the local platform runs backfills during the deploy, which reads no "
        "Secrets, and these tasks name some: nothing was changed",
        "  hint: start the runs one by one with pipelinectl trigger --logical-date DATE "
        "--secrets-dir DIR, or remove the backfill"]
    assert sorted(p.name for p in (repo / ".pipelinectl" / "kubernetes").rglob("*")) == before

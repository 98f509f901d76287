# ruff: noqa: E501 - the spec below holds whole shell commands
"""`pipelinectl trigger` on the local platform: a real deploy to the platform's folder, then
the run in docker with the deployed image, its params and logical date, recorded as a Job
object that `status` lists."""

from __future__ import annotations

import re
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
engine: airflow
params:
  region: {default: all, enum: [all, north, south]}
tasks:
  - name: count
    command: [sh, -c, "echo region=$PIPELINECTL_PARAM_REGION date=$PIPELINECTL_LOGICAL_DATE > /workspace/out; test $PIPELINECTL_PARAM_REGION != south"]
  - name: show
    command: [sh, -c, "echo shown $(cat /workspace/out)"]
    depends_on: [count]
"""


@pytest.fixture
def repo(services: None, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(folder))
    local = platform.builtin_path().read_text()
    write(folder / "platform.yaml", local.replace(
        "registry: 127.0.0.1:5000", f"registry: {HOST}/{PREFIX}/trigger").replace(
        "allowed_base_registries: [docker.io/rocker, docker.io/library]",
        "allowed_base_registries: [docker.io/pipelinectl-test]"))
    write(folder / "recount" / "pipeline.yaml", SPEC)
    write(folder / "recount" / "Dockerfile", f"FROM {BASE}\nUSER 10001\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "recount")
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(folder / "platform.yaml"))
    monkeypatch.setenv("GITLAB_USER_LOGIN", "alice")
    deployed = run("deploy", cwd=folder)
    assert deployed.code == 0, deployed.err
    return folder


def recorded_jobs(repo: Path) -> list[dict]:  # type: ignore[type-arg]
    folder = repo / ".pipelinectl" / "kubernetes" / "default" / "Job"
    return [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]


def test_local_trigger_runs_in_docker_and_is_recorded(repo: Path, run) -> None:
    result = run("trigger", "recount", "--param", "region=north", "--logical-date",
                 "2026-03-31T06:00:00+02:00", cwd=repo)
    assert result.code == 0, result.err
    assert "[show] shown region=north date=2026-03-31T04:00:00+00:00\n" in result.err
    [job] = recorded_jobs(repo)
    meta = job["metadata"]
    assert meta["labels"]["pipelinectl.io/trigger"] == "manual"
    assert meta["labels"]["pipelinectl.io/pipeline"] == "recount"
    assert meta["annotations"]["pipelinectl.io/triggered-by"] == "alice"
    assert job["status"]["succeeded"] == 1 and job["status"]["conditions"][0]["type"] == \
        "Complete"
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"PIPELINECTL_PARAM_REGION": "north",
                   "PIPELINECTL_LOGICAL_DATE": "2026-03-31T04:00:00+00:00"}
    # the deployed image, by digest
    state = yaml.safe_load((repo / ".pipelinectl" / "kubernetes" / "default" / "ConfigMap" /
                            "pipelinectl-state-recount.yaml").read_text())
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] in \
        state["data"]["state.json"]
    status = run("status", cwd=repo)
    assert re.search(f"^  run {meta['name']}: succeeded in \\d+s \\(logical date "
                     r"2026-03-31T04:00:00Z, started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$",
                     status.out, re.MULTILINE), status.out


def test_a_failed_local_run_exits_1_and_is_recorded_failed(repo: Path, run) -> None:
    result = run("trigger", "recount", "--param", "region=south", cwd=repo)
    assert result.code == 1
    [job] = recorded_jobs(repo)
    assert job["status"]["failed"] == 1
    assert job["status"]["conditions"][0]["reason"] == "task count failed (exit code 1)"
    assert "[show] skipped" in result.err
    status = run("status", "--check", cwd=repo)
    assert status.code == 1, status.out
    assert f"  run {job['metadata']['name']}: failed" in status.out, status.out


def test_bad_input_runs_and_records_nothing(repo: Path, run) -> None:
    result = run("trigger", "recount", "--param", "region=east", cwd=repo)
    assert result.code == 1 and result.err.startswith("error: --param region: 'east' is not ")
    assert recorded_jobs(repo) == []
    assert not (repo / ".pipelinectl" / "runs").exists()


def test_a_changed_checkout_is_not_what_is_deployed(repo: Path, run) -> None:
    write(repo / "recount" / "pipeline.yaml", SPEC.replace("echo shown", "echo seen"))
    git(repo, "commit", "-qam", "changed")
    result = run("trigger", "recount", cwd=repo)
    assert result.code == 1
    assert result.err == ("error: recount: the checkout's pipeline.yaml is not the deployed "
                          "one (environment production): nothing started\n"
                          "  hint: deploy it first, or try the checkout with pipelinectl run\n")
    assert recorded_jobs(repo) == []

# ruff: noqa: E501 - the spec below holds whole shell commands
"""`pipelinectl run` with the real docker daemon: dependency order, a shared workspace on the
host, Secrets from a folder that never reach a log, failures stopping dependants, --task.
Hostile input and signals: test_run_hostile.py."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX

PLATFORM = f"""\
apiVersion: pipelinectl/v1
kind: Platform
registry: {HOST}/{PREFIX}/run
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  default: {{namespace: default}}
"""
SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: counts, team: default}
image: {dockerfile: Dockerfile}
engine: airflow
defaults: {env: {REGION: north}, timeout: 1m}
params:
  area: {default: all, enum: [all, east, west]}
  note: {default: 1.50}
tasks:
  - name: fetch
    command: [sh, -c, "echo fetching $REGION; echo area=$PIPELINECTL_PARAM_AREA note=$PIPELINECTL_PARAM_NOTE date=${PIPELINECTL_LOGICAL_DATE-unset}; echo 3 > /workspace/cases.txt"]
  - name: report
    command: [sh, -c, "echo report $(cat /workspace/cases.txt); echo done > /workspace/report.txt; exit $FAIL_REPORT"]
    depends_on: [fetch]
    env: {FAIL_REPORT: "0"}
  - name: check
    command: [sh, -c, "test \\"$(echo $DB_PASSWORD | md5sum)\\" = \\"$EXPECTED_MD5\\" && echo secret ok"]
    secrets: [warehouse-db]
    env: {EXPECTED_MD5: "MD5  -"}
    depends_on: [fetch]
  - name: publish
    command: [sh, -c, "cat /workspace/report.txt"]
    depends_on: [report]
"""


SECRET = "s3cret-value"


@pytest.fixture
def repo(services: None, tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(folder))
    digest = hashlib.md5(f"{SECRET}\n".encode()).hexdigest()
    write(folder / "counts" / "pipeline.yaml", SPEC.replace("MD5", digest))
    write(folder / "counts" / "Dockerfile", f"FROM {BASE}\nUSER 10001\n")
    write(folder / "platform.yaml", PLATFORM)
    write(tmp_path / "secrets" / "warehouse-db" / "DB_PASSWORD", f"{SECRET}\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "counts")
    return folder


def run_here(run, repo: Path, *extra: str):
    return run("run", "counts", "--platform", str(repo / "platform.yaml"), "--secrets-dir",
               str(repo.parent / "secrets"), *extra, cwd=repo)


def test_tasks_run_in_order_and_share_the_workspace(run, repo: Path) -> None:
    result = run_here(run, repo)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["task", "status", "duration", "exit", "code"]
    assert [line.split()[:2] for line in lines[1:5]] == [  # dependency order, then file order
        ["fetch", "succeeded"], ["report", "succeeded"], ["check", "succeeded"],
        ["publish", "succeeded"]]
    workspace = repo / ".pipelinectl" / "runs" / "counts" / "workspace"
    assert lines[5] == f"workspace: {workspace}"
    assert (workspace / "report.txt").read_text() == "done\n"
    # a real folder pipelinectl made, writable by the task user (uid 10001)
    assert not workspace.is_symlink() and stat.S_IMODE(workspace.stat().st_mode) == 0o777
    assert "[fetch] fetching north\n" in result.err
    assert "[report] report 3\n" in result.err
    assert "[check] secret ok\n" in result.err
    assert SECRET not in result.out + result.err


def test_a_failed_task_stops_its_dependants(run, repo: Path, tmp_path: Path) -> None:
    write(tmp_path / "env", "# fail the report\nFAIL_REPORT=3\n")
    result = run_here(run, repo, "--env-file", str(tmp_path / "env"))
    assert result.code == 1
    rows = {line.split()[0]: line.split()[1:] for line in result.out.splitlines()[1:5]}
    assert rows["report"][0] == "failed" and rows["report"][-1] == "3"
    assert rows["publish"] == ["skipped", "-", "-"]
    assert rows["fetch"][0] == rows["check"][0] == "succeeded"
    assert "[publish] skipped: an upstream task did not succeed\n" in result.err


def test_params_and_logical_date_reach_every_task(run, repo: Path) -> None:
    default = run_here(run, repo, "--task", "fetch")
    assert default.code == 0, default.err
    assert "[fetch] area=all note=1.50 date=unset\n" in default.err
    given = run_here(run, repo, "--task", "fetch", "--param", "area=west", "--param",
                     "note=$(id) x", "--logical-date", "2026-03-31")
    assert given.code == 0, given.err
    assert "[fetch] area=west note=$(id) x date=2026-03-31T00:00:00+00:00\n" in given.err


@pytest.mark.parametrize("extra, message", [
    (["--param", "area=north"], "error: --param area: 'north' is not one of its enum values "
                                "('all', 'east', 'west')\n  hint: give each param of "
                                "pipeline.yaml as NAME=VALUE, at most once\n"),
    (["--param", "aera=east"], "error: --param 'aera': counts has no such param (did you "
                               "mean 'area'?)\n  hint: give each param of pipeline.yaml as "
                               "NAME=VALUE, at most once\n"),
    (["--logical-date", "soon"], "error: --logical-date 'soon': not a date or date-time\n"
                                 "  hint: write a date (2026-03-31) or a date and time "
                                 "(2026-03-31T06:00:00Z, read as UTC without an offset)\n"),
])
def test_bad_run_values_run_nothing(run, repo: Path, extra: list[str], message: str) -> None:
    result = run_here(run, repo, *extra)
    assert (result.code, result.out, result.err) == (1, "", message)
    assert not (repo / ".pipelinectl").exists()  # no workspace, no build, no container


def test_only_named_tasks(run, repo: Path) -> None:
    assert run_here(run, repo).code == 0
    result = run_here(run, repo, "--task", "publish")
    assert result.code == 0, result.err
    assert [line.split()[0] for line in result.out.splitlines()[1:-1]] == ["publish"]
    assert "running publish only: assuming the outputs of report are already in " in result.err
    assert "[publish] done\n" in result.err
    unknown = run_here(run, repo, "--task", "publsh")
    assert unknown.code == 1
    assert unknown.err == ("error: counts has no task 'publsh'\n"
                           "  hint: did you mean 'publish'?\n")


def test_timeout_and_missing_secrets(run, repo: Path, tmp_path: Path) -> None:
    (repo / "counts" / "pipeline.yaml").write_text((repo / "counts" / "pipeline.yaml")
                                                   .read_text().replace(
        'echo 3 > /workspace/cases.txt"]', 'sleep 30"]\n    timeout: 2s'))
    result = run_here(run, repo, "--task", "fetch")
    assert result.code == 1
    assert result.out.splitlines()[1].split()[:3] == ["fetch", "timed", "out"]
    missing = run("run", "counts", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert missing.code == 1
    assert missing.err.endswith(
        "error: Secrets not found for a local run: warehouse-db\n"
        "  hint: pass --secrets-dir DIR with one folder per Secret and one file per key "
        "(DIR/<secret>/<KEY>), as Kubernetes mounts them; "
        "see docs/how-to/secrets.md#run-locally-with-secrets\n")


def test_the_task_env_wins_over_a_secret_as_in_kubernetes(run, repo: Path) -> None:
    spec = repo / "counts" / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("echo secret ok", "echo secret ok $REGION "
                                             "$PIPELINECTL_TASK"))
    secret = repo.parent / "secrets" / "warehouse-db"
    (secret / "REGION").write_text("south\n")
    (secret / "PIPELINECTL_TASK").write_text("spoofed\n")
    result = run_here(run, repo, "--task", "check")
    assert result.code == 0, result.err
    assert "[check] secret ok north check\n" in result.err


def test_untracked_files_only_when_asked_and_ignored_files_never(run, repo: Path) -> None:
    write(repo / "counts" / "Dockerfile", f"FROM {BASE}\nCOPY . /app\nUSER 10001\n")
    write(repo / "counts" / ".gitignore", ".env\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "copy the code")
    write(repo / "counts" / ".env", "API_TOKEN=planted\n")
    write(repo / "counts" / "new_step.py", "print('new')\n")
    spec = repo / "counts" / "pipeline.yaml"
    spec.write_text(spec.read_text().replace(
        'echo 3 > /workspace/cases.txt"]', 'ls -A /app > /workspace/app.txt"]'))
    listing = repo / ".pipelinectl" / "runs" / "counts" / "workspace" / "app.txt"

    left_out = run_here(run, repo, "--task", "fetch")
    assert left_out.code == 0, left_out.err
    assert ("note: 1 untracked file(s) left out of the image: counts/new_step.py (git add "
            "them, or pass --include-untracked)\n") in left_out.err
    assert listing.read_text().split() == [".gitignore", "Dockerfile", "pipeline.yaml"]

    asked = run_here(run, repo, "--task", "fetch", "--include-untracked")
    assert asked.code == 0, asked.err
    assert "including 1 untracked file(s) in the image: counts/new_step.py\n" in asked.err
    assert listing.read_text().split() == [".gitignore", "Dockerfile", "new_step.py",
                                           "pipeline.yaml"]

"""`status` against the fake API server: runs from Jobs and Pods a test sets, `--check` exit
codes, the JSON document, pause drift and its undoing by a deploy, and a request count that
does not grow with the runs kept."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from croniter import croniter

import tests.support.deploying as core
from pipelinectl.spec import platform
from tests.support.fakekube import FakeKube
from tests.support.fakeruns import add, exited, job, pod

MANAGED = "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dpipelinectl"


@pytest.fixture
def deployed(git_repo: Path, fake: FakeKube, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch, run) -> Path:
    """Pipeline etl (0 7 * * *) deployed to the fake cluster by the built-in platform (after
    `run`, which clears PIPELINECTL_PLATFORM)."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    cluster_platform = tmp_path / "cluster-platform.yaml"
    cluster_platform.write_text(platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(cluster_platform))
    core.commit(git_repo)
    core.run(git_repo, fake, tmp_path)
    return git_repo


def ticks(count: int) -> list[str]:
    """The last `count` ticks of 0 7 * * * before now, newest first."""
    found = croniter("0 7 * * *", datetime.datetime.now(datetime.UTC))
    return [found.get_prev(datetime.datetime).strftime("%Y-%m-%dT%H:%M:%SZ")
            for _ in range(count)]


def later(tick: str, seconds: int) -> str:
    moment = datetime.datetime.fromisoformat(tick.replace("Z", "+00:00"))
    return (moment + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_run(fake: FakeKube, name: str, tick: str, state: str, code: int = 0,
                  pipeline: str = "etl") -> None:
    reason = "BackoffLimitExceeded" if state == "failed" else ""
    add(fake, "default",
        job(pipeline, name, tick, state, later(tick, 2), later(tick, 47), reason),
        pod(pipeline, name, "Failed" if code else "Succeeded", [exited("fetch", code)],
            created=later(tick, 1)))


def test_status_shows_runs_and_check_fails_on_the_latest_failure(
        deployed: Path, fake: FakeKube, run) -> None:
    newest, older = ticks(2)
    scheduled_run(fake, "etl-2", newest, "failed", code=3)
    scheduled_run(fake, "etl-1", older, "succeeded")
    shown = run("status", "--check", cwd=deployed)
    assert shown.code == 1, shown.err
    lines = shown.out.splitlines()
    assert lines[4:] == [
        f"  run etl-2: failed after 45s (logical date {newest}, started {later(newest, 2)}): "
        "task fetch: exit code 3",
        f"  run etl-1: succeeded in 45s (logical date {older}, started {later(older, 2)})",
        "  check: the latest finished run etl-2 failed: task fetch: exit code 3",
        "check: 1 of 1 failing: etl"]
    assert run("status", cwd=deployed).code == 0  # without --check: a report, not a verdict


def test_check_passes_when_healthy_and_fails_when_overdue(deployed: Path, fake: FakeKube,
                                                         run) -> None:
    overdue = run("status", "--check", cwd=deployed)  # created 2026-01-01, never ran
    assert overdue.code == 1
    assert "  check: overdue: no run for the tick of 2026-01-01T07:00:00Z (no scheduled run " \
           "yet), more than one interval (1d) late" in overdue.out.splitlines()
    scheduled_run(fake, "etl-1", ticks(1)[0], "succeeded")
    healthy = run("status", "--check", cwd=deployed)
    assert healthy.code == 0, healthy.out
    assert healthy.out.splitlines()[-2:] == ["  check: ok", "check: ok (1 pipeline)"]


def test_a_paused_pipeline_is_never_overdue(deployed: Path, fake: FakeKube, run) -> None:
    fake.suspend_by_hand("default", "etl", True)
    shown = run("status", "--check", cwd=deployed)
    assert shown.code == 0, shown.out
    assert "  next run: paused (suspend: true)" in shown.out.splitlines()


def test_json_document(deployed: Path, fake: FakeKube, run) -> None:
    newest, = ticks(1)
    add(fake, "default",
        job("etl", "etl-2", newest, "failed", later(newest, 2), later(newest, 47),
            "BackoffLimitExceeded"),
        pod("etl", "etl-2", "Failed", [exited("fetch", 137, "OOMKilled")]))
    fake.suspend_by_hand("default", "etl", True)
    shown = run("status", "--format", "json", "--check", cwd=deployed)
    assert shown.code == 1
    document = json.loads(shown.out)
    assert set(document) == {"format", "checked_at", "check", "pipelines"}
    assert (document["format"], document["check"]) == (1, {"ok": False, "failing": ["etl"]})
    etl, = document["pipelines"]
    assert set(etl) == {"pipeline", "team", "namespace", "engine", "deployed", "next_run",
                        "paused", "drift", "runs", "runs_note", "backfills", "check"}
    assert etl["deployed"]["image"] == f"127.0.0.1:5000/default/etl@sha256:{'1' * 64}"
    assert etl["deployed"]["environment"] == "production"
    assert etl["paused"] == {"git": False, "live": True}
    assert etl["drift"][0]["changed_at"] == "2026-11-23T09:12:00Z"
    assert etl["drift"][0]["message"] == \
        "paused by hand (git says running), at 2026-11-23T09:12:00Z by kubectl-patch"
    assert etl["runs"] == [{
        "name": "etl-2", "state": "failed", "trigger": "schedule", "logical_date": newest,
        "started_at": later(newest, 2), "finished_at": later(newest, 47),
        "duration_seconds": 45, "failure": {
            "task": "fetch", "reason": "OOMKilled", "exit_code": 137,
            "message": "exit code 137, memory limit 2Gi"}}]
    assert etl["check"] == {"ok": False, "problems": [
        "the latest finished run etl-2 failed: task fetch: OOMKilled (exit code 137, memory "
        "limit 2Gi)"]}


def test_pause_drift_both_ways_and_deploy_restores_it(deployed: Path, fake: FakeKube,
                                                      tmp_path: Path, run) -> None:
    assert "  drift: " not in run("status", cwd=deployed).out
    fake.suspend_by_hand("default", "etl", True)
    assert ("  drift: paused by hand (git says running), at 2026-11-23T09:12:00Z by "
            "kubectl-patch") in run("status", cwd=deployed).out.splitlines()
    outcome, = core.run(deployed, fake, tmp_path)
    assert outcome.restored == [
        "etl: resumed: the live CronJob was suspended by hand; git says running"]
    assert core.live_cronjob(fake)["spec"]["suspend"] is False
    assert "  drift: " not in run("status", cwd=deployed).out
    again, = core.run(deployed, fake, tmp_path)
    assert (again.restored, again.applied) == ([], [])  # restored once, then nothing to do


def test_resumed_by_hand_against_a_pause_in_git(deployed: Path, fake: FakeKube,
                                                tmp_path: Path, run) -> None:
    spec = deployed / "etl" / "pipeline.yaml"
    spec.write_text(spec.read_text().replace('schedule: "0 7 * * *"',
                                             'schedule: {cron: "0 7 * * *", suspend: true}'))
    core.git(deployed, "commit", "-qam", "pause")
    core.run(deployed, fake, tmp_path)
    assert core.recorded(fake).current.paused is True
    fake.suspend_by_hand("default", "etl", False, manager="k9s", time="2026-11-24T01:00:00Z")
    assert ("  drift: resumed by hand (git says paused), at 2026-11-24T01:00:00Z by k9s"
            in run("status", cwd=deployed).out.splitlines())
    outcome, = core.run(deployed, fake, tmp_path)
    assert outcome.restored == [
        "etl: paused: the live CronJob was resumed by hand; git says paused"]
    assert core.live_cronjob(fake)["spec"]["suspend"] is True


def test_a_state_without_the_pause_is_read_and_gets_it_on_the_next_deploy(
        deployed: Path, fake: FakeKube, tmp_path: Path, run) -> None:
    from pipelinectl.deploy import state

    obj = fake.get("configmaps", "default", state.object_name("etl"))
    assert obj is not None
    document = json.loads(obj["data"][state.STATE_DATA_KEY])
    for deploy in [document["current"], *document["history"]]:
        del deploy["paused"]
    obj["data"][state.STATE_DATA_KEY] = json.dumps(document)
    fake.put(("", "v1", "configmaps"), "default", obj)
    assert core.recorded(fake).current.paused is None
    assert run("status", cwd=deployed).code == 0
    core.run(deployed, fake, tmp_path)
    assert core.recorded(fake).current.paused is False


def test_request_count_does_not_grow_with_the_runs_kept(git_repo: Path, fake: FakeKube,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       run) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    cluster_platform = tmp_path / "cluster-platform.yaml"
    cluster_platform.write_text(platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(cluster_platform))
    names = ["p1", "p2", "p3"]
    for name in names:
        core.commit(git_repo, name=name)
    core.run(git_repo, fake, tmp_path)
    counts = []
    tick = ticks(1)[0]
    for kept in (1, 50):
        for name in names:
            for index in range(kept):
                if fake.get("jobs", "default", f"{name}-{index}") is None:
                    scheduled_run(fake, f"{name}-{index}", tick, "succeeded", pipeline=name)
        before = len(fake.requests)
        shown = run("status", cwd=git_repo)
        assert shown.code == 0, shown.err
        counts.append([(r.method, r.path) for r in fake.requests[before:]])
    assert counts[0] == counts[1]
    assert sorted(path for _m, path in counts[0]) == [
        "/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/default/pods",
        "/apis/batch/v1/namespaces/default/cronjobs", "/apis/batch/v1/namespaces/default/jobs"]

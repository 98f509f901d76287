"""`status` and `history` read the state objects (and Jobs) a deploy left in the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.support.deploying as core
from pipelinectl.spec import platform
from tests.support.fakekube import FakeKube


def test_status_and_history(git_repo: Path, fake: FakeKube, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch, run) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    # The built-in platform, but deploying to the (fake) cluster instead of a folder.
    cluster_platform = tmp_path / "cluster-platform.yaml"
    cluster_platform.write_text(platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(cluster_platform))
    a = core.commit(git_repo, message="A")
    assert run("status", cwd=git_repo).out == "etl: not deployed (namespace default)\n"
    assert run("history", cwd=git_repo).out == "etl: never deployed (namespace default)\n"
    core.run(git_repo, fake, tmp_path)
    b = core.commit(git_repo, cron="0 8 * * *", message="B")
    core.run(git_repo, fake, tmp_path)
    fake.put(("batch", "v1", "jobs"), "default", {
        "metadata": {"name": "etl-29000001", "labels": {
            "app.kubernetes.io/managed-by": "pipelinectl", "pipelinectl.io/pipeline": "etl"},
            "annotations": {"batch.kubernetes.io/cronjob-scheduled-timestamp":
                            "2026-11-23T08:00:00Z"}},
        "status": {"startTime": "2026-11-23T08:00:00Z", "completionTime":
                   "2026-11-23T08:01:00Z", "succeeded": 1}})
    status = run("status", cwd=git_repo)
    assert status.code == 0, status.err
    lines = status.out.splitlines()
    assert lines[0] == f"etl: {b[:12]} in production, deployed 2026-11-23T10:00:00Z"
    assert lines[1] == f"  image: 127.0.0.1:5000/default/etl@sha256:{'1' * 64}"
    assert lines[2] == "  CronJob default/etl"
    assert lines[3].startswith("  next run: ") and lines[3].endswith(" (0 8 * * * UTC)")
    assert lines[4] == ("  run etl-29000001: succeeded in 1m (logical date "
                        "2026-11-23T08:00:00Z, started 2026-11-23T08:00:00Z)")
    history = run("history", cwd=git_repo)
    assert history.out == (
        "etl (default):\n"
        f"  2026-11-23T10:00:00Z  {b[:12]}  production  sha256:111111111111\n"
        f"  2026-11-23T10:00:00Z  {a[:12]}  production  sha256:111111111111\n")


def test_next_run() -> None:
    import datetime

    from pipelinectl.commands.status import next_run

    now = datetime.datetime(2026, 6, 1, 5, 0, tzinfo=datetime.UTC)
    london = {"spec": {"schedule": "0 7 * * *", "timeZone": "Europe/London"}}
    assert next_run(london, now) == "2026-06-01T07:00:00+01:00 (0 7 * * * Europe/London)"
    assert next_run({"spec": {"schedule": "0 7 * * *", "suspend": True}}, now) == \
        "paused (suspend: true)"
    assert next_run({"spec": {"schedule": "0 0 1 1 *", "suspend": True}}, now).startswith(
        "by hand only")

"""Backfills on the cronjob engine, against the fake API server: the deploy that adds one
makes one Indexed Job (read back: parallelism, completions, the date of every index), a
redeploy never makes a second, removing the entry suspends the Job and keeps it, a lost state
adopts it; status shows the progress the test sets on the Job; plan says what will happen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tests.support.deploying as core
from pipelinectl.deploy import state
from pipelinectl.render import backfill
from pipelinectl.spec import platform
from tests.support.fakekube import FakeKube
from tests.support.repo import git, valid_pipeline

NAME = "cases"
HEAD = f"""\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: {NAME}, team: default}}
image: {{language: python, version: "3.12", dependencies: requirements.txt}}
engine: cronjob
schedule: {{cron: "0 7 * * *", timezone: Europe/London}}
params:
  region: {{default: all, enum: [all, north, south]}}
  note: {{default: "1.50"}}
tasks:
  - name: fetch
    command: [python, fetch.py]
    retries: 2
    timeout: 1h
  - name: load
    command: [python, fetch.py]
    depends_on: [fetch]
"""
Q1 = """\
backfills:
  - id: fix-q1
    from: "2026-03-27"
    to: "2026-03-31"
    max_parallel: 2
    params: {region: north}
"""


def commit(repo: Path, text: str) -> None:
    valid_pipeline(repo / NAME, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change")


@pytest.fixture
def repo(run, git_repo: Path, fake: FakeKube, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    cluster_platform = tmp_path / "cluster-platform.yaml"
    cluster_platform.write_text(platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(cluster_platform))
    commit(git_repo, HEAD)
    core.run(git_repo, fake, tmp_path)
    return git_repo


def jobs(fake: FakeKube) -> list[dict[str, Any]]:
    return [o for k, o in fake.objects.items() if k[1] == "jobs"]


DATES = ["2026-03-27T07:00:00+00:00", "2026-03-28T07:00:00+00:00", "2026-03-29T06:00:00+00:00",
         "2026-03-30T06:00:00+00:00", "2026-03-31T06:00:00+00:00"]


def test_a_deploy_that_adds_a_backfill_makes_one_indexed_job(repo: Path, fake: FakeKube,
                                                            tmp_path: Path) -> None:
    commit(repo, HEAD + Q1)
    [outcome] = core.run(repo, fake, tmp_path)
    assert outcome.backfills == ["backfill fix-q1: started 5 runs, at most 2 at once"]
    [job] = jobs(fake)
    cron = core.live_cronjob(fake, NAME)
    meta, spec = job["metadata"], job["spec"]
    assert meta["name"] == "cases-bf-fix-q1"
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "pipelinectl",
                              "pipelinectl.io/pipeline": NAME, "pipelinectl.io/team": "default",
                              "pipelinectl.io/trigger": "backfill",
                              "pipelinectl.io/backfill": "fix-q1"}
    assert "ownerReferences" not in meta  # the CronJob's history limits must not delete it
    assert meta["annotations"]["pipelinectl.io/backfill-dates"] == ",".join(DATES)
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == \
        ("Indexed", 5, 2)
    assert spec["backoffLimitPerIndex"] == 2 and "backoffLimit" not in spec
    pod = spec["template"]["spec"]
    assert "activeDeadlineSeconds" not in spec and pod["activeDeadlineSeconds"] == 3600 + 6 * 3600
    assert spec["ttlSecondsAfterFinished"] == \
        cron["spec"]["jobTemplate"]["spec"]["ttlSecondsAfterFinished"]
    for container in pod["initContainers"] + pod["containers"]:
        env = {e["name"]: e.get("value") for e in container["env"]}
        dates = env["PIPELINECTL_BACKFILL_DATES"].split(",")
        # index -> logical date: what a task reads with JOB_COMPLETION_INDEX
        assert {i: dates[i] for i in range(spec["completions"])} == dict(enumerate(DATES))
        assert env["PIPELINECTL_PARAM_REGION"] == "north"
        assert env["PIPELINECTL_PARAM_NOTE"] == "1.50"
        assert "PIPELINECTL_LOGICAL_DATE" not in env
    assert spec["template"]["metadata"]["labels"]["pipelinectl.io/backfill"] == "fix-q1"
    assert json.loads(cron["metadata"]["annotations"]["pipelinectl.io/backfills"]) == {
        "fix-q1": [5, DATES[0], DATES[-1], 2]}
    record = core.recorded(fake, NAME)
    assert record.backfills == {"fix-q1": state.Backfill("cases-bf-fix-q1", 5,
                                                         "2026-11-23T10:00:00Z")}


def test_deploying_again_never_starts_it_twice(repo: Path, fake: FakeKube,
                                               tmp_path: Path) -> None:
    commit(repo, HEAD + Q1)
    core.run(repo, fake, tmp_path)
    before = len(fake.writes())
    [outcome] = core.run(repo, fake, tmp_path)
    assert outcome.backfills == [] and len(jobs(fake)) == 1
    assert len(fake.writes()) == before  # nothing to write at all
    commit(repo, (HEAD + Q1).replace("retries: 2", "retries: 1"))  # another change
    [outcome] = core.run(repo, fake, tmp_path)
    assert outcome.backfills == [] and len(jobs(fake)) == 1
    assert "fix-q1" in core.recorded(fake, NAME).backfills


def test_a_lost_state_adopts_the_job(repo: Path, fake: FakeKube, tmp_path: Path) -> None:
    commit(repo, HEAD + Q1)
    core.run(repo, fake, tmp_path)
    [job] = jobs(fake)
    del fake.objects[("v1", "configmaps", "default", state.object_name(NAME))]
    [outcome] = core.run(repo, fake, tmp_path)
    assert outcome.backfills == ["backfill fix-q1: already started (Job cases-bf-fix-q1): "
                                 "recorded, not started again"]
    assert jobs(fake) == [job]
    assert core.recorded(fake, NAME).backfills["fix-q1"].job == "cases-bf-fix-q1"


def test_a_job_of_that_name_not_ours_is_refused_before_any_write(
        repo: Path, fake: FakeKube, tmp_path: Path) -> None:
    fake.put(("batch", "v1", "jobs"), "default", {"metadata": {"name": "cases-bf-fix-q1"},
                                                 "spec": {}})
    commit(repo, HEAD + Q1)
    before = len(fake.writes())
    with pytest.raises(Exception) as refused:
        core.run(repo, fake, tmp_path)
    assert "Job default/cases-bf-fix-q1 exists and is not backfill 'fix-q1' of this pipeline: " \
        "it is never overwritten" in str(refused.value)
    assert len(fake.writes()) == before


def test_removing_the_entry_suspends_the_job_and_keeps_it(repo: Path, fake: FakeKube,
                                                          tmp_path: Path) -> None:
    commit(repo, HEAD + Q1)
    core.run(repo, fake, tmp_path)
    set_status(fake, {"active": 2, "succeeded": 2, "completedIndexes": "0-1"})
    commit(repo, HEAD)
    [outcome] = core.run(repo, fake, tmp_path)
    assert outcome.backfills == ["backfill fix-q1: stopped, 2 of 5 done"]
    [job] = jobs(fake)
    assert job["spec"]["suspend"] is True
    assert job["status"]["completedIndexes"] == "0-1"  # what finished stays
    assert core.recorded(fake, NAME).backfills == {}
    assert "pipelinectl.io/backfills" not in \
        core.live_cronjob(fake, NAME)["metadata"]["annotations"]
    [outcome] = core.run(repo, fake, tmp_path)  # and once only
    assert outcome.backfills == [] and jobs(fake) == [job]


def test_a_removed_pipeline_stops_its_backfills(repo: Path, fake: FakeKube,
                                                tmp_path: Path) -> None:
    commit(repo, HEAD + Q1)
    core.run(repo, fake, tmp_path)
    valid_pipeline(repo / "other", HEAD.replace(f"name: {NAME}", "name: other"))
    git(repo, "rm", "-rq", NAME)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "gone")
    outcomes = core.run(repo, fake, tmp_path)
    assert [(o.pipeline, o.removed, o.backfills) for o in outcomes] == [
        ("other", False, []), (NAME, True, ["backfill fix-q1: stopped, 0 of 5 done"])]
    [job] = jobs(fake)
    assert job["spec"]["suspend"] is True


def set_status(fake: FakeKube, status: dict[str, Any]) -> None:
    key = next(k for k in fake.objects if k[1] == "jobs")
    fake.objects[key]["status"] = status


def test_previews_never_start_backfills() -> None:
    from pipelinectl.spec import model as spec
    from pipelinectl.spec import yamlio

    pipeline, _ = spec.build(yamlio.load_bytes((HEAD + Q1).encode(), "p.yaml"))
    assert len(backfill.planned(pipeline)) == 1
    import dataclasses
    assert backfill.planned(dataclasses.replace(pipeline, preview=7)) == ()


@pytest.mark.parametrize("pipeline, key, expected", [
    ("cases", "fix-q1", "cases-bf-fix-q1"),
    ("covid-cases-by-region-daily-recompute-40", "a" * 40,
     "covid-cases-by-region-daily-recompute-40-bf-aaaaaaaaaa-"),
])
def test_job_names_fit_63_characters(pipeline: str, key: str, expected: str) -> None:
    name = backfill.job_name(pipeline, key)
    assert len(name) <= 63 and name.startswith(expected)
    assert backfill.job_name(pipeline, key[:-1] + "b") != name


def test_the_job_is_a_valid_kubernetes_job(repo: Path, fake: FakeKube, tmp_path: Path) -> None:
    import kubernetes_validate

    commit(repo, HEAD + Q1)
    [item] = core.desired_of(repo)
    [planned] = item.backfills
    job = backfill.job(item.objects[0], planned)
    kubernetes_validate.validate(job, kubernetes_validate.utils.latest_version(), strict=True)


def test_progress_reads_a_hostile_job_status_as_absent() -> None:
    from pipelinectl.deploy import backfills

    record = state.State("cases", "default", "epi/covid", state.Deploy("r", "d", "i", "p", "t"),
                         backfills={"fix": state.Backfill("cases-bf-fix", 3, "t")})
    labels = {"app.kubernetes.io/managed-by": "pipelinectl", "pipelinectl.io/pipeline": "cases",
              "pipelinectl.io/team": "default", "pipelinectl.io/trigger": "backfill",
              "pipelinectl.io/backfill": "fix"}
    job: dict[str, Any] = {
        "metadata": {"name": "cases-bf-fix", "labels": labels,
                     "annotations": {"pipelinectl.io/backfill-dates": "a,b,c"}},
        "spec": {"completionMode": "Indexed", "completions": 3, "suspend": True},
        "status": {"succeeded": "2", "active": True, "failedIndexes": "1,2,9-99999999"}}
    [found] = backfills.progress_of(record, [job])
    assert found.line() == "backfill fix: 0 of 3 done, 0 running, failed: none, stopped " \
        "(suspended)"
    job["status"] = {"succeeded": 1, "active": 1, "failedIndexes": "2,7"}
    assert backfills.progress_of(record, [job])[0].line() == \
        "backfill fix: 1 of 3 done, 1 running, failed: c, stopped (suspended)"
    labels["pipelinectl.io/team"] = "other"  # not this pipeline's: as if gone
    assert backfills.progress_of(record, [job])[0].line() == \
        "backfill fix: its Job cases-bf-fix is gone"
    assert backfills.indexes("1,3-5,7") == [1, 3, 4, 5, 7]
    assert backfills.indexes("5-3") == [] and backfills.indexes("x") == []

"""`pipelinectl trigger` on the cronjob engine, against the fake API server: the Job read back
(name, labels, annotations, env, ownerReference), --wait, and every bad input creating
nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import tests.support.deploying as core
from pipelinectl.spec import platform
from tests.support.fakekube import FakeKube
from tests.support.repo import git, valid_pipeline

NAME = "covid-cases-by-region-daily-recompute-40"  # 40 characters: the longest allowed
SPEC = f"""\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: {NAME}, team: default}}
image: {{language: python, version: "3.12", dependencies: requirements.txt}}
schedule: "0 7 * * *"
params:
  region: {{default: all, enum: [all, north, south], description: Region to recompute}}
  note: {{default: "1.50"}}
tasks:
  - name: fetch
    command: [python, fetch.py]
    secrets: [db]
"""


@pytest.fixture
def deployed(run, git_repo: Path, fake: FakeKube, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Path:
    # after `run`, which clears PIPELINECTL_PLATFORM
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    cluster_platform = tmp_path / "cluster-platform.yaml"
    cluster_platform.write_text(platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(cluster_platform))
    monkeypatch.delenv("GITLAB_USER_LOGIN", raising=False)
    monkeypatch.setenv("GITHUB_ACTOR", "octo\u202ecat\n")
    valid_pipeline(git_repo / "cases", SPEC)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "cases")
    core.run(git_repo, fake, tmp_path)
    return git_repo


def jobs(fake: FakeKube) -> list[dict[str, Any]]:
    return [o for k, o in fake.objects.items() if k[1] == "jobs"]


def test_trigger_makes_a_job_like_kubectl_create_job_from(deployed: Path, fake: FakeKube,
                                                          run) -> None:
    result = run("trigger", NAME, "--param", "region=north", "--logical-date", "2026-03-31",
                 cwd=deployed)
    assert result.code == 0, result.err
    [job] = jobs(fake)
    meta = job["metadata"]
    cron = core.live_cronjob(fake, NAME)
    assert len(meta["name"]) <= 63
    assert meta["name"].startswith(NAME[:20]) and "-m20" in meta["name"]
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "pipelinectl",
                              "pipelinectl.io/pipeline": NAME, "pipelinectl.io/team": "default",
                              "pipelinectl.io/trigger": "manual"}
    assert meta["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    # who, printable only: the bidi override and the newline are dropped
    assert meta["annotations"]["pipelinectl.io/triggered-by"] == "octocat"
    assert meta["annotations"]["pipelinectl.io/git-sha"] == \
        cron["metadata"]["annotations"]["pipelinectl.io/git-sha"]
    assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob",
                                        "name": NAME, "uid": cron["metadata"]["uid"],
                                        "controller": True}]
    [container] = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PIPELINECTL_PARAM_REGION"] == "north"
    assert env["PIPELINECTL_PARAM_NOTE"] == "1.50"
    assert env["PIPELINECTL_LOGICAL_DATE"] == "2026-03-31T00:00:00+00:00"
    assert [e["name"] for e in container["env"]].count("PIPELINECTL_PARAM_REGION") == 1
    # the rest is the CronJob's template, untouched
    template = cron["spec"]["jobTemplate"]["spec"]
    assert job["spec"]["activeDeadlineSeconds"] == template["activeDeadlineSeconds"]
    assert container["image"] == template["template"]["spec"]["containers"][0]["image"]
    assert job["spec"]["template"]["metadata"]["labels"]["pipelinectl.io/trigger"] == "manual"
    assert result.out.startswith(f"started {NAME}: Job {meta['name']} in namespace default (")
    assert f"follow it: kubectl -n default logs -f job/{meta['name']}\n" in result.out


def test_each_trigger_is_a_new_job_with_the_defaults(deployed: Path, fake: FakeKube,
                                                     run) -> None:
    assert run("trigger", NAME, cwd=deployed).code == 0
    assert run("trigger", f"default/{NAME}", cwd=deployed).code == 0
    found = jobs(fake)
    assert len({j["metadata"]["name"] for j in found}) == 2
    for job in found:
        env = {e["name"]: e.get("value")
               for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["PIPELINECTL_PARAM_REGION"] == "all"
        assert env["PIPELINECTL_LOGICAL_DATE"].endswith("+00:00")  # now, in UTC


def _finish_job(fake: FakeKube, condition: dict[str, str]) -> threading.Thread:
    """Sets the status of the first Job that appears, as the Job controller would."""
    def finish() -> None:
        for _ in range(200):
            found = jobs(fake)
            if found:
                job = found[0]
                job["status"] = {"conditions": [{**condition, "status": "True"}]}
                fake.put(("batch", "v1", "jobs"), "default", job)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=finish, daemon=True)
    thread.start()
    return thread


def test_wait_success(deployed: Path, fake: FakeKube, run,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelinectl.deploy.trigger.POLL_SECONDS", 0.05)
    thread = _finish_job(fake, {"type": "Complete"})
    result = run("trigger", NAME, "--wait", cwd=deployed)
    thread.join()
    name = jobs(fake)[0]["metadata"]["name"]
    assert (result.code, result.out.splitlines()[-1]) == (0, f"Job {name} succeeded"), result.err


def test_wait_failure(deployed: Path, fake: FakeKube, run,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelinectl.deploy.trigger.POLL_SECONDS", 0.05)
    thread = _finish_job(fake, {"type": "Failed", "reason": "BackoffLimitExceeded"})
    result = run("trigger", NAME, "--wait", cwd=deployed)
    thread.join()
    name = jobs(fake)[0]["metadata"]["name"]
    assert result.code == 1
    assert result.out.splitlines()[-1] == f"Job {name} failed: BackoffLimitExceeded"


def test_wait_timeout(deployed: Path, fake: FakeKube, run,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelinectl.deploy.trigger.POLL_SECONDS", 0.05)
    result = run("trigger", NAME, "--wait", "--timeout", "1s", cwd=deployed)
    name = jobs(fake)[0]["metadata"]["name"]
    assert (result.code, result.out.splitlines()[-1]) == (1, f"Job {name} timed out")


HINT = "\n  hint: give each param of pipeline.yaml as NAME=VALUE, at most once\n"


@pytest.mark.parametrize("argv, message", [
    (["covid-cases"], "error: no pipeline named 'covid-cases' in this repository\n"
                      f"  hint: its pipelines: {NAME}\n"),
    ([NAME[:-1] + "x"], f"error: no pipeline named '{NAME[:-1]}x' in this repository\n"
                        f"  hint: did you mean '{NAME}'?\n"),
    ([NAME, "--param", "region=east"],
     "error: --param region: 'east' is not one of its enum values ('all', 'north', 'south')"
     + HINT),
    ([NAME, "--param", "regoin=north"],
     "error: --param 'regoin': " + NAME + " has no such param (did you mean 'region'?)" + HINT),
    ([NAME, "--param", "region"], "error: --param 'region': not NAME=VALUE" + HINT),
    ([NAME, "--logical-date", "31/03/2026"],
     "error: --logical-date '31/03/2026': not a date or date-time\n  hint: write a date "
     "(2026-03-31) or a date and time (2026-03-31T06:00:00Z, read as UTC without an offset)\n"),
    ([NAME, "--environment", "prodution"],
     "error: --environment 'prodution': the platform has no such environment\n"
     "  hint: did you mean 'production'?\n"),
    ([NAME, "--wait", "--timeout", "soon"], None),
])
def test_bad_input_creates_nothing(deployed: Path, fake: FakeKube, run, argv: list[str],
                                   message: str | None) -> None:
    before = len(fake.writes())
    result = run("trigger", *argv, cwd=deployed)
    assert result.code == 1
    if message is not None:
        assert result.err == message
    else:
        assert result.err.startswith("error: --timeout 'soon': ")
    assert len(fake.writes()) == before and jobs(fake) == []


def test_not_deployed_creates_nothing(git_repo: Path, fake: FakeKube, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, run) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    cluster_platform = tmp_path / "cluster-platform.yaml"
    cluster_platform.write_text(platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(cluster_platform))
    valid_pipeline(git_repo / "cases", SPEC)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "cases")
    result = run("trigger", NAME, cwd=git_repo)
    assert result.code == 1
    assert result.err == (f"error: {NAME} is not deployed in environment production "
                          "(namespace default): nothing started\n"
                          "  hint: deploy it there first; pipelinectl status shows what is "
                          "deployed\n")
    assert fake.writes() == []


def test_a_cronjob_that_is_not_ours_is_not_triggered(deployed: Path, fake: FakeKube,
                                                     run) -> None:
    cron = core.live_cronjob(fake, NAME)
    cron["metadata"]["labels"]["pipelinectl.io/pipeline"] = "someone-else"
    fake.put(("batch", "v1", "cronjobs"), "default", cron)
    before = len(fake.writes())
    result = run("trigger", NAME, cwd=deployed)
    assert result.code == 1
    assert result.err.startswith(f"error: {NAME}: the CronJob {NAME} in namespace default is "
                                 "not this pipeline's")
    assert len(fake.writes()) == before and jobs(fake) == []


def test_the_airflow_engine_is_refused_naming_airflow_api(git_repo: Path, fake: FakeKube,
                                                          tmp_path: Path, run,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    cluster_platform = tmp_path / "cluster-platform.yaml"
    cluster_platform.write_text(platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", ""))
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(cluster_platform))
    valid_pipeline(git_repo / "cases", SPEC.replace('schedule: "0 7 * * *"\n',
                                                    "engine: airflow\n"))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "cases")
    result = run("trigger", NAME, cwd=git_repo)
    assert result.code == 1
    assert result.err == (
        f"error: {NAME} uses the airflow engine: trigger starts its runs through Airflow's "
        "REST API, and the platform has no airflow.api: nothing started\n"
        "  hint: the platform team sets airflow.api (see docs/how-to/airflow-api.md); "
        "meanwhile trigger it in the Airflow UI, with the same params as conf\n")
    assert fake.writes() == [] and fake.requests == []


def test_job_names_stay_within_63_characters() -> None:
    import datetime

    from pipelinectl.deploy.trigger import job_name

    now = datetime.datetime(2026, 3, 31, 6, 0, tzinfo=datetime.UTC)
    assert job_name("etl", now, "ab12") == "etl-m20260331060000-ab12"
    long = job_name("a" * 52, now, "ab12")
    assert len(long) == 63 and long == "a" * 42 + "-m20260331060000-ab12"
    # a cut that ends in '-' loses it: no '--' in the name
    assert job_name("a" * 41 + "-bbbbbbbbbb", now, "ab12") == "a" * 41 + "-m20260331060000-ab12"

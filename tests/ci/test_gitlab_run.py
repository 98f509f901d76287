"""The GitLab template's "run pipeline" job (pipelinectl-run) and scheduled run health job
(pipelinectl-health), run by gitlab-ci-local as tests/ci/test_gitlab_environments.py runs the
template: the one-environment platform (production from main), the KUBECONFIG of the scope
production a recorder of its own in front of the fake API server.

Which pipelines get the jobs; a web pipeline with PIPELINECTL_PIPELINE starts exactly one Job
with the params as env and follows it (the fake API server sets no Job status: a thread of the
test plays the Job controller and finishes each new Job as told); hostile PIPELINECTL_PARAMS
reach pipelinectl as literal words; a bad param fails the job with nothing created; the
health job fails on a failed latest run and passes when the runs are healthy."""

from __future__ import annotations

import datetime
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.test_gitlab_environments import log
from tests.support import fakeruns
from tests.support.citools import (
    REPO,
    SPEC,
    TOOL_IMAGE,
    Credential,
    check_jsonschema,
    gitlab_ci_local,
    npm_tool,
    team_repository,
)
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import HOST, PREFIX

# gitlab-ci-local, installed from npm by tests/run.sh
pytestmark = pytest.mark.npm

TEMPLATE = REPO / "ci" / "gitlab" / "pipelinectl.yml"
CI_FILE = """\
stages: [test, deploy]
include:
  - local: ci/pipelinectl.yml
    inputs:
      image: {image}
      docker-host: unix:///var/run/docker.sock
      docker-services: []
{inputs}"""
PARAMS = """\
params:
  region: {default: all, enum: [all, north, south], description: Region to recompute}
  note: {default: none}
"""
SCOPES = {"*": "read", "production": "production"}


@pytest.fixture
def credentials(fake_kube: FakeKube, tmp_path: Path) -> Iterator[dict[str, Credential]]:
    fake_kube.add_namespace("epi")
    made = {name: Credential(name, fake_kube, tmp_path) for name in SCOPES.values()}
    write(tmp_path / "gitlab-variables.yml", yaml.safe_dump({"KUBECONFIG": {
        "type": "variable",
        "values": {scope: str(made[name].kubeconfig) for scope, name in SCOPES.items()}}}))
    yield made
    for credential in made.values():
        credential.stop()


def team_project(folder: Path, image: str, inputs: str = "      health: true\n") -> Path:
    project = team_repository(folder, f"{HOST}/{PREFIX}/gitlab-run-{folder.name}", {
        "ci/pipelinectl.yml": TEMPLATE.read_text(),
        ".gitlab-ci.yml": CI_FILE.format(image=image, inputs=inputs),
        "cases/pipeline.yaml": SPEC.format(schedule="0 6 * * *") + PARAMS})
    git(project, "remote", "add", "origin", "https://gitlab.example.org/epi/covid.git")
    return project


def pipeline(project: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    return gitlab_ci_local(project, *variables,
                           variables_file=project.parent / "gitlab-variables.yml")


def listed(project: Path, branch: str, *variables: str) -> list[str]:
    """The jobs of the pipeline on `branch` with `variables` (CI_PIPELINE_SOURCE among them)."""
    git(project, "checkout", "-q", "-B", branch)
    argv = [str(npm_tool("gitlab-ci-local")), "--list-csv"]
    for variable in variables:
        argv += ["--variable", variable]
    done = subprocess.run(argv, cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, log(done)
    rows = done.stdout[done.stdout.index("name;description"):].splitlines()[1:]
    return [row.split(";")[0] for row in rows]


def test_which_pipelines_run_a_pipeline_or_check_health(tmp_path: Path) -> None:
    project = team_project(tmp_path, "registry.example.org/p:1")
    run = ("PIPELINECTL_PIPELINE=cases", "PIPELINECTL_PARAMS=region=north")
    # "Run pipeline" with PIPELINECTL_PIPELINE: only the run, no deploy (web or API).
    assert listed(project, "main", "CI_PIPELINE_SOURCE=web", *run) == ["pipelinectl-run"]
    assert listed(project, "main", "CI_PIPELINE_SOURCE=api", *run) == ["pipelinectl-run"]
    # without it: the usual pipeline
    assert listed(project, "main", "CI_PIPELINE_SOURCE=web") == ["pipelinectl-deploy"]
    assert listed(project, "main", "CI_PIPELINE_SOURCE=push", *run) == ["pipelinectl-deploy"]
    # a branch with no environment runs nothing; a schedule never runs a pipeline
    assert listed(project, "feature", "CI_PIPELINE_SOURCE=web", *run) == []
    assert listed(project, "main", "CI_PIPELINE_SOURCE=schedule", *run) == [
        "pipelinectl-health"]
    assert listed(project, "feature", "CI_PIPELINE_SOURCE=schedule") == []
    assert listed(project, "main", "CI_PIPELINE_SOURCE=merge_request_event",
                  "CI_MERGE_REQUEST_IID=7") == ["pipelinectl-validate", "pipelinectl-plan"]

    # The template as GitLab reads it: schema-valid, the form's variables declared.
    git(project, "checkout", "-q", "main")
    preview = subprocess.run([str(npm_tool("gitlab-ci-local")), "--preview"], cwd=project,
                             capture_output=True, text=True)
    assert preview.returncode == 0, log(preview)
    expanded = preview.stdout[preview.stdout.index("---\n"):]
    write(tmp_path / "expanded.yml", expanded)
    checked = check_jsonschema("vendor.gitlab-ci", tmp_path / "expanded.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    body = yaml.safe_load(TEMPLATE.read_text().split("\n---\n", 1)[1])
    assert set(body["variables"]) == {"PIPELINECTL_PIPELINE", "PIPELINECTL_PARAMS",
                                      "PIPELINECTL_LOGICAL_DATE"}
    for variable in body["variables"].values():
        assert variable["value"] == "" and variable["description"]
    jobs = yaml.safe_load(expanded)
    for name, action in (("pipelinectl-run", "access"), ("pipelinectl-health", "verify")):
        job = jobs[name]
        assert job["environment"] == {"name": "$PIPELINECTL_GITLAB_ENVIRONMENT",
                                      "action": action}
        # as the deploy jobs' environments: the default branch's input, else the branch
        assert job["variables"] == {"PIPELINECTL_GITLAB_ENVIRONMENT": "production"}
        assert [rule.get("variables") for rule in job["rules"]] == [
            None, {"PIPELINECTL_GITLAB_ENVIRONMENT": "$CI_COMMIT_BRANCH"}]
        assert "services" not in job and job["dependencies"] == []  # never builds
        assert "pipelinectl deploy" not in "\n".join(job["script"])

    # health is opt-in; a promoted branch's schedule checks its own environment
    write(project / ".gitlab-ci.yml", CI_FILE.format(
        image="registry.example.org/p:1", inputs="      promote-branches: production\n"))
    git(project, "commit", "-qam", "health off")
    assert listed(project, "main", "CI_PIPELINE_SOURCE=schedule") == []
    write(project / ".gitlab-ci.yml", CI_FILE.format(
        image="registry.example.org/p:1",
        inputs="      promote-branches: production\n      health: true\n"))
    git(project, "commit", "-qam", "health on")
    assert listed(project, "production", "CI_PIPELINE_SOURCE=schedule") == [
        "pipelinectl-health"]
    assert listed(project, "production", "CI_PIPELINE_SOURCE=web", *run) == ["pipelinectl-run"]


class JobController:
    """Plays the Job controller in the fake API server: every Job without a status gets the
    `outcome` condition (Complete, or Failed) a moment after it appears."""

    def __init__(self, cluster: FakeKube) -> None:
        self.cluster = cluster
        self.outcome: dict[str, str] = {"type": "Complete"}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.done.wait(0.2):
            for (_, plural, namespace, _), job in list(self.cluster.objects.items()):
                if plural == "jobs" and not job.get("status"):
                    job = json.loads(json.dumps(job))
                    job["status"] = {"conditions": [{**self.outcome, "status": "True"}]}
                    self.cluster.put(("batch", "v1", "jobs"), namespace, job,
                                     manager="kube-controller-manager")

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


@pytest.fixture
def controller(fake_kube: FakeKube) -> Iterator[JobController]:
    made = JobController(fake_kube)
    yield made
    made.stop()


def manual_jobs(cluster: FakeKube) -> list[dict[str, Any]]:
    return [job for (_, plural, _, _), job in cluster.objects.items() if plural == "jobs"
            and job["metadata"].get("labels", {}).get("pipelinectl.io/trigger") == "manual"]


def env_of(job: dict[str, Any]) -> dict[str, str]:
    [container] = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_a_web_pipeline_runs_the_pipeline_with_its_params(
        tmp_path: Path, tool_image: str, fake_kube: FakeKube,
        credentials: dict[str, Credential], controller: JobController) -> None:
    project = team_project(tmp_path, TOOL_IMAGE)
    deployed = pipeline(project)
    assert deployed.returncode == 0, log(deployed)
    assert fake_kube.get("cronjobs", "epi", "cases") is not None
    writes = len(credentials["production"].writes())

    started = pipeline(project, "CI_PIPELINE_SOURCE=web", "PIPELINECTL_PIPELINE=cases",
                       "PIPELINECTL_PARAMS=region=north", "PIPELINECTL_LOGICAL_DATE=2026-03-31",
                       "GITLAB_USER_LOGIN=alice")
    assert started.returncode == 0, log(started)
    [job] = manual_jobs(fake_kube)
    env = env_of(job)
    assert env["PIPELINECTL_PARAM_REGION"] == "north"
    assert env["PIPELINECTL_PARAM_NOTE"] == "none"
    assert env["PIPELINECTL_LOGICAL_DATE"] == "2026-03-31T00:00:00+00:00"
    assert job["metadata"]["labels"]["pipelinectl.io/trigger"] == "manual"
    assert job["metadata"]["annotations"]["pipelinectl.io/triggered-by"] == "alice"
    name = job["metadata"]["name"]
    assert f"pipelinectl-run > Job {name} succeeded" in log(started), log(started)
    assert "pipelinectl-deploy" not in log(started)  # nothing deployed, nothing built
    # written with the production scope's credentials: the one Job, nothing else
    new = credentials["production"].writes()[writes:]
    assert new == [("POST", "/apis/batch/v1/namespaces/epi/jobs")], new
    assert credentials["read"].writes() == []

    # Hostile params from the web form: literal words, each one --param, whitespace and
    # newlines between them; no substitution, no globbing, no second command.
    hostile = "note=$(id);*\n\t region=south\r\n"
    started = pipeline(project, "CI_PIPELINE_SOURCE=web", "PIPELINECTL_PIPELINE=cases",
                       f"PIPELINECTL_PARAMS={hostile}")
    assert started.returncode == 0, log(started)
    [job] = [j for j in manual_jobs(fake_kube) if j["metadata"]["name"] != name]
    assert env_of(job)["PIPELINECTL_PARAM_NOTE"] == "$(id);*"
    assert env_of(job)["PIPELINECTL_PARAM_REGION"] == "south"

    # A failed run fails the job.
    controller.outcome = {"type": "Failed", "reason": "BackoffLimitExceeded"}
    failed = pipeline(project, "CI_PIPELINE_SOURCE=web", "PIPELINECTL_PIPELINE=cases")
    assert failed.returncode != 0
    assert "failed: BackoffLimitExceeded" in log(failed), log(failed)
    assert len(manual_jobs(fake_kube)) == 3

    # Bad input fails the job before anything is created, and says what it got, literally.
    for params, error in (
            ("a=1; touch /tmp/x", "--param 'a': cases has no such param (its params: "
                                   "region, note)\n  --param 'touch': not NAME=VALUE\n  "
                                   "--param '/tmp/x': not NAME=VALUE\n"),
            ("* region=north", "--param '*': not NAME=VALUE"),
            ("region=$(id)", "--param region: '$(id)' is not one of its enum values"),
            ("region=north region=south", "error: --param region: given twice")):
        before = len(fake_kube.writes())
        refused = pipeline(project, "CI_PIPELINE_SOURCE=web", "PIPELINECTL_PIPELINE=cases",
                           f"PIPELINECTL_PARAMS={params}")
        assert refused.returncode != 0, log(refused)
        for line in error.strip().splitlines():  # each line of the message, literally
            assert line.strip() in log(refused), log(refused)
        assert "uid=" not in log(refused)
        assert len(fake_kube.writes()) == before and len(manual_jobs(fake_kube)) == 3
    refused = pipeline(project, "CI_PIPELINE_SOURCE=web", "PIPELINECTL_PIPELINE=--help")
    assert refused.returncode != 0 and "usage:" not in log(refused), log(refused)
    assert "no pipeline named '--help'" in log(refused), log(refused)
    assert len(manual_jobs(fake_kube)) == 3


def latest_tick(now: datetime.datetime) -> datetime.datetime:
    """The newest 06:00 UTC (the spec's schedule, 0 6 * * *) at or before `now`."""
    tick = now.replace(hour=6, minute=0, second=0, microsecond=0)
    return tick if tick <= now else tick - datetime.timedelta(days=1)


def stamp(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_scheduled_health_job_fails_on_a_failed_latest_run(
        tmp_path: Path, tool_image: str, fake_kube: FakeKube,
        credentials: dict[str, Credential]) -> None:
    project = team_project(tmp_path, TOOL_IMAGE)
    deployed = pipeline(project)
    assert deployed.returncode == 0, log(deployed)
    tick = latest_tick(datetime.datetime.now(datetime.UTC))
    day = datetime.timedelta(days=1)
    second = datetime.timedelta(seconds=2)
    fakeruns.add(fake_kube, "epi",
                 fakeruns.job("cases", "cases-1", stamp(tick - day), "succeeded",
                              stamp(tick - day + second), stamp(tick - day + 30 * second)),
                 fakeruns.job("cases", "cases-2", stamp(tick), "failed", stamp(tick + second),
                              stamp(tick + 30 * second), reason="BackoffLimitExceeded"))
    writes = len(fake_kube.writes())

    failing = pipeline(project, "CI_PIPELINE_SOURCE=schedule")
    assert failing.returncode != 0, log(failing)
    assert "check: the latest finished run cases-2 failed" in log(failing), log(failing)
    status = json.loads((project / ".gitlab-ci-local" / "artifacts" / "pipelinectl-health" /
                         "pipelinectl-status.json").read_text())
    [cases] = status["pipelines"]
    assert cases["check"]["ok"] is False
    assert "pipelinectl-deploy" not in log(failing)

    # The run is retried and succeeds: healthy again.
    fakeruns.add(fake_kube, "epi",
                 fakeruns.job("cases", "cases-2", stamp(tick), "succeeded", stamp(tick + second),
                              stamp(tick + 60 * second)))
    healthy = pipeline(project, "CI_PIPELINE_SOURCE=schedule")
    assert healthy.returncode == 0, log(healthy)
    assert "check: ok" in log(healthy), log(healthy)
    status = json.loads((project / ".gitlab-ci-local" / "artifacts" / "pipelinectl-health" /
                         "pipelinectl-status.json").read_text())
    assert status["pipelines"][0]["check"]["ok"] is True
    # health reads only, with the production scope's credentials
    assert len(fake_kube.writes()) == writes
    assert "epi" in credentials["production"].read_namespaces()
    assert "token-do-not-print" not in log(healthy)

"""The GitLab template's registry gc job (gc: true), run by gitlab-ci-local as
tests/ci/test_gitlab_environments.py runs the template: the dev -> production platform with
previews and `retention: {keep_days: 0}`, its images in a registry of this module's own with
deletes on, each GitLab environment scope's KUBECONFIG a recorder of its own in front of the
fake API server.

Only scheduled pipelines with gc on get the job, as environment registry/gc (prepare: its
variables, no deployment), one at a time. The scenario makes three images of the pipeline:
dev's first deploy and a merge request's preview, both built on a base image made long ago
(citools.OLD_BASE: BuildKit gives an image that adds no layer its base's `created`), and dev's
second deploy, made now. The preview is stopped, so no deploy needs its image; dev's first is
in dev's history. The scheduled pipeline's gc job keeps the dry run's table as its artifact,
deletes exactly the preview's image, and reads every environment with the credentials of its
scope (production, with gc-options, through a kubeconfig of its own) and writes to none."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.ci.test_gitlab_environments import jobs_of, log, merge_request, pipeline
from tests.support.citools import (
    OLD_CREATED,
    OLD_DOCKERFILE,
    PLATFORM_ENVIRONMENTS,
    REPO,
    TEST_BASE,
    TOOL_IMAGE,
    Credential,
    check_jsonschema,
    image,
    npm_tool,
    stored,
    team_repository,
)
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write

# gitlab-ci-local, installed from npm by tests/run.sh
pytestmark = pytest.mark.npm

TEMPLATE = REPO / "ci" / "gitlab" / "pipelinectl.yml"
INPUTS = """\
      environment: dev
      promote-branches: production
      previews: true
      gc: true
      gc-options: "--environment production=$GC_PRODUCTION_KUBECONFIG"
"""
CI_FILE = """\
stages: [test, deploy]
include:
  - local: ci/pipelinectl.yml
    inputs:
      image: {image}
      docker-host: unix:///var/run/docker.sock
      docker-services: []
{inputs}"""
PLATFORM = PLATFORM_ENVIRONMENTS + "retention: {{keep_days: 0}}\n"

# The KUBECONFIG project variable, one value per environment scope; gc's reads every
# environment's namespaces (but production's, which gc-options gives a kubeconfig of its own).
SCOPES = {"*": "read", "dev": "dev", "production": "production", "preview/*": "preview",
          "registry/gc": "gc"}


@pytest.fixture
def credentials(fake_kube: FakeKube, tmp_path: Path) -> Iterator[dict[str, Credential]]:
    for namespace in ("epi", "epi-dev", "epi-preview"):
        fake_kube.add_namespace(namespace)
    made = {name: Credential(name, fake_kube, tmp_path)
            for name in [*SCOPES.values(), "gc-production"]}
    write(tmp_path / "gitlab-variables.yml", yaml.safe_dump({"KUBECONFIG": {
        "type": "variable",
        "values": {scope: str(made[name].kubeconfig) for scope, name in SCOPES.items()}}}))
    yield made
    for credential in made.values():
        credential.stop()


def team_project(folder: Path, registry: str, image: str = TOOL_IMAGE) -> Path:
    """The team's repository including the template with gc on, its first commit's image
    built on the old base."""
    project = team_repository(folder, f"{registry}/gitlab-gc-{folder.name}", {
        "ci/pipelinectl.yml": TEMPLATE.read_text(),
        ".gitlab-ci.yml": CI_FILE.format(image=image, inputs=INPUTS),
        "cases/Dockerfile": OLD_DOCKERFILE}, platform=PLATFORM)
    git(project, "remote", "add", "origin", "https://gitlab.example.org/epi/covid.git")
    return project


def test_only_scheduled_pipelines_with_gc_run_it_one_at_a_time(tmp_path: Path) -> None:
    project = team_project(tmp_path, "registry.example.org/images", "registry.example.org/p:1")
    preview = subprocess.run([str(npm_tool("gitlab-ci-local")), "--preview"], cwd=project,
                             capture_output=True, text=True)
    assert preview.returncode == 0, log(preview)
    expanded = preview.stdout[preview.stdout.index("---\n"):]
    write(tmp_path / "expanded.yml", expanded)
    checked = check_jsonschema("vendor.gitlab-ci", tmp_path / "expanded.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    job = yaml.safe_load(expanded)["pipelinectl-gc"]
    assert job["environment"] == {"name": "registry/gc", "action": "prepare"}
    assert job["resource_group"] == "pipelinectl-gc"
    assert job["artifacts"] == {"when": "always", "expose_as": "pipelinectl gc",
                                "paths": ["pipelinectl-gc.txt"]}
    assert job["script"] == [
        "pipelinectl gc --environment production=$GC_PRODUCTION_KUBECONFIG >pipelinectl-gc.txt",
        "cat pipelinectl-gc.txt",
        "pipelinectl gc --apply --environment production=$GC_PRODUCTION_KUBECONFIG"]
    assert "services" not in job and job["dependencies"] == []  # gc builds nothing

    assert jobs_of(project, "main", "schedule") == [
        ("pipelinectl-preview-prune", "on_success"), ("pipelinectl-gc", "on_success")]
    for branch, source in (("main", "push"), ("main", "web"), ("feature", "merge_request_event")):
        assert "pipelinectl-gc" not in dict(jobs_of(project, branch, source))
    write(project / ".gitlab-ci.yml", CI_FILE.format(image="registry.example.org/p:1",
                                                     inputs="      previews: true\n"))
    git(project, "commit", "-qam", "gc off (the default)")
    assert jobs_of(project, "main", "schedule") == [("pipelinectl-preview-prune", "on_success")]


def digest(reference: str) -> str:
    return reference.split("@", 1)[1]


def test_a_scheduled_pipeline_deletes_the_images_no_deploy_needs(
        tmp_path: Path, credentials: dict[str, Credential], fake_kube: FakeKube,
        tool_image: str, gc_registry: str, old_base: str) -> None:
    project = team_project(tmp_path, gc_registry)
    registry = f"{gc_registry}/gitlab-gc-{tmp_path.name}"
    first = pipeline(project)
    assert first.returncode == 0, log(first)
    assert "pipelinectl-deploy > cases: image built; applied CronJob epi-dev/cases" in log(first)
    old_deployed = digest(image(fake_kube, "epi-dev"))

    # A merge request's preview, on the old base too; then it is merged or closed.
    git(project, "checkout", "-q", "-b", "feature")
    write(project / "cases" / "count.sh", "echo 43 cases\n")
    git(project, "commit", "-qam", "43")
    previewed = merge_request(project, 7, "main", jobs=("pipelinectl-preview",))
    assert previewed.returncode == 0, log(previewed)
    unneeded = digest(image(fake_kube, "epi-preview", "cases-mr7"))
    stopped = merge_request(project, 7, "main", jobs=("pipelinectl-preview-stop",))
    assert stopped.returncode == 0, log(stopped)
    assert fake_kube.get("cronjobs", "epi-preview", "cases-mr7") is None

    # main moves on: an image made now.
    git(project, "checkout", "-q", "main")
    write(project / "cases" / "Dockerfile", f"FROM {TEST_BASE}\nCOPY count.sh /app/\n"
                                            "WORKDIR /app\nUSER 10001\n")
    git(project, "commit", "-qam", "B")
    second = pipeline(project)
    assert second.returncode == 0, log(second)
    deployed = digest(image(fake_kube, "epi-dev"))
    assert len({old_deployed, unneeded, deployed}) == 3
    writes = {name: len(credential.writes()) for name, credential in credentials.items()}

    scheduled = pipeline(project, "CI_PIPELINE_SOURCE=schedule",
                         f"GC_PRODUCTION_KUBECONFIG={credentials['gc-production'].kubeconfig}")
    assert scheduled.returncode == 0, log(scheduled)
    report = (project / ".gitlab-ci-local" / "artifacts" / "pipelinectl-gc" /
              "pipelinectl-gc.txt").read_text()
    rows = {}
    for line in report.splitlines()[1:-1]:
        cells = re.split(r"  +", line)
        rows[cells[1]] = (cells[3], cells[4], cells[5])
    old = OLD_CREATED[:19]
    assert rows == {
        unneeded[:19]: (old, "delete", "no deploy needs it"),
        old_deployed[:19]: (old, "keep", "in dev's history of epi-dev/cases: a rollback target"),
        deployed[:19]: (rows[deployed[:19]][0], "keep", "deployed in dev (epi-dev/cases)")}, report
    assert report.splitlines()[-1].startswith("would delete 1 of 3 images, freeing ")
    assert report.splitlines()[-1].endswith("; dry run: pass --apply")
    assert re.search(r"^pipelinectl-gc > deleted 1 of 3 images, freeing ", log(scheduled),
                     re.MULTILINE), log(scheduled)

    assert not stored(registry, "epi/cases", unneeded)
    assert stored(registry, "epi/cases", old_deployed) and stored(registry, "epi/cases", deployed)
    # Every environment read with gc's own credentials, nothing written.
    assert credentials["gc"].read_namespaces() == {"epi-dev", "epi-preview"}
    assert credentials["gc-production"].read_namespaces() == {"epi"}
    assert {name: len(credential.writes()) for name, credential in credentials.items()} == writes
    assert credentials["gc"].writes() == credentials["gc-production"].writes() == []
    assert "token-do-not-print" not in log(scheduled)

    # Nothing more to delete: the next run deletes nothing.
    again = pipeline(project, "CI_PIPELINE_SOURCE=schedule",
                     f"GC_PRODUCTION_KUBECONFIG={credentials['gc-production'].kubeconfig}",
                     args=("pipelinectl-gc",))
    assert again.returncode == 0, log(again)
    assert "pipelinectl-gc > deleted 0 of 2 images" in log(again), log(again)

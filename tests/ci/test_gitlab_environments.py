"""The GitLab template with environments and previews (ci/gitlab/pipelinectl.yml included with
environment: dev, promote-branches: production, previews: true, as examples/.gitlab-ci.yml
does), run by gitlab-ci-local as tests/ci/test_gitlab.py runs it, for a platform where dev
builds from main, production promotes from the branch `production` and merge requests get
previews. Each job's KUBECONFIG is a project variable scoped to the job's GitLab environment,
as docs/how-to/gitlab.md tells platform teams to set it; each scope's kubeconfig reaches the
fake API server through a recorder of its own, so the tests see which credentials wrote what.

Which jobs each kind of pipeline gets (the defaults: exactly the one-environment template);
main deploys to dev with a build; the promotion merge request's plan, posted as a note, is
production's; `production` deploys dev's image with no build and only reads at the registry; a
commit dev never built is refused with nothing written; a merge request gets a preview, a
scheduled pipeline prunes the old ones, the stop job deletes one."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipelinectl.deploy import state
from tests.support.citools import (
    PLATFORM_ENVIRONMENTS,
    REPO,
    SPEC,
    TOOL_IMAGE,
    Credential,
    Notes,
    check_jsonschema,
    cronjob_spec,
    gitlab_ci_local,
    image,
    npm_tool,
    schedule,
    team_repository,
)
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import HOST, PREFIX, RegistryLog

# gitlab-ci-local, installed from npm by tests/run.sh
pytestmark = pytest.mark.npm

TEMPLATE = REPO / "ci" / "gitlab" / "pipelinectl.yml"

INPUTS = """\
      environment: dev
      promote-branches: production
      previews: true
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


# The KUBECONFIG project variable, one value per environment scope (GitLab's wildcards).
SCOPES = {"*": "read", "dev": "dev", "production": "production", "preview/*": "preview"}


@pytest.fixture
def credentials(fake_kube: FakeKube, tmp_path: Path) -> Iterator[dict[str, Credential]]:
    """The cluster (namespaces epi, epi-dev, epi-preview) and a credential per scope; the
    project variables file at tmp_path/gitlab-variables.yml."""
    for namespace in ("epi", "epi-dev", "epi-preview"):
        fake_kube.add_namespace(namespace)
    made = {name: Credential(name, fake_kube, tmp_path) for name in SCOPES.values()}
    write(tmp_path / "gitlab-variables.yml", yaml.safe_dump({"KUBECONFIG": {
        "type": "variable",
        "values": {scope: str(made[name].kubeconfig) for scope, name in SCOPES.items()}}}))
    yield made
    for credential in made.values():
        credential.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A team's repository with one pipeline, including the template with environments and
    previews, on the dev -> production platform with previews."""
    folder = team_repository(tmp_path, f"{HOST}/{PREFIX}/gitlab-env-{tmp_path.name}", {
        "ci/pipelinectl.yml": TEMPLATE.read_text(),
        ".gitlab-ci.yml": CI_FILE.format(image=TOOL_IMAGE, inputs=INPUTS)},
        platform=PLATFORM_ENVIRONMENTS)
    git(folder, "remote", "add", "origin", "https://gitlab.example.org/epi/covid.git")
    return folder


def pipeline(project: Path, *variables: str,
             args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """A pipeline whose jobs get KUBECONFIG by their environment's scope."""
    return gitlab_ci_local(project, *variables, args=args,
                           variables_file=project.parent / "gitlab-variables.yml")


def merge_request(project: Path, iid: int, target: str, *variables: str,
                  jobs: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """A merge-request pipeline (or its jobs `jobs`) into branch `target`."""
    return pipeline(project, "CI_PIPELINE_SOURCE=merge_request_event",
                    f"CI_MERGE_REQUEST_IID={iid}", "CI_PROJECT_ID=42",
                    f"CI_MERGE_REQUEST_TARGET_BRANCH_NAME={target}", *variables, args=jobs)


def log(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def jobs_of(project: Path, branch: str, source: str) -> list[tuple[str, str]]:
    """(job, when) of the pipeline a `source` event on `branch` makes."""
    git(project, "checkout", "-q", "-B", branch)
    listed = subprocess.run([str(npm_tool("gitlab-ci-local")), "--list-csv", "--variable",
                             f"CI_PIPELINE_SOURCE={source}", "--variable",
                             "CI_MERGE_REQUEST_IID=7"],
                            cwd=project, capture_output=True, text=True)
    assert listed.returncode == 0, log(listed)
    rows = listed.stdout[listed.stdout.index("name;description"):].splitlines()[1:]
    return [(row.split(";")[0], row.split(";")[3]) for row in rows]


@pytest.mark.parametrize("inputs", ["", INPUTS], ids=["defaults", "environments-previews"])
def test_the_jobs_of_each_pipeline(project: Path, tmp_path: Path, inputs: str) -> None:
    write(project / ".gitlab-ci.yml", CI_FILE.format(image="registry.example.org/p:1",
                                                     inputs=inputs))
    git(project, "commit", "-qam", "inputs")
    checks = [("pipelinectl-validate", "on_success"), ("pipelinectl-plan", "on_success")]
    if not inputs:  # the one-environment template: previews and promotion are opt-in
        assert jobs_of(project, "main", "push") == [("pipelinectl-deploy", "on_success")]
        assert jobs_of(project, "production", "push") == []
        assert jobs_of(project, "feature", "merge_request_event") == checks
        assert jobs_of(project, "main", "schedule") == []
        return
    assert jobs_of(project, "main", "push") == [("pipelinectl-deploy", "on_success")]
    assert jobs_of(project, "main", "web") == [("pipelinectl-deploy", "on_success")]
    assert jobs_of(project, "production", "push") == [("pipelinectl-promote", "on_success")]
    assert jobs_of(project, "productionx", "push") == []
    assert jobs_of(project, "feature", "push") == []
    assert jobs_of(project, "feature", "merge_request_event") == [
        *checks, ("pipelinectl-preview", "on_success"), ("pipelinectl-preview-stop", "manual")]
    assert jobs_of(project, "main", "schedule") == [("pipelinectl-preview-prune", "on_success")]

    preview = subprocess.run([str(npm_tool("gitlab-ci-local")), "--preview"], cwd=project,
                             capture_output=True, text=True)
    assert preview.returncode == 0, log(preview)
    expanded = preview.stdout[preview.stdout.index("---\n"):]
    write(tmp_path / "expanded.yml", expanded)
    checked = check_jsonschema("vendor.gitlab-ci", tmp_path / "expanded.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = yaml.safe_load(expanded)
    assert jobs["pipelinectl-deploy"]["environment"] == {"name": "dev"}
    assert jobs["pipelinectl-deploy"]["resource_group"] == "pipelinectl-dev"
    promote = jobs["pipelinectl-promote"]
    assert promote["environment"] == {"name": "$CI_COMMIT_BRANCH"}
    assert promote["resource_group"] == "pipelinectl-$CI_COMMIT_BRANCH"
    assert promote["variables"]["GIT_DEPTH"] == "0"
    assert jobs["pipelinectl-preview"]["environment"] == {
        "name": "preview/mr-$CI_MERGE_REQUEST_IID", "on_stop": "pipelinectl-preview-stop",
        "auto_stop_in": "1 week"}
    stop = jobs["pipelinectl-preview-stop"]
    assert stop["environment"] == {"name": "preview/mr-$CI_MERGE_REQUEST_IID",
                                   "action": "stop"}
    assert stop["stage"] == jobs["pipelinectl-preview"]["stage"]  # GitLab wants it no earlier
    assert stop["resource_group"] == jobs["pipelinectl-preview"]["resource_group"]
    assert jobs["pipelinectl-preview-prune"]["environment"] == {"name": "preview/prune",
                                                                "action": "prepare"}


def test_main_deploys_to_dev_and_production_promotes_with_no_build(
        project: Path, credentials: dict[str, Credential], fake_kube: FakeKube,
        tool_image: str, notes_api: str) -> None:
    dev, production, read = credentials["dev"], credentials["production"], credentials["read"]
    first = pipeline(project)
    assert first.returncode == 0, log(first)
    assert "pipelinectl-deploy > cases: image built; applied CronJob epi-dev/cases" in log(first)
    assert "pipelinectl-promote" not in log(first)
    assert cronjob_spec(fake_kube, "epi-dev")["suspend"] is True  # dev: schedules suspended
    assert dev.written_namespaces() == {"epi-dev"} and production.writes() == []
    image_a = image(fake_kube, "epi-dev")

    git(project, "checkout", "-q", "-b", "production")
    registry = RegistryLog()
    promoted = pipeline(project)
    assert promoted.returncode == 0, log(promoted)
    assert ("pipelinectl-promote > cases: image promoted; applied CronJob epi/cases"
            in log(promoted)), log(promoted)
    assert "pipelinectl-deploy " not in log(promoted) and "building" not in log(promoted)
    assert production.written_namespaces() == {"epi"}
    assert image(fake_kube) == image_a and cronjob_spec(fake_kube)["suspend"] is False
    repository = f"{PREFIX}/gitlab-env-{project.parent.name}/epi/cases"
    assert {method for method, _ in registry.requests(repository)} <= {"GET", "HEAD"}

    # B on main goes to dev; the merge request main -> production plans production.
    git(project, "checkout", "-q", "main")
    write(project / "cases" / "pipeline.yaml", SPEC.format(schedule="0 9 * * *"))
    git(project, "commit", "-qam", "B")
    assert pipeline(project).returncode == 0
    image_b = image(fake_kube, "epi-dev")
    before = len(production.writes()), len(dev.writes())
    planned = merge_request(project, 12, "production", f"CI_API_V4_URL={notes_api}",
                            "PIPELINECTL_NOTE_TOKEN=glpat-secret-token")
    assert planned.returncode == 0, log(planned)
    [(path, _, note)] = Notes.posted
    assert path == "/api/v4/projects/42/merge_requests/12/notes"
    assert note.startswith("### pipelinectl plan\n\nEnvironment `production` (branch "
                           "`production`), promoted: no build\n\n**cases (CronJob epi/cases)**"
                           "\n\n"), note
    assert "- `schedule 0 6 * * * (UTC) -> 0 9 * * * (UTC)`\n" in note, note
    assert "pipelinectl-preview > cases-mr12: image" in log(planned), log(planned)
    assert (len(production.writes()), len(dev.writes())) == before and read.writes() == []

    git(project, "checkout", "-q", "production")
    git(project, "merge", "-q", "--no-ff", "main", "-m", "promote B")
    merged = pipeline(project)
    assert merged.returncode == 0, log(merged)
    assert "pipelinectl-promote > cases: image promoted; applied CronJob epi/cases" in log(merged)
    assert image(fake_kube) == image_b and schedule(fake_kube) == "0 9 * * *"

    # A hotfix straight on production: no environment built it, nothing is written.
    write(project / "cases" / "count.sh", "echo 44 cases\n")
    git(project, "commit", "-qam", "hotfix")
    writes = len(fake_kube.writes())
    refused = pipeline(project)
    assert refused.returncode == 1, log(refused)
    assert "pipelinectl-promote > error: production does not build images" in log(refused)
    assert "hint: environment dev builds them" in log(refused)
    assert len(fake_kube.writes()) == writes and image(fake_kube) == image_b
    assert "token-do-not-print" not in log(first) + log(promoted) + log(planned) + log(merged)


def age(cluster: FakeKube, namespace: str, name: str) -> None:
    """Make the deploy recorded in `name`'s state object a long time ago."""
    found = cluster.get("configmaps", namespace, state.object_name(name))
    assert found is not None
    document = json.loads(found["data"][state.STATE_DATA_KEY])
    document["current"]["deployed_at"] = "2026-01-01T00:00:00Z"
    found["data"][state.STATE_DATA_KEY] = json.dumps(document)
    cluster.put(("", "v1", "configmaps"), namespace, found)


def test_merge_requests_get_previews_that_stop_jobs_and_schedules_remove(
        project: Path, credentials: dict[str, Credential], fake_kube: FakeKube,
        tool_image: str) -> None:
    git(project, "checkout", "-q", "-b", "feature")
    write(project / "cases" / "pipeline.yaml", SPEC.format(schedule="0 9 * * *"))
    git(project, "commit", "-qam", "later")
    first = merge_request(project, 7, "main")
    assert first.returncode == 0, log(first)
    assert ("pipelinectl-preview > cases-mr7: image built; CronJob epi-preview/cases-mr7 "
            "(schedule suspended)") in log(first), log(first)
    assert "pipelinectl-preview-stop" not in log(first).replace("on_stop", "")  # manual
    preview = cronjob_spec(fake_kube, "epi-preview", "cases-mr7")
    assert preview["suspend"] is True and preview["schedule"] == "0 9 * * *"
    assert credentials["preview"].written_namespaces() == {"epi-preview"}
    assert credentials["dev"].writes() == credentials["read"].writes() == []
    assert fake_kube.get("cronjobs", "epi-dev", "cases") is None  # nothing but the preview

    # Another merge request's preview, deployed long ago: the scheduled pipeline prunes it.
    second = merge_request(project, 8, "main", jobs=("pipelinectl-preview",))
    assert second.returncode == 0, log(second)
    age(fake_kube, "epi-preview", "cases-mr8")
    git(project, "checkout", "-q", "main")
    pruned = pipeline(project, "CI_PIPELINE_SOURCE=schedule")
    assert pruned.returncode == 0, log(pruned)
    assert ("pipelinectl-preview-prune > cases-mr8: removed CronJob epi-preview/cases-mr8 and "
            "its state") in log(pruned), log(pruned)
    assert "pipelinectl-deploy" not in log(pruned)
    assert fake_kube.get("cronjobs", "epi-preview", "cases-mr8") is None
    assert fake_kube.get("cronjobs", "epi-preview", "cases-mr7") is not None

    # The merge request is merged or closed: GitLab runs its stop job.
    git(project, "checkout", "-q", "feature")
    stopped = merge_request(project, 7, "main", jobs=("pipelinectl-preview-stop",))
    assert stopped.returncode == 0, log(stopped)
    assert ("pipelinectl-preview-stop > cases-mr7: removed CronJob epi-preview/cases-mr7 and "
            "its state") in log(stopped), log(stopped)
    assert fake_kube.get("cronjobs", "epi-preview", "cases-mr7") is None
    assert fake_kube.get("configmaps", "epi-preview", state.object_name("cases-mr7")) is None
    assert credentials["preview"].written_namespaces() == {"epi-preview"}
    assert credentials["dev"].writes() == credentials["production"].writes() == []

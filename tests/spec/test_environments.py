"""Environments (SPEC 5): the platform's environments checked (one branch each, namespaces
valid and their own, a building environment before a promoting one, previews apart); a
pipeline's overlays merged (schedule fields, defaults like task defaults, notifications per
list; nothing else) and checked where they are written; render and run in one environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelinectl.render.dagfile import pipeline_literal
from pipelinectl.spec import environments, platform
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import load_pipelines
from tests.support.repo import git, valid_pipeline, write

PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: 127.0.0.1:5000
base_images: {python: {"3.12": "python:3.12-slim"}}
teams:
  default: {namespace: default}
environments:
  dev: {branch: main, namespace: "{namespace}-dev", schedules: suspended}
  production: {branch: production, build: false}
"""
SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: etl, team: default}
image: {language: python, version: "3.12", dependencies: requirements.txt}
schedule: "0 7 * * *"
defaults:
  env: {DB_HOST: warehouse, REGION: all}
  resources: {cpu: "1", memory: 2Gi}
  secrets: [warehouse-db]
tasks:
  - name: fetch
    command: [python, fetch.py]
  - name: load
    command: [python, fetch.py]
    depends_on: [fetch]
notifications: {on_failure: [team@example.org], on_success: [boss@example.org]}
"""
OVERLAY = """\
environments:
  dev:
    schedule: {cron: "0 9 * * 1-5", suspend: false}
    defaults:
      env: {DB_HOST: dev-db}
      resources: {memory: 1Gi}
      secrets: [warehouse-db-dev]
    notifications: {on_failure: []}
"""
BAD = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: 127.0.0.1:5000
teams:
  epi: {namespace: epi}
  hospital-data: {namespace: hosp}
environments:
  production: {branch: production, build: false}
  dev: {branch: main, namespace: "{namespace}-dev"}
  qa: {branch: main, namespace: "{namespace}"}
  staging: {branch: staging, namespace: "{namespace}_stg"}
  odd: {branch: odd, namespace: "{nmespace}-odd"}
previews:
  namespace: "{namespace}-dev"
  expire_after: forever
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(folder))
    write(folder / "platform.yaml", PLATFORM)
    valid_pipeline(folder / "etl", SPEC + OVERLAY)
    git(folder, "add", "-A")  # an image holds what git tracks
    return folder


def loaded(repo: Path) -> tuple[platform.Platform, list]:  # type: ignore[type-arg]
    config = platform.load(str(repo / "platform.yaml"))
    return config, load_pipelines(find_pipelines([], repo), config, None, repo)


def test_platform_environments_are_checked(run, tmp_path: Path) -> None:
    write(tmp_path / "bad.yaml", BAD)
    result = run("validate", "--platform", "bad.yaml", cwd=tmp_path)
    assert result.code == 1
    assert result.out == (
        "bad.yaml:8:43: environments.production.build: false, but no environment before it "
        "builds the images it would take\n"
        "  hint: list an environment with build: true (the default) before it, e.g. dev from "
        "main, then production from production\n"
        "bad.yaml:10:16: environments.qa.branch: branch 'main' already feeds environment dev\n"
        "  hint: give each environment its own branch\n"
        "bad.yaml:10:33: environments.qa.namespace: team epi would deploy to epi, as in "
        "environment production\n"
        '  hint: give each environment a namespace pattern of its own, e.g. "{namespace}-dev"\n'
        "bad.yaml:10:33: environments.qa.namespace: team hospital-data would deploy to hosp, as "
        "in environment production\n"
        '  hint: give each environment a namespace pattern of its own, e.g. "{namespace}-dev"\n'
        "bad.yaml:11:41: environments.staging.namespace: '{namespace}_stg' gives team epi the "
        "namespace 'epi_stg', which is not a DNS-1123 label of at most 63 characters\n"
        "  hint: use lowercase letters, digits and '-' around the placeholders, e.g. "
        '"{namespace}-dev"\n'
        "bad.yaml:12:33: environments.odd.namespace: unknown placeholder '{nmespace}' in "
        "'{nmespace}-odd'\n"
        "  hint: did you mean {namespace}? the placeholders are {team}, {namespace}\n"
        "bad.yaml:14:14: previews.namespace: team epi's previews would go to epi-dev, the "
        "namespace of environment dev\n"
        '  hint: keep previews in namespaces of their own, e.g. "{namespace}-preview"\n'
        "bad.yaml:14:14: previews.namespace: team hospital-data's previews would go to "
        "hosp-dev, the namespace of environment dev\n"
        '  hint: keep previews in namespaces of their own, e.g. "{namespace}-preview"\n'
        "bad.yaml:15:17: previews.expire_after: 'forever' is not a duration\n"
        "  hint: e.g. 30s, 5m or 1h\n"
        "9 problems in the platform config; no pipeline was checked\n")


def test_a_namespace_pattern_too_long_for_a_team(run, tmp_path: Path) -> None:
    write(tmp_path / "p.yaml", PLATFORM.replace('"{namespace}-dev"', '"{team}-' + "x" * 60 + '"'))
    result = run("validate", "--platform", "p.yaml", cwd=tmp_path)
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        f"p.yaml:8:34: environments.dev.namespace: '{{team}}-{'x' * 60}' gives team default "
        f"the namespace 'default-{'x' * 60}', which is not a DNS-1123 label of at most 63 "
        "characters")


def test_an_overlay_merges_as_documented(repo: Path) -> None:
    config, [base] = loaded(repo)
    dev, problems = environments.in_environment(base, config.in_environment("dev"))
    assert problems == []
    assert dev.environment == "dev"
    assert dev.schedule is not None and base.schedule is not None
    assert (dev.schedule.cron, dev.schedule.suspend) == ("0 9 * * 1-5", False)
    assert (base.schedule.cron, base.schedule.suspend) == ("0 7 * * *", False)
    fetch = dev.tasks[0]
    assert dict(fetch.env) == {"DB_HOST": "dev-db", "REGION": "all"}  # by variable
    assert (fetch.resources.cpu, fetch.resources.memory) == ("1", "1Gi")  # field by field
    assert fetch.secrets == ("warehouse-db-dev",)  # replaced
    assert dev.notifications is not None
    assert dev.notifications.on_failure == () and \
        dev.notifications.on_success == ("boss@example.org",)  # each list on its own
    assert [t.command for t in dev.tasks] == [t.command for t in base.tasks]
    assert dev.image == base.image


def test_a_suspended_environment_suspends_unless_the_overlay_says_otherwise(
        repo: Path) -> None:
    valid_pipeline(repo / "etl", SPEC + OVERLAY.replace(", suspend: false", ""))
    config, [base] = loaded(repo)
    dev, _ = environments.in_environment(base, config.in_environment("dev"))
    production, _ = environments.in_environment(base, config.in_environment("production"))
    assert dev.schedule is not None and dev.schedule.suspend is True
    assert production.schedule is not None and production.schedule.suspend is False
    assert dict(production.tasks[0].env)["DB_HOST"] == "warehouse"  # no overlay there


@pytest.mark.parametrize(("overlay", "line"), [
    ("environments:\n  prod:\n    defaults: {env: {A: b}}\n",
     "etl/pipeline.yaml:18:3: environments: unknown environment 'prod'"),
    ("environments:\n  dev:\n    tasks: []\n",
     "etl/pipeline.yaml:19:5: environments.dev: unknown key 'tasks'"),
    ("environments:\n  dev:\n    image: {dockerfile: Dockerfile}\n",
     "etl/pipeline.yaml:19:5: environments.dev: unknown key 'image'"),
    ("environments:\n  dev:\n    schedule: {cron: \"0 7 * * 7\"}\n",
     "etl/pipeline.yaml:19:22: in environment dev: schedule.cron: '0 7 * * 7': day-of-week 7 "
     "is out of range (0-6)"),
    ("environments:\n  dev:\n    defaults: {timeout: 31d}\n",
     "etl/pipeline.yaml:19:25: in environment dev: defaults.timeout: '31d' is longer than 30d, "
     "the most pipelinectl allows"),
    ("environments:\n  dev:\n    defaults: {env: {PGPASSWORD: hunter2}}\n",
     "etl/pipeline.yaml:19:34: in environment dev: defaults.env.PGPASSWORD: value looks like a "
     "credential (the variable is named PGPASSWORD); credentials must not be written in "
     "pipeline.yaml"),
])
def test_overlays_are_checked_where_they_are_written(run, repo: Path, overlay: str,
                                                     line: str) -> None:
    valid_pipeline(repo / "etl", SPEC + overlay)
    result = run("validate", "--platform", "platform.yaml", cwd=repo)
    assert result.code == 1
    assert line in result.out.splitlines(), result.out


def test_an_overlay_schedule_without_cron_needs_a_pipeline_schedule(run, repo: Path) -> None:
    spec = SPEC.replace('schedule: "0 7 * * *"\n', "")
    valid_pipeline(repo / "etl", spec + "environments:\n  dev:\n    schedule: {suspend: false}\n")
    result = run("validate", "--platform", "platform.yaml", cwd=repo)
    assert result.code == 1
    assert result.out.splitlines()[:2] == [
        "etl/pipeline.yaml:18:15: in environment dev: environments.dev.schedule: needs cron: "
        "the pipeline has no schedule of its own",
        "  hint: add cron here, or a schedule to the pipeline"]


def rendered(repo: Path, folder: str) -> dict[str, dict]:  # type: ignore[type-arg]
    out = repo / folder / "airflow" / "default" / "default__etl.py"
    return pipeline_literal(out.read_text())


def test_render_one_environment(run, repo: Path) -> None:
    dev = run("render", "--image-placeholder", "--environment", "dev", "-o", "dev",
              "--platform", "platform.yaml", cwd=repo)
    assert dev.code == 0, dev.err
    production = run("render", "--image-placeholder", "--environment", "production", "-o",
                     "production", "--platform", "platform.yaml", cwd=repo)
    assert production.code == 0, production.err
    dev_dag, production_dag = rendered(repo, "dev"), rendered(repo, "production")
    assert (dev_dag["namespace"], production_dag["namespace"]) == ("default-dev", "default")
    assert (dev_dag["schedule"]["cron"], production_dag["schedule"]["cron"]) == (
        "0 9 * * 1-5", "0 7 * * *")
    assert dev_dag["tasks"][0]["secrets"] == ["warehouse-db-dev"]
    assert production_dag["tasks"][0]["secrets"] == ["warehouse-db"]
    unknown = run("render", "--image-placeholder", "--environment", "prod", "--platform",
                  "platform.yaml", cwd=repo)
    assert (unknown.code, unknown.err) == (
        1, "error: --environment 'prod': the platform has no such environment\n"
           "  hint: its environments: dev, production\n")


def test_the_environment_follows_the_merge_request_target_then_the_branch(
        run, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(repo, "commit", "-qm", "etl")
    on_main = run("render", "--image-placeholder", "-o", "a", "--platform", "platform.yaml",
                  cwd=repo)
    assert on_main.code == 0 and rendered(repo, "a")["namespace"] == "default-dev"
    git(repo, "checkout", "-q", "-b", "feature")  # no environment: the first one
    assert run("render", "--image-placeholder", "-o", "b", "--platform", "platform.yaml",
               cwd=repo).code == 0
    assert rendered(repo, "b")["namespace"] == "default-dev"
    monkeypatch.setenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "production")
    assert run("render", "--image-placeholder", "-o", "c", "--platform", "platform.yaml",
               cwd=repo).code == 0
    assert rendered(repo, "c")["namespace"] == "default"


def test_platform_manifests_make_every_environment_namespace(run, repo: Path) -> None:
    text = PLATFORM + 'previews: {namespace: "{namespace}-preview"}\n'
    write(repo / "platform.yaml", text)
    result = run("platform", "manifests", "--platform", "platform.yaml", cwd=repo)
    assert result.code == 0, result.err
    documents = [d for d in yaml.safe_load_all(result.out) if d]
    namespaces = [d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"]
    assert namespaces == ["default-dev", "default", "default-preview"]
    roles = [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in documents
             if d["kind"] == "Role"]
    assert ("default-dev", "pipelinectl-deployer") in roles
    assert ("default-preview", "pipelinectl-deployer") in roles

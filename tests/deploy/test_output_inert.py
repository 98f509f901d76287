"""Merge-request text never reaches plan, status, history or validate output live: no user
value starts a line (GitLab quick actions, GitHub workflow commands), none carries a raw
newline or control character, markdown keeps every value in a code span or fence it cannot
close, and in GitHub Actions the output is wrapped in ::stop-commands::."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from pipelinectl.deploy import state
from pipelinectl.textsafe import code_span, fence, inline
from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX

HOSTILE = "x\n/approve\n/merge\n::error file=README.md,line=1::x\x1b[2J\u202eevil ``` `"
SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: etl, team: default}}
image: {{dockerfile: Dockerfile}}
schedule: "0 7 * * *"
tasks:
  - name: main
    command: {command}
"""
PLATFORM = f"""\
apiVersion: pipelinectl/v1
kind: Platform
registry: {HOST}/{PREFIX}/inert
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  default: {{namespace: default}}
kubernetes: {{directory: .pipelinectl/kubernetes}}
airflow: {{dags: {{directory: .pipelinectl/airflow/dags}}, task_runner: docker}}
"""
USER_LINE = re.compile(r"^(/approve|/merge|::error|evil)", re.MULTILINE)


def test_textsafe_makes_values_inert() -> None:
    assert inline("a\nb\r\t\x1b\u202e\u200bc") == "a\\nb\\r\\t\\x1b\\u202e\\u200bc"
    assert inline("plain words, (UTC) -> é") == "plain words, (UTC) -> é"
    assert code_span("a ``` b") == "````a ``` b````"
    assert code_span("`edge`") == "`` `edge` ``"
    assert fence("x\n```\n~~~\n", "diff") == "````diff\nx\n```\n~~~\n````\n"


@pytest.fixture
def repo(services: None, tmp_path: Path, run) -> Path:
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(folder))
    write(folder / "platform.yaml", PLATFORM)
    write(folder / "etl" / "Dockerfile", f"FROM {BASE}\nUSER 10001\n")
    write(folder / "etl" / "pipeline.yaml", SPEC.format(command="[echo, hello]"))
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "A")
    deployed = run("deploy", "--platform", "platform.yaml", cwd=folder)
    assert deployed.code == 0, deployed.err
    return folder


def assert_inert(text: str) -> None:
    assert not USER_LINE.search(text), text
    assert "\x1b" not in text and "\u202e" not in text


def test_plan_text_and_markdown(run, repo: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base"
    assert run("render", "--platform", "platform.yaml", "-o", str(base), cwd=repo).code == 0
    write(repo / "etl" / "pipeline.yaml", SPEC.format(command=json.dumps(["echo", HOSTILE])))
    text = run("plan", "--platform", "platform.yaml", "--against", str(base), cwd=repo)
    assert text.code == 0, text.err
    assert_inert(text.out)
    assert f"  task `main`: command echo hello -> echo {inline(HOSTILE)}\n" in text.out
    markdown = run("plan", "--platform", "platform.yaml", "--against", str(base), "--format",
                   "markdown", cwd=repo)
    assert_inert(markdown.out)
    word = f"task `main`: command echo hello -> echo {HOSTILE}"
    assert f"\n- {code_span(word)}\n" in markdown.out
    assert "\n````diff\n" in markdown.out  # longer than the value's run of three backticks

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    wrapped = run("plan", "--platform", "platform.yaml", "--against", str(base), cwd=repo)
    first, *_, last = wrapped.out.splitlines()
    token = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", first)
    assert token and last == f"::{token.group(1)}::"
    again = run("plan", "--platform", "platform.yaml", "--against", str(base), cwd=repo)
    assert again.out.splitlines()[0] != first  # a new token every time: none to guess
    annotations = run("validate", "--format", "github", "--platform", "platform.yaml",
                      cwd=repo)
    assert "stop-commands" not in annotations.out  # annotations are meant to be commands


def test_status_and_history_print_a_hand_edited_state_inert(run, repo: Path) -> None:
    path = repo / ".pipelinectl" / "kubernetes" / "default" / "ConfigMap" / \
        f"{state.object_name('etl')}.yaml"
    obj = yaml.safe_load(path.read_text())
    document = json.loads(obj["data"][state.STATE_DATA_KEY])
    for deploy in [document["current"], *document["history"]]:
        deploy["environment"] = HOSTILE
        deploy["deployed_at"] = HOSTILE
        deploy["image"] = "reg/etl@" + HOSTILE
    obj["data"][state.STATE_DATA_KEY] = json.dumps(document)
    path.write_text(yaml.safe_dump(obj))
    for command in ("status", "history"):
        result = run(command, "--platform", "platform.yaml", cwd=repo)
        assert result.code == 0, result.err
        assert_inert(result.out)
        assert inline(HOSTILE) in result.out


def test_validate_shows_a_hostile_file_name_inert(run, git_repo: Path) -> None:
    folder = git_repo / "x\n::error file=a::b"
    write(folder / "pipeline.yaml", "apiVersion: pipelinectl/v1\nkind: Pipeline\n")
    result = run("validate", cwd=git_repo)
    assert result.code == 1
    assert_inert(result.out)
    assert result.out.startswith("x\\n::error file=a::b/pipeline.yaml:1:1: the top level: "
                                 "missing required key 'image'")

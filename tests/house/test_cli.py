"""The command line: exit codes, output formats, discovery, init."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelinectl.commands import validate as validate_command
from tests.support.repo import VALID_SPEC, valid_pipeline, write

BROKEN = VALID_SPEC.replace("name: fetch", "name: Fetch")


def test_valid_repo_exits_0(run, git_repo: Path) -> None:
    valid_pipeline(git_repo / "pipelines" / "a")
    result = run("validate", cwd=git_repo)
    assert (result.code, result.out) == (0, "1 pipeline file valid\n")


def test_discovers_from_repo_root_even_in_a_subfolder(run, git_repo: Path) -> None:
    valid_pipeline(git_repo / "a")
    valid_pipeline(git_repo / "b" / "c", VALID_SPEC.replace("cases-daily", "other"))
    write(git_repo / ".hidden" / "pipeline.yaml", "not: checked\n")
    write(git_repo / "node_modules" / "x" / "pipeline.yaml", "not: checked\n")
    result = run("validate", cwd=git_repo / "b")
    assert result.out == "2 pipeline files valid\n"


def test_every_problem_in_every_file_sorted(run, git_repo: Path) -> None:
    valid_pipeline(git_repo / "b", BROKEN.replace("cases-daily", "b"))
    valid_pipeline(git_repo / "a", BROKEN.replace('"3.12"', "3.12"))
    valid_pipeline(git_repo / "c", VALID_SPEC.replace("cases-daily", "c"))
    result = run("validate", cwd=git_repo)
    assert result.code == 1
    assert result.out == (
        "a/pipeline.yaml:8:12: image.version: must be a string, not a number\n"
        "  hint: quote the value: \"3.12\"\n"
        "a/pipeline.yaml:12:11: tasks[0].name: 'Fetch' is not a DNS-1123 label\n"
        "  hint: use lowercase letters, digits and '-', starting and ending with a letter or "
        "digit, e.g. 'fetch'\n"
        "b/pipeline.yaml:12:11: tasks[0].name: 'Fetch' is not a DNS-1123 label\n"
        "  hint: use lowercase letters, digits and '-', starting and ending with a letter or "
        "digit, e.g. 'fetch'\n"
        "3 problems in 2 of 3 pipeline files\n")


def test_json_format(run, git_repo: Path) -> None:
    valid_pipeline(git_repo / "a", BROKEN)
    result = run("validate", "--format", "json", cwd=git_repo)
    report = json.loads(result.out)
    assert result.code == 1
    assert report["valid"] is False
    assert report["files"] == ["a/pipeline.yaml"]
    assert report["problems"] == [{
        "file": "a/pipeline.yaml", "line": 12, "column": 11,
        "message": "tasks[0].name: 'Fetch' is not a DNS-1123 label",
        "hint": "use lowercase letters, digits and '-', starting and ending with a letter or "
                "digit, e.g. 'fetch'",
        "code": "schema-pattern"}]
    assert result.err == "1 problem in 1 of 1 pipeline file\n"


def test_github_format_escapes_annotation_properties(run, git_repo: Path) -> None:
    valid_pipeline(git_repo / "a,b", BROKEN)
    result = run("validate", "--format", "github", cwd=git_repo)
    first = result.out.splitlines()[0]
    assert first == (
        "::error file=a%2Cb/pipeline.yaml,line=12,col=11,title=pipelinectl schema-pattern::"
        "tasks[0].name: 'Fetch' is not a DNS-1123 label%0Ahint: use lowercase letters, digits "
        "and '-', starting and ending with a letter or digit, e.g. 'fetch'")


def test_gitlab_code_quality_report(run, git_repo: Path, tmp_path: Path) -> None:
    valid_pipeline(git_repo / "pipelines" / "a", BROKEN)
    report_file = tmp_path / "gl-code-quality-report.json"
    result = run("validate", "--format", "gitlab", "--output", str(report_file),
                 cwd=git_repo / "pipelines")
    issues = json.loads(report_file.read_text())
    assert result.code == 1
    assert result.out.endswith("1 problem in 1 of 1 pipeline file\n")  # people still read text
    assert len(issues) == 1
    issue = issues[0]
    assert issue["location"] == {"path": "pipelines/a/pipeline.yaml", "lines": {"begin": 12}}
    assert issue["severity"] == "major"
    assert issue["check_name"] == "pipelinectl/schema-pattern"
    assert issue["description"].startswith("tasks[0].name: 'Fetch' is not a DNS-1123 label")
    assert len(issue["fingerprint"]) == 64


def test_gitlab_report_is_an_empty_list_when_valid(run, git_repo: Path) -> None:
    valid_pipeline(git_repo / "a")
    result = run("validate", "--format", "gitlab", cwd=git_repo)
    assert (result.code, json.loads(result.out)) == (0, [])


def test_usage_errors_exit_2(run) -> None:
    assert run("validate", "--format", "xml").code == 2
    assert run("frobnicate").code == 2
    assert run().code == 2


def test_missing_path_is_a_user_error(run, git_repo: Path) -> None:
    result = run("validate", "nowhere", cwd=git_repo)
    assert result.code == 1
    assert result.err == ("error: nowhere: no such file or directory\n"
                          "  hint: name a pipeline.yaml or a folder that holds some\n")


def test_no_pipeline_found(run, git_repo: Path) -> None:
    result = run("validate", cwd=git_repo)
    assert result.code == 1
    assert result.err.startswith("error: no pipeline.yaml found under ")
    assert "hint: create one with: pipelinectl init --language r|python DIR" in result.err


def test_internal_errors_exit_3_without_traceback(run, git_repo: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("boom")
    monkeypatch.setattr(validate_command, "_report", explode)
    result = run("validate", cwd=git_repo)
    assert result.code == 3
    assert result.err.startswith("internal error: RuntimeError: boom\n  this is a bug")
    assert "Traceback" not in result.err


def test_platform_from_environment(run, git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    valid_pipeline(git_repo / "a")
    platform = write(git_repo / "platform.yaml", "apiVersion: pipelinectl/v1\nkind: Platform\n"
                     "registry: r.example.org\nteams:\n  epi: {namespace: epi}\n")
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(platform))
    result = run("validate", cwd=git_repo)
    assert result.out.startswith("a/pipeline.yaml:5:9: metadata.team: unknown team 'default'")
    assert "image.version: Python 3.12 is not offered by the platform" in result.out
    assert run("validate", "--platform", "local", cwd=git_repo).code == 0


def test_repo_id_from_ci_environment(run, git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    valid_pipeline(git_repo / "a")
    write(git_repo / "platform.yaml", "apiVersion: pipelinectl/v1\nkind: Platform\n"
          "registry: r.example.org\nbase_images: {python: {'3.12': python:3.12-slim}}\n"
          "teams:\n  default: {namespace: default, repos: [epi/covid]}\n")
    monkeypatch.setenv("GITHUB_REPOSITORY", "epi/covid")
    assert run("validate", "--platform", "platform.yaml", cwd=git_repo).code == 0
    monkeypatch.setenv("CI_PROJECT_PATH", "someone/else")
    result = run("validate", "--platform", "platform.yaml", cwd=git_repo)
    assert "project 'someone/else' may not deploy as team 'default'" in result.out
    assert run("validate", "--platform", "platform.yaml", "--repo-id", "epi/covid",
               cwd=git_repo).code == 0


@pytest.mark.parametrize("language, files", [
    ("r", ["pipeline.yaml", "main.R", "DESCRIPTION"]),
    ("python", ["pipeline.yaml", "main.py", "requirements.txt"]),
])
def test_init_scaffolds_a_pipeline_that_validates(run, git_repo: Path, language: str,
                                                  files: list[str]) -> None:
    result = run("init", "--language", language, "pipelines/Weekly Report", cwd=git_repo)
    assert result.code == 0, result.err
    folder = git_repo / "pipelines" / "Weekly Report"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    spec = (folder / "pipeline.yaml").read_text()
    assert spec.startswith("# yaml-language-server: $schema=../../.pipelinectl/"
                           "pipeline.schema.json\n")
    assert '  name: "weekly-report"\n' in spec
    assert (git_repo / ".pipelinectl" / "pipeline.schema.json").read_text() == \
        run("schema").out
    assert run("validate", cwd=git_repo).code == 0


def test_init_refuses_to_overwrite(run, git_repo: Path) -> None:
    valid_pipeline(git_repo / "a")
    result = run("init", "--language", "python", "a", cwd=git_repo)
    assert result.code == 1
    assert result.err.startswith("error: a/pipeline.yaml already exists")


def test_init_with_schema_url_and_name(run, git_repo: Path) -> None:
    result = run("init", "--language", "python", "--name", "etl", "--schema-url",
                 "https://schemas.example.org/pipeline.json", "x", cwd=git_repo)
    assert result.code == 0
    spec = (git_repo / "x" / "pipeline.yaml").read_text()
    assert spec.splitlines()[0] == \
        "# yaml-language-server: $schema=https://schemas.example.org/pipeline.json"
    assert not (git_repo / ".pipelinectl").exists()


def test_init_needs_a_team_when_the_platform_has_several(run, git_repo: Path) -> None:
    write(git_repo / "p.yaml", "apiVersion: pipelinectl/v1\nkind: Platform\nregistry: r.io\n"
          "base_images: {python: {'3.12': python:3.12-slim}}\n"
          "teams: {a: {namespace: a}, b: {namespace: b}}\n")
    result = run("init", "--language", "python", "--platform", "p.yaml", "x", cwd=git_repo)
    assert result.code == 1
    assert result.err == ("error: the platform has several teams; say which one owns the "
                          "pipeline\n  hint: add --team, one of: a, b\n")
    assert not (git_repo / "x").exists()
    assert run("init", "--language", "python", "--platform", "p.yaml", "--team", "b", "x",
               cwd=git_repo).code == 0


def test_version_option(run) -> None:
    from pipelinectl import __version__
    result = run("--version")
    assert result.code == 0 and result.out == f"pipelinectl {__version__}\n"


class _InterruptedWriter:
    """stderr that is interrupted (Ctrl-C) the first time an error is written to it."""

    def __init__(self) -> None:
        self.text = ""
        self.interrupted = False

    def write(self, text: str) -> int:
        if text.startswith("error:") and not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_ctrl_c_while_an_error_is_printed_is_exit_130_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pipelinectl.cli.main import main

    stderr = _InterruptedWriter()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "missing-folder"]) == 130
    assert stderr.interrupted and stderr.text == "interrupted\n"

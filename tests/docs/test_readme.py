"""The README's two commands exist, and CI runs exactly them."""

from __future__ import annotations

import re

from tests.support.repo import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("## Two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_two_commands_run_scripts_that_exist() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    for command in commands:
        script = re.fullmatch(r"bash (\S+)", command)
        assert script, command
        assert (REPO / script.group(1)).is_file()


def test_ci_runs_the_readme_commands() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    main_job, tests = readme_commands()
    assert re.search(rf"^{re.escape(tests)}( |$)", ci, re.MULTILINE)
    assert re.search(rf"^{re.escape(main_job)}$", ci, re.MULTILINE)


def test_every_command_is_documented() -> None:
    import argparse

    from pipelinectl.cli import build_parser
    readme = (REPO / "README.md").read_text()
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    commands = set(actions[0].choices)
    assert commands == {"validate", "schema", "init", "build", "render", "deploy", "plan",
                        "status", "history", "run", "platform"}
    for command in commands:
        assert re.search(rf"^### .*`pipelinectl {command}\b", readme, re.MULTILINE), command


def test_the_ci_examples_in_the_readme_are_the_shipped_files() -> None:
    readme = (REPO / "README.md").read_text()
    for example in (REPO / "examples" / ".gitlab-ci.yml",
                    REPO / "ci" / "github" / "example-caller.yml"):
        assert f"```yaml\n{example.read_text()}```\n" in readme, example

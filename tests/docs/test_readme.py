"""The README: short, its two commands exist and CI runs exactly them, every command is in its
table, and its links lead to pages of the docs site."""

from __future__ import annotations

import re

from tests.docs.blocks import REPO

README = REPO / "README.md"
COMMANDS = {"trigger", "validate", "schema", "init", "build", "render", "deploy", "plan", "status",
            "history", "run", "platform", "preview", "gc"}


def readme_commands() -> list[str]:
    text = README.read_text()
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


def test_every_command_is_in_the_table() -> None:
    import argparse

    from pipelinectl.cli import build_parser

    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(actions[0].choices) == COMMANDS
    rows = re.findall(r"^\| `pipelinectl ([a-z-]+)` \|", README.read_text(), re.MULTILINE)
    assert sorted(rows) == sorted(COMMANDS)


def test_the_readme_is_short_and_links_into_the_docs() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    docs = [link for link in links if link.startswith("docs/")]
    assert len(docs) >= 20
    for link in links:
        assert not link.startswith(("/", "..")), link
        if not link.startswith(("http://", "https://")):
            assert (REPO / link).is_file(), link

"""Where the docs show a file the repository ships, or the output of a command, they show it
exactly: the CI examples, the platform configs, what `init` writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.docs.blocks import DOCS, REPO, blocks
from tests.docs.conftest import cli

SHIPPED = [
    (DOCS / "how-to" / "gitlab.md", REPO / "examples" / ".gitlab-ci.yml"),
    (DOCS / "how-to" / "github.md", REPO / "ci" / "github" / "example-caller.yml"),
    (DOCS / "reference" / "platform.md", REPO / "manifests" / "example" / "platform.yaml"),
]


@pytest.mark.parametrize(("page", "shipped"), SHIPPED,
                         ids=[p.relative_to(REPO).as_posix() for _, p in SHIPPED])
def test_the_page_shows_the_shipped_file(page: Path, shipped: Path) -> None:
    assert shipped.read_text() in [b.text for b in blocks(page)]


def test_the_local_platform_is_the_built_in_one() -> None:
    [builtin] = (REPO / "pipelinectl").rglob("local-platform.yaml")
    shown = [b.text for b in blocks(DOCS / "reference" / "platform.md")]
    assert builtin.read_text() in shown


def test_the_first_tutorial_shows_what_init_writes(tmp_path: Path) -> None:
    repo = tmp_path / "weekly-cases"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    done = cli("init", "--language", "r", "--platform", "local", cwd=repo)
    assert done.returncode == 0, done.stderr
    page = DOCS / "tutorials" / "first-r-pipeline.md"
    shown = [b.text for b in blocks(page)]
    assert (repo / "pipeline.yaml").read_text() in shown
    console = next(b.text for b in blocks(page) if b.text.startswith("$ pipelinectl init"))
    assert console == "$ pipelinectl init --language r\n" + done.stdout

"""Fixtures of the docs tests: the built site, and the pipelinectl CLI as users run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.blocks import REPO

# Variables that would change what validate checks (the CI project, another platform file).
UNSET = ("PIPELINECTL_PLATFORM", "CI_PROJECT_PATH", "GITHUB_REPOSITORY")


def pipelinectl() -> str:
    """The console script next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "pipelinectl"
    found = str(beside) if beside.is_file() else shutil.which("pipelinectl")
    assert found, "pipelinectl is not installed"
    return found


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run([pipelinectl(), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def build_site(site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(site), "--config-file", str(REPO / "mkdocs.yml")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The site, built once per session with `mkdocs build --strict`."""
    folder = tmp_path_factory.mktemp("site")
    done = build_site(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    yield folder

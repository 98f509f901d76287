"""Test helpers for files and git repositories: the one `git` of the suite, `write`, and a
valid pipeline to start from."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # this checkout
IDENTITY = ["-c", "user.email=ci@example.org", "-c", "user.name=CI"]


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with an identity; its output, stripped (fails the test on error)."""
    done = subprocess.run(["git", *IDENTITY, *args], cwd=repo, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


VALID_SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata:
  name: cases-daily
  team: default
image:
  language: python
  version: "3.12"
  dependencies: requirements.txt
schedule: "0 7 * * *"
tasks:
  - name: fetch
    command: [python, fetch.py]
"""


def valid_pipeline(folder: Path, spec: str = VALID_SPEC) -> Path:
    """A valid pipeline folder: pipeline.yaml plus the files it names."""
    write(folder / "requirements.txt", "pandas==2.2.3\n")
    write(folder / "fetch.py", "print('fetch')\n")
    return write(folder / "pipeline.yaml", spec)


def in_env(name: str, value: str) -> dict[str, str]:
    return {**os.environ, name: value}

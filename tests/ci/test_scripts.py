"""Every shell script the CI templates run passes shellcheck: the action's run.sh, the tool
image's entrypoint, and each `run:` (GitHub) and `script:` (GitLab) block as the runner's shell
gets it (bash)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.support.citools import REPO

WORKFLOW = REPO / ".github" / "workflows" / "pipelinectl.yml"
TEMPLATE = REPO / "ci" / "gitlab" / "pipelinectl.yml"


def shellcheck(script: str, shell: str = "bash") -> str:
    tool = shutil.which("shellcheck")
    if tool is None:
        pytest.skip("needs shellcheck (tests/run.sh installs it)")
    done = subprocess.run([tool, f"--shell={shell}", "-"], input=script, capture_output=True,
                          text=True)
    return done.stdout


def workflow_scripts() -> list[str]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    steps = [step for job in jobs.values() for step in job["steps"]]
    steps += yaml.safe_load((REPO / "ci" / "github" / "action.yml").read_text())["runs"]["steps"]
    # ${{ }} expressions are substituted before the shell runs: stand in a plain word.
    return [step["run"].replace("${{", "EXPR_").replace("}}", "") for step in steps
            if "run" in step]


def template_scripts() -> list[str]:
    body = yaml.safe_load(TEMPLATE.read_text().split("\n---\n", 1)[1])
    # $[[ inputs.x ]] is replaced by the input's text before the shell runs: stand in a plain
    # word (the text is then split into words, as an input of several options means).
    return [re.sub(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]",
                   lambda m: "INPUT_" + m.group(1).replace("-", "_"), "\n".join(job["script"]))
            for name, job in body.items()
            if not name.startswith(".") and name not in ("variables", "default", "workflow")]


def test_the_scripts_pass_shellcheck() -> None:
    assert shellcheck((REPO / "ci" / "github" / "run.sh").read_text()) == ""
    assert shellcheck((REPO / "ci" / "image" / "entrypoint.sh").read_text(), "sh") == ""


@pytest.mark.parametrize("script", workflow_scripts() + template_scripts())
def test_inline_scripts_pass_shellcheck(script: str) -> None:
    assert shellcheck(script) == "", script


def test_shellcheck_finds_problems() -> None:
    assert "SC2086" in shellcheck('rm $1\n')

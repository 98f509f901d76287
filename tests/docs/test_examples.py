"""Every example in the docs and the README works: pipelines validate (or fail with the
message the page gives), platform files load, other YAML and JSON parse, shell passes
shellcheck. The comments that steer these checks are described in tests/docs/blocks.py."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.docs.blocks import REPO, Block, all_blocks, blocks
from tests.docs.conftest import cli

YAML = all_blocks("yaml")
SHELL = all_blocks("sh", "bash", "shell", "console")
SCRIPT_SUFFIXES = (".R", ".py", ".sh", ".Rmd", ".qmd", ".jl")
# Interactive commands: `cd dir || exit` would close the reader's terminal.
SHELLCHECK_EXCLUDE = "SC2164"
STUBS = {
    "renv.lock": '{"R": {"Version": "4.4.2"}, "Packages": {}}\n',
    "DESCRIPTION": "Package: example\nTitle: Example\nVersion: 0.0.1\nDepends: R (>= 4.0)\n",
    "Dockerfile": "FROM docker.io/library/python:3.12-slim\n",
}


def ids(found: list[Block]) -> list[str]:
    return [b.where for b in found]


def document(block: Block) -> object:
    try:
        return yaml.safe_load(block.text)
    except yaml.YAMLError as exc:
        pytest.fail(f"{block.where}: not YAML: {exc}")


def test_there_are_examples_of_each_kind() -> None:
    kinds = [d.get("kind") for d in map(document, YAML) if isinstance(d, dict)]
    assert kinds.count("Pipeline") >= 8
    assert kinds.count("Platform") >= 3
    assert sum("expect-invalid" in b.directives for b in YAML) >= 3
    assert len(SHELL) >= 40


@pytest.mark.parametrize("block", YAML, ids=ids(YAML))
def test_yaml_example(block: Block, tmp_path: Path) -> None:
    data = document(block)
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "Pipeline":
        check_pipeline(block, data, tmp_path)
    elif kind == "Platform":
        check_platform(block, tmp_path)
    else:
        assert "expect-invalid" not in block.directives, f"{block.where}: not a pipeline"


def check_pipeline(block: Block, data: dict, repo: Path) -> None:
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "pipeline.yaml").write_text(block.text, encoding="utf-8")
    for name, text in page_files(block.page).items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    for name in named_files(data):
        target = repo / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(STUBS.get(Path(name).name, ""), encoding="utf-8")
    args = ["validate", "pipeline.yaml"]
    if "platform" in block.directives:
        args += ["--platform", str(REPO / block.directives["platform"])]
    done = cli(*args, cwd=repo)
    expected = block.directives.get("expect-invalid")
    if expected is None:
        assert done.returncode == 0, f"{block.where}: {done.stdout}{done.stderr}"
    else:
        assert done.returncode == 1, f"{block.where}: {done.stdout}{done.stderr}"
        assert done.stdout.splitlines()[0] == expected, f"{block.where}: {done.stdout}"


def check_platform(block: Block, folder: Path) -> None:
    platform = folder / "platform.yaml"
    platform.write_text(block.text, encoding="utf-8")
    done = cli("platform", "manifests", "--platform", str(platform), cwd=folder)
    assert done.returncode == 0, f"{block.where}: {done.stdout}{done.stderr}"
    assert "kind: Namespace" in done.stdout


def page_files(page: Path) -> dict[str, str]:
    """Blocks of the page marked `<!-- file: NAME -->`."""
    return {b.directives["file"]: b.text for b in blocks(page) if "file" in b.directives}


def named_files(spec: dict) -> list[str]:
    """The files a pipeline names: its dependency file or Dockerfile, and its scripts."""
    image = spec.get("image") or {}
    names = [image[key] for key in ("dependencies", "dockerfile") if key in image]
    for task in spec.get("tasks") or []:
        command = task.get("command", [])
        words = shlex.split(command) if isinstance(command, str) else command
        names += [w for w in words if w.endswith(SCRIPT_SUFFIXES) and not w.startswith("/")]
    return names


JSON = all_blocks("json")


@pytest.mark.parametrize("block", JSON, ids=ids(JSON))
def test_json_example(block: Block) -> None:
    json.loads(block.text)


def shell_text(block: Block) -> str:
    """The commands of a block: a console transcript's `$ ` lines, a script's every line."""
    lines = block.text.splitlines()
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
        assert lines, f"{block.where}: a console block without a `$ ` command"
    else:
        lines = [line[2:] if line.startswith("$ ") else line for line in lines]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("block", SHELL, ids=ids(SHELL))
def test_shell_example(block: Block) -> None:
    if "shellcheck" in block.directives:
        assert block.directives["shellcheck"].startswith("skip "), block.where
        return
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (tests/run.sh installs it)")
    done = subprocess.run([shellcheck, "--shell=bash", "--exclude", SHELLCHECK_EXCLUDE, "-"],
                          input=shell_text(block), capture_output=True, text=True)
    assert done.returncode == 0, f"{block.where}:\n{done.stdout}{done.stderr}"

"""`pipelinectl run` against hostile repositories and careless input: signals stop and remove
every task container (exit 130/143, no traceback); a command missing from the image fails its
task and leaves no container; a NUL, a bad Secret key or value, a bad --env-file is exit 1
before any build or container; a committed symlink on the workspace's way is refused, with
nothing written or chmodded where it points."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pipelinectl.vocabulary import PIPELINE_LABEL
from tests.support.repo import git, write
from tests.support.services import BASE, DOCKER, HOST, PREFIX

PLATFORM = f"""\
apiVersion: pipelinectl/v1
kind: Platform
registry: {HOST}/{PREFIX}/hostile
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  default: {{namespace: default}}
"""
HEAD = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: {name}, team: default}}
image: {{dockerfile: Dockerfile}}
engine: airflow
defaults: {{timeout: 10m}}
tasks:
"""
SLEEPERS = """\
  - name: first
    command: [sleep, "300"]
  - name: second
    command: [sleep, "300"]
  - name: after
    command: [sh, -c, "echo never"]
    depends_on: [first]
"""
MISSING = """\
  - name: missing
    command: [{command}]
  - name: after
    command: [sh, -c, "echo never"]
    depends_on: [missing]
  - name: fine
    command: [sh, -c, "echo fine"]
"""
NUL_HINT = ("  hint: remove it: a process's command line and environment cannot hold a NUL "
            "character\n")
SYMLINK_HINT = ("  hint: remove the symlink (pipelinectl creates its own folders and files), or "
                "choose another output folder\n")


def pipeline_repo(folder: Path, tasks: str, name: str | None = None) -> tuple[Path, str]:
    """A committed repository with one pipeline (a fresh name: its containers are its own)."""
    name = name or f"h{uuid.uuid4().hex[:10]}"
    git(folder.parent, "init", "-q", str(folder))
    write(folder / "p" / "pipeline.yaml", HEAD.format(name=name) + tasks)
    write(folder / "p" / "Dockerfile", f"FROM {BASE}\nUSER 10001\n")
    write(folder / "platform.yaml", PLATFORM)
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", name)
    return folder, name


def containers(name: str, *flags: str) -> list[str]:
    done = subprocess.run([DOCKER, "ps", "-q", *flags, "--filter",
                           f"label={PIPELINE_LABEL}={name}"],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def start(repo: Path) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("PIPELINECTL_PLATFORM", "CI_PROJECT_PATH", "GITHUB_REPOSITORY")}
    return subprocess.Popen([sys.executable, "-m", "pipelinectl.cli", "run", "p", "--platform",
                             str(repo / "platform.yaml"), "--jobs", "2"], cwd=repo,
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_running(process: subprocess.Popen[str], name: str, count: int) -> None:
    """Until `count` containers of the pipeline run (polling docker, bounded)."""
    deadline = time.monotonic() + 240
    while len(containers(name)) < count:
        if process.poll() is not None:
            pytest.fail(f"run ended first: {process.communicate()}")
        assert time.monotonic() < deadline, "the task containers never started"
        time.sleep(0.05)


@pytest.fixture
def sleepers(services: None, tmp_path: Path) -> tuple[Path, str]:
    return pipeline_repo(tmp_path / "repo", SLEEPERS)


@pytest.mark.parametrize(("signals", "code", "name"), [
    ([signal.SIGTERM], 143, "SIGTERM"),
    ([signal.SIGINT, signal.SIGINT], 130, "SIGINT"),  # the second one during the cleanup
    ([signal.SIGINT, signal.SIGINT, signal.SIGINT], 130, "SIGINT"),
])
def test_a_signal_stops_and_removes_every_container(sleepers: tuple[Path, str],
                                                    signals: list[int], code: int,
                                                    name: str) -> None:
    repo, pipeline = sleepers
    process = start(repo)
    try:
        wait_running(process, pipeline, 2)
        for number in signals:
            process.send_signal(number)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == code, err
    assert err.endswith(f"\ninterrupted by {name}: the task containers were stopped and "
                        "removed\n"), err
    assert "Traceback" not in err
    assert "[after]" not in err  # no task starts after the signal
    assert out == ""
    assert containers(pipeline, "-a") == []


@pytest.mark.parametrize("command", ["nosuch-cmd", "/opt/nosuch"])
def test_a_command_not_in_the_image_fails_its_task(run, services: None, tmp_path: Path,
                                                   command: str) -> None:
    repo, pipeline = pipeline_repo(tmp_path / "repo", MISSING.format(command=command))
    result = run("run", "p", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert result.code == 1, result.err
    assert f"\n[missing] cannot start: the command {command!r} is not in the image\n" \
        in result.err
    assert "[after] skipped: an upstream task did not succeed\n" in result.err
    assert "[fine] fine\n" in result.err
    rows = [line.split() for line in result.out.splitlines()[1:4]]
    assert rows[0][:2] == ["missing", "failed"] and rows[0][-1] == "-"
    assert rows[1] == ["after", "skipped", "-", "-"]
    assert rows[2][:2] == ["fine", "succeeded"]
    assert containers(pipeline, "-a") == []


NUL_CASES = {
    "task env": ('  - name: t\n    command: [sh, -c, "true"]\n    env: {B: "1\\0"}\n',
                 ':10:14: tasks[0].env.B: contains a NUL character\n'),
    "defaults env": ('  - name: t\n    command: [sh, -c, "true"]\n',
                     ':6:35: defaults.env.A: contains a NUL character\n'),
    "command": ('  - name: t\n    command: [sh, -c, "a\\0b"]\n',
                ':9:23: tasks[0].command[2]: contains a NUL character\n'),
}


@pytest.mark.parametrize("case", sorted(NUL_CASES))
def test_a_nul_is_refused_before_any_build(run, services: None, tmp_path: Path,
                                           case: str) -> None:
    tasks, message = NUL_CASES[case]
    repo, pipeline = pipeline_repo(tmp_path / "repo", tasks)
    spec = repo / "p" / "pipeline.yaml"
    if case == "defaults env":
        spec.write_text(spec.read_text().replace("{timeout: 10m}",
                                                 '{timeout: 10m, env: {A: "x\\0"}}'))
    result = run("run", "p", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert (result.code, result.out) == (1, "")
    assert result.err == "p/pipeline.yaml" + message + NUL_HINT  # nothing built
    assert containers(pipeline, "-a") == []


SECRET_TASKS = '  - name: t\n    command: [sh, -c, "true"]\n    secrets: [db]\n'
NAME_HINT = "  hint: rename it: use letters, digits and '_', not starting with a digit\n"
SECRET_CASES = {
    "PATH": (b"/nowhere\n", "would replace the image's PATH\n"
             "  hint: rename it: each key becomes an environment variable, and the task's "
             "command is found through PATH\n"),
    "a=b": (b"value\n", "is not a valid environment variable name\n" + NAME_HINT),
    "1KEY": (b"value\n", "is not a valid environment variable name\n" + NAME_HINT),
    ".DS_Store": (b"\0\0", "is not a valid environment variable name\n" + NAME_HINT),
    "BINARY": (b"\xff\xfe\x00secret", "is not UTF-8 text\n"
               "  hint: a key that becomes an environment variable holds text; store binary "
               "data base64-encoded\n"),
    "NUL": (b"sec\0ret\n", "contains a NUL character\n" + NUL_HINT),
}


@pytest.mark.parametrize("key", sorted(SECRET_CASES))
def test_a_bad_secret_key_is_refused_before_any_build(run, services: None, tmp_path: Path,
                                                      key: str) -> None:
    repo, pipeline = pipeline_repo(tmp_path / "repo", SECRET_TASKS)
    value, expected = SECRET_CASES[key]
    secrets = tmp_path / "secrets"
    (secrets / "db").mkdir(parents=True)
    (secrets / "db" / "GOOD").write_text("fine\n")
    (secrets / "db" / key).write_bytes(value)
    result = run("run", "p", "--platform", str(repo / "platform.yaml"), "--secrets-dir",
                 str(secrets), cwd=repo)
    assert (result.code, result.out) == (1, "")
    assert result.err == f"{secrets / 'db'}: key file {key!r} {expected}"
    assert containers(pipeline, "-a") == []


def test_every_bad_secret_key_is_reported(run, tmp_path: Path) -> None:
    repo, _ = pipeline_repo(tmp_path / "repo", SECRET_TASKS)
    secrets = tmp_path / "secrets"
    (secrets / "db" / "..data").mkdir(parents=True)  # a Kubernetes mount's folder: skipped
    for key, (value, _) in SECRET_CASES.items():
        (secrets / "db" / key).write_bytes(value)
    result = run("run", "p", "--platform", str(repo / "platform.yaml"), "--secrets-dir",
                 str(secrets), cwd=repo)
    assert result.code == 1
    assert result.err == "".join(f"{secrets / 'db'}: key file {key!r} {expected}" for key,
                                 (_, expected) in sorted(SECRET_CASES.items(),
                                                         key=lambda c: f"{c[0]!r} {c[1][1]}"))


ENV_CASES = {
    "missing": (None, "{path}: cannot read the env file: No such file or directory\n"
                      "  hint: --env-file takes a file of KEY=VALUE lines\n"),
    "folder": ("folder", "{path}: cannot read the env file: Is a directory\n"
                         "  hint: --env-file takes a file of KEY=VALUE lines\n"),
    "binary": (b"A=1\nB=\x89PNG\r\n", "{path}:2:3: not UTF-8 text\n"
                                      "  hint: an env file holds KEY=VALUE lines of UTF-8 "
                                      "text\n"),
    "nul": (b"# ok\nA=x\0y\n", "{path}:2:4: the value of A contains a NUL character\n"
            + NUL_HINT),
    "names": (b"a-b=1\n  1X=2\nPATH2=ok\nno equals\n\xc3\xa9=3\n",
              "{path}:1:1: 'a-b' is not a valid environment variable name\n"
              "  hint: use letters, digits and '_', not starting with a digit\n"
              "{path}:2:3: '1X' is not a valid environment variable name\n"
              "  hint: use letters, digits and '_', not starting with a digit\n"
              "{path}:4:1: not a KEY=VALUE line\n"
              "  hint: write one KEY=VALUE per line; # starts a comment\n"
              "{path}:5:1: 'é' is not a valid environment variable name\n"
              "  hint: use letters, digits and '_', not starting with a digit\n"),
}


@pytest.mark.parametrize("case", sorted(ENV_CASES))
def test_a_bad_env_file_is_refused_before_any_build(run, tmp_path: Path, case: str) -> None:
    repo, _ = pipeline_repo(tmp_path / "repo", '  - name: t\n    command: [sh, -c, "true"]\n')
    content, expected = ENV_CASES[case]
    path = tmp_path / "env"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    result = run("run", "p", "--platform", str(repo / "platform.yaml"), "--env-file",
                 str(path), cwd=repo)
    assert (result.code, result.out) == (1, "")
    assert result.err == expected.format(path=path)  # nothing built, no traceback
    assert not (repo / ".pipelinectl").exists()


LINKS = [".pipelinectl", ".pipelinectl/runs", ".pipelinectl/runs/{name}",
         ".pipelinectl/runs/{name}/workspace"]


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("how", ["absolute", "relative", "dangling"])
def test_a_committed_symlink_on_the_workspace_path_is_refused(run, tmp_path: Path, link: str,
                                                              how: str) -> None:
    name = f"h{uuid.uuid4().hex[:10]}"
    repo = tmp_path / "repo"
    at = repo / link.format(name=name)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine\n")
    outside.chmod(0o750)
    target = outside if how != "dangling" else tmp_path / "nothing-here"
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(target if how != "relative" else os.path.relpath(target, at.parent))
    before = outside.stat()
    pipeline_repo(repo, '  - name: t\n    command: [sh, -c, "true"]\n', name)
    assert git(repo, "ls-files", "-s", link.format(name=name)).startswith("120000 ")
    result = run("run", "p", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert (result.code, result.out) == (1, "")
    assert result.err == (f"error: {at} is a symlink: pipelinectl follows no symlink in the "
                          f"folders it writes or reads for itself\n{SYMLINK_HINT}")
    after = outside.stat()
    assert (after.st_mtime_ns, stat.S_IMODE(after.st_mode)) == \
        (before.st_mtime_ns, 0o750)
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "nothing-here").exists()

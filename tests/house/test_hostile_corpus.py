# ruff: noqa: E501 - a table of whole messages, one case per entry
"""The hostile-input corpus (issue 13): one table of repositories and command lines that a
merge request or a careless user can produce, each with the exit code and the message the
CLI must give. Every case runs the real CLI in a process of its own, in a committed git
repository beside a folder `outside/` of sentinel files, and must:

- exit with the expected code (never 3, never a traceback) and print the expected line;
- never print the sentinels' content (a symlink must not be read through);
- leave `outside/` exactly as it was (no file written, chmodded or deleted there);
- finish in time (a FIFO must not hang a command).

The cases that deliver (deploy) need dockerd and the registry; the others need nothing.
The classes each case stands for, and the tests that go deeper, are listed in
docs/explanation/security.md.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX

SENTINEL = "OUTSIDE-SENTINEL-7f3a"
PYTHON_SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: etl, team: default}
image: {language: python, version: "3.12", dependencies: requirements.txt}
schedule: "0 7 * * *"
engine: ENGINE
tasks:
  - name: fetch
    command: [python, fetch.py]
"""
DOCKERFILE_SPEC = PYTHON_SPEC.replace(
    '{language: python, version: "3.12", dependencies: requirements.txt}',
    "{dockerfile: Dockerfile}")

LINKED = " is a symlink: pipelinectl follows no symlink in the folders it writes or reads for itself"
NOT_REGULAR = ": is a symlink: pipelinectl reads only regular files here"
Setup = Callable[[Path, Path], None]  # (repo, outside)


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # {repo} and {outside} are filled in
    code: int
    line: str  # a whole line of the output that must be there ({repo}, {outside} filled in)
    setup: Setup | None = None
    engine: str = "cronjob"
    docker: bool = False
    absent: tuple[str, ...] = ()  # never anywhere in the output
    commit: bool = True  # commit what setup made (a FIFO cannot be committed)


# --- setups --------------------------------------------------------------------------------


def symlink(link: str, to: str) -> Setup:
    """`link` (repo-relative) -> `to` ({outside} filled in), its parents made."""
    def setup(repo: Path, outside: Path) -> None:
        path = repo / link
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(to.format(outside=outside, repo=repo))
    return setup


def fifo(name: str) -> Setup:
    def setup(repo: Path, outside: Path) -> None:
        path = repo / name
        path.unlink(missing_ok=True)
        os.mkfifo(path)
    return setup


def directory(name: str) -> Setup:
    def setup(repo: Path, outside: Path) -> None:
        path = repo / name
        path.unlink()
        write(path / "x", "x\n")
    return setup


def spec(old: str, new: str) -> Setup:
    """Replace `old` (which must be there) in etl/pipeline.yaml."""
    def setup(repo: Path, outside: Path) -> None:
        path = repo / "etl" / "pipeline.yaml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
    return setup


def raw_spec(data: bytes) -> Setup:
    def setup(repo: Path, outside: Path) -> None:
        (repo / "etl" / "pipeline.yaml").write_bytes(data)
    return setup


def put(name: str, data: str | bytes) -> Setup:
    def setup(repo: Path, outside: Path) -> None:
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return setup


def dockerfile(text: str) -> Setup:
    def setup(repo: Path, outside: Path) -> None:
        spec_path = repo / "etl" / "pipeline.yaml"
        spec_path.write_text(DOCKERFILE_SPEC.replace("ENGINE", "cronjob"))
        write(repo / "etl" / "Dockerfile", text + ("USER 10001\n" if "USER" not in text else ""))
    return setup


def both(*setups: Setup) -> Setup:
    def setup(repo: Path, outside: Path) -> None:
        for one in setups:
            one(repo, outside)
    return setup


def anchors(size: int, aliases: int, tasks: int) -> Setup:
    """The review's amplification: one big anchor in defaults.env, aliased many times, over a
    chain of tasks."""
    def setup(repo: Path, outside: Path) -> None:
        env = "".join(f"    K{i}: *big\n" for i in range(1, aliases))
        chain = "".join(f"  - {{name: t{i}, command: [python, fetch.py]"
                        f"{f', depends_on: [t{i - 1}]' if i else ''}}}\n" for i in range(tasks))
        text = (PYTHON_SPEC.replace("ENGINE", "cronjob").split("tasks:")[0]
                + f"defaults:\n  env:\n    K0: &big \"{'a' * size}\"\n{env}tasks:\n{chain}")
        (repo / "etl" / "pipeline.yaml").write_text(text)
    return setup


def nested_renv(depth: int) -> Setup:
    def setup(repo: Path, outside: Path) -> None:
        (repo / "etl" / "pipeline.yaml").write_text(
            PYTHON_SPEC.replace("ENGINE", "cronjob").replace(
                '{language: python, version: "3.12", dependencies: requirements.txt}',
                '{language: r, version: "4.4", dependencies: renv.lock}'))
        write(repo / "etl" / "renv.lock", "[" * depth + "]" * depth)
    return setup


def state_object(text: str | bytes) -> Setup:
    """An object file in the local platform's Kubernetes folder."""
    return put(".pipelinectl/kubernetes/default/ConfigMap/pipelinectl-state-etl.yaml", text)


def secret(name: str, key: str, value: bytes) -> Setup:
    def setup(repo: Path, outside: Path) -> None:
        path = outside.parent / "secrets" / name / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value)
    return setup


DEPLOY = ("deploy", "--platform", "platform.yaml")
DEPLOY_PLATFORM = f"""\
apiVersion: pipelinectl/v1
kind: Platform
registry: {HOST}/{PREFIX}/corpus
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  default: {{namespace: default, service_account: default}}
airflow:
  dags: {{directory: .pipelinectl/airflow/dags}}
  task_runner: docker
kubernetes: {{directory: .pipelinectl/kubernetes}}
environments:
  production: {{branch: main}}
"""


def deployable(engine: str) -> Setup:
    """A pipeline that builds from the test base image, and a platform like the local one."""
    def setup(repo: Path, outside: Path) -> None:
        (repo / "etl" / "pipeline.yaml").write_text(DOCKERFILE_SPEC.replace("ENGINE", engine))
        write(repo / "etl" / "Dockerfile", f"FROM {BASE}\nCOPY fetch.py /app/\nUSER 10001\n")
        write(repo / "platform.yaml", DEPLOY_PLATFORM)
    return setup


SECRET_SPEC = spec("    command: [python, fetch.py]\n",
                   "    command: [python, fetch.py]\n    secrets: [db]\n")
SECRETS = ("--secrets-dir", "{outside}/../secrets")


# --- the corpus ----------------------------------------------------------------------------

CASES: list[Case] = [
    # 1. pipelinectl's own folders reached through a committed symlink
    Case("render-dot-pipelinectl-symlink", ("render", "--image-placeholder"), 1, "error: {repo}/.pipelinectl" + LINKED,
         symlink(".pipelinectl", "{outside}")),
    Case("render-render-dir-symlink", ("render", "--image-placeholder"), 1, "error: {repo}/.pipelinectl/render" + LINKED,
         symlink(".pipelinectl/render", "{outside}")),
    Case("render-kubernetes-dir-symlink", ("render", "--image-placeholder"), 1, "error: {repo}/.pipelinectl/render/kubernetes" + LINKED,
         symlink(".pipelinectl/render/kubernetes", "{outside}")),
    Case("render-namespace-dir-symlink", ("render", "--image-placeholder"), 1, "error: {repo}/.pipelinectl/render/kubernetes/default" + LINKED,
         symlink(".pipelinectl/render/kubernetes/default", "{outside}")),
    Case("render-airflow-team-dir-symlink", ("render", "--image-placeholder"), 1, "error: {repo}/.pipelinectl/render/airflow/default" + LINKED,
         symlink(".pipelinectl/render/airflow/default", "{outside}"), engine="airflow"),
    Case("render-relative-symlink", ("render", "--image-placeholder"), 1, "error: {repo}/.pipelinectl" + LINKED,
         symlink(".pipelinectl", "../outside")),
    Case("render-output-symlink", ("render", "--image-placeholder", "-o", "out"), 1, "error: {repo}/out" + LINKED,
         symlink("out", "{outside}")),
    Case("render-generated-file-symlink", ("render", "--image-placeholder"), 0,
         ".pipelinectl/render/kubernetes/default/etl.yaml",  # the link is replaced, not followed
         symlink(".pipelinectl/render/kubernetes/default/etl.yaml", "{outside}/keep.yaml")),
    Case("run-runs-dir-symlink", ("run", "etl"), 1, "error: {repo}/.pipelinectl/runs" + LINKED,
         symlink(".pipelinectl/runs", "{outside}")),
    Case("run-workspace-symlink", ("run", "etl"), 1, "error: {repo}/.pipelinectl/runs/etl/workspace" + LINKED,
         symlink(".pipelinectl/runs/etl/workspace", "{outside}")),
    Case("status-kubernetes-dir-symlink", ("status",), 1, "error: {repo}/.pipelinectl/kubernetes" + LINKED,
         symlink(".pipelinectl/kubernetes", "{outside}")),
    Case("plan-kubernetes-dir-symlink", ("plan",), 1, "error: {repo}/.pipelinectl/kubernetes" + LINKED,
         symlink(".pipelinectl/kubernetes", "{outside}"), docker=True),
    Case("history-kubernetes-dir-symlink", ("history", "etl"), 1, "error: {repo}/.pipelinectl/kubernetes" + LINKED,
         symlink(".pipelinectl/kubernetes", "{outside}")),
    Case("deploy-kubernetes-dir-symlink", DEPLOY, 1, "error: {repo}/.pipelinectl/kubernetes" + LINKED,
         both(deployable("cronjob"), symlink(".pipelinectl/kubernetes", "{outside}")),
         docker=True),
    Case("deploy-namespace-dir-symlink", DEPLOY, 1, "error: {repo}/.pipelinectl/kubernetes/default" + LINKED,
         both(deployable("cronjob"), symlink(".pipelinectl/kubernetes/default", "{outside}")),
         docker=True),
    Case("deploy-dags-dir-symlink", DEPLOY, 1, "error: {repo}/.pipelinectl/airflow/dags" + LINKED,
         both(deployable("airflow"), symlink(".pipelinectl/airflow/dags", "{outside}")),
         docker=True),
    Case("deploy-dags-parent-symlink", DEPLOY, 1, "error: {repo}/.pipelinectl/airflow" + LINKED,
         both(deployable("airflow"), symlink(".pipelinectl/airflow", "../outside")),
         docker=True),
    # 2. pipeline.yaml, dependency files and Dockerfiles that are not regular files
    Case("spec-symlink-to-etc-passwd", ("validate", "etl"), 1, "etl/pipeline.yaml" + NOT_REGULAR,
         both(lambda r, o: (r / "etl" / "pipeline.yaml").unlink(),
              symlink("etl/pipeline.yaml", "/etc/passwd")), absent=("root:x:0:0",)),
    Case("spec-symlink-to-outside", ("validate", "etl"), 1, "etl/pipeline.yaml" + NOT_REGULAR,
         both(lambda r, o: (r / "etl" / "pipeline.yaml").unlink(),
              symlink("etl/pipeline.yaml", "{outside}/secret.txt"))),
    Case("spec-symlink-inside-repo", ("validate", "decoy"), 1, "decoy/pipeline.yaml" + NOT_REGULAR,
         both(put("decoy/fetch.py", "print('decoy')\n"),
              put("decoy/requirements.txt", "six\n"),
              symlink("decoy/pipeline.yaml", "../etl/pipeline.yaml"))),
    Case("spec-fifo", ("validate", "etl"), 1, "etl/pipeline.yaml: is a FIFO, not a regular file: pipelinectl reads only regular files here", fifo("etl/pipeline.yaml"), commit=False),
    Case("spec-directory", ("validate", "etl/pipeline.yaml"), 1, "error: no pipeline.yaml found under etl/pipeline.yaml",
         directory("etl/pipeline.yaml")),
    Case("spec-symlink-to-device", ("validate", "etl"), 1, "etl/pipeline.yaml" + NOT_REGULAR,
         both(lambda r, o: (r / "etl" / "pipeline.yaml").unlink(),
              symlink("etl/pipeline.yaml", "/dev/zero"))),
    Case("deps-symlink-to-etc-shadow", ("validate", "etl"), 1, "etl/pipeline.yaml:4:58: image.dependencies: 'requirements.txt' is a symlink to a place outside the repository",
         both(lambda r, o: (r / "etl" / "requirements.txt").unlink(),
              symlink("etl/requirements.txt", "/etc/shadow"))),
    Case("deps-fifo", ("validate", "etl"), 1, "etl/pipeline.yaml:4:58: image.dependencies: 'etl/requirements.txt' is a FIFO, not a regular file", fifo("etl/requirements.txt"), commit=False),
    Case("dockerfile-symlink-outside", ("validate", "etl"), 1, "etl/pipeline.yaml:4:21: image.dockerfile: 'Dockerfile' is a symlink to a place outside the repository",
         both(dockerfile("FROM docker.io/library/python:3.12-slim\n"),
              lambda r, o: (r / "etl" / "Dockerfile").unlink(),
              symlink("etl/Dockerfile", "{outside}/secret.txt"))),
    Case("dockerfile-fifo", ("validate", "etl"), 1, "etl/pipeline.yaml:4:21: image.dockerfile: 'etl/Dockerfile' is a FIFO, not a regular file",
         both(dockerfile("FROM docker.io/library/python:3.12-slim\n"),
              fifo("etl/Dockerfile")), commit=False),
    Case("pipeline-folder-symlink", ("validate", "linked"), 1, "linked/pipeline.yaml: the folder linked is a symlink: a pipeline's folder must be a real folder of the repository", symlink("linked", "etl")),
    Case("pipeline-folder-symlink-outside", ("validate", "linked"), 1, "linked/pipeline.yaml: the folder linked is a symlink: a pipeline's folder must be a real folder of the repository",
         symlink("linked", "{outside}")),
    # 3. bytes and characters
    Case("spec-not-utf8", ("validate", "etl"), 1, "etl/pipeline.yaml:3:7: file is not valid UTF-8 (byte 0xff)",
         raw_spec(b"apiVersion: pipelinectl/v1\nkind: Pipeline\nname: \xff\xfe\n")),
    Case("spec-control-char-in-comment", ("validate", "etl"), 1, "etl/pipeline.yaml:7:10: character '\\x07' (U+0007) is not allowed in YAML, not even in a comment",
         spec("tasks:\n", "# a bell \x07 in a comment\ntasks:\n")),
    Case("spec-nul-escape-in-env", ("validate", "etl"), 1, "etl/pipeline.yaml:7:21: defaults.env.A: contains a NUL character",
         spec("tasks:\n", 'defaults: {env: {A: "x\\0y"}}\ntasks:\n')),
    Case("spec-nul-escape-in-command", ("validate", "etl"), 1, "etl/pipeline.yaml:9:23: tasks[0].command[1]: contains a NUL character",
         spec("[python, fetch.py]", '[python, "fetch.py\\0"]')),
    Case("spec-deep-nesting", ("validate", "etl"), 1, "etl/pipeline.yaml:7:72: YAML nesting is deeper than 64 levels",
         spec("tasks:\n", "x-deep: " + "[" * 5000 + "]" * 5000 + "\ntasks:\n")),
    Case("spec-billion-laughs", ("validate", "etl"), 1, "etl/pipeline.yaml:11:37: YAML aliases expand to over 10,000 values",
         spec("tasks:\n", "".join(
             f"x-l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else 'lol'}]\n"
             for i in range(9)) + "tasks:\n")),
    Case("spec-env-amplification", ("validate", "etl"), 1, "etl/pipeline.yaml:39:1: tasks: the pipeline renders to a CronJob of at least 93.8 MiB; Kubernetes stores at most 1.5 MiB per object",
         anchors(32 * 1024, 30, 100)),
    Case("renv-lock-deep", ("validate", "etl"), 1, "etl/renv.lock:1:65: renv.lock nests deeper than 64 levels", nested_renv(100_000)),
    Case("renv-lock-not-utf8", ("validate", "etl"), 1, "etl/renv.lock:1:8: the dependency file is not valid UTF-8 (byte 0xff)",
         both(nested_renv(1), put("etl/renv.lock", b"{\"R\": \"\xff\"}"))),
    Case("unknown-key-with-newline", ("validate", "etl"), 1, "etl/pipeline.yaml:7:1: the top level: unknown key 'bad\\nkey'",
         spec("tasks:\n", '"bad\\nkey": 1\ntasks:\n'), absent=("\nkey",)),
    Case("name-bidi-override", ("validate", "etl"), 1, "etl/pipeline.yaml:3:18: metadata.name: 'etl\\u202egnp' is not a DNS-1123 label: '\\u202e' (U+202E RIGHT-TO-LEFT OVERRIDE) is an invisible character that reorders how text is shown",
         spec("name: etl,", "name: \"etl\\u202egnp\",")),
    Case("name-zero-width", ("validate", "etl"), 1, "etl/pipeline.yaml:3:18: metadata.name: 'e\\u200btl' is not a DNS-1123 label: '\\u200b' (U+200B ZERO WIDTH SPACE) is an invisible or space character",
         spec("name: etl,", "name: \"e\\u200btl\",")),
    Case("name-cyrillic-lookalike", ("validate", "etl"), 1, "etl/pipeline.yaml:3:18: metadata.name: 'еtl' is not a DNS-1123 label: 'е' (U+0435 CYRILLIC SMALL LETTER IE) looks like Latin 'e' but is not",
         spec("name: etl,", "name: \"\\u0435tl\",")),
    Case("name-path-traversal", ("validate", "etl"), 1, "etl/pipeline.yaml:3:18: metadata.name: '../../x' is not a DNS-1123 label",
         spec("name: etl,", "name: ../../x,")),
    Case("team-path-traversal", ("validate", "etl"), 1, "etl/pipeline.yaml:3:29: metadata.team: '../x' is not a DNS-1123 label",
         spec("team: default", "team: ../x")),
    # 4. numbers
    Case("timeout-huge", ("validate", "etl"), 1, "etl/pipeline.yaml:7:21: defaults.timeout: '99999999999999999999d' is longer than 30d, the most pipelinectl allows",
         spec("tasks:\n", "defaults: {timeout: 99999999999999999999d}\ntasks:\n")),
    Case("cpu-1e308", ("validate", "etl"), 1, "etl/pipeline.yaml:7:29: defaults.resources.cpu: '1e308' is more CPU than Kubernetes can represent",
         spec("tasks:\n", "defaults: {resources: {cpu: \"1e308\"}}\ntasks:\n")),
    Case("memory-huge", ("validate", "etl"), 1, "etl/pipeline.yaml:7:32: defaults.resources.memory: '99999999999Ei' is more memory than Kubernetes can represent",
         spec("tasks:\n", "defaults: {resources: {memory: 99999999999Ei}}\ntasks:\n")),
    Case("cron-day-of-week-7", ("validate", "etl"), 1, "etl/pipeline.yaml:5:11: schedule: '0 7 * * 7': day-of-week 7 is out of range (0-6)",
         spec('"0 7 * * *"', '"0 7 * * 7"')),
    Case("cron-reversed-range", ("validate", "etl"), 1, "etl/pipeline.yaml:5:11: schedule: '1-0 * * * *': minute range '1-0' ends before it starts",
         spec('"0 7 * * *"', '"1-0 * * * *"')),
    # 5. credentials in the spec
    Case("credential-pgpassword", ("validate", "etl"), 1, "etl/pipeline.yaml:7:30: defaults.env.PGPASSWORD: value looks like a credential (the variable is named PGPASSWORD); credentials must not be written in pipeline.yaml",
         spec("tasks:\n", "defaults: {env: {PGPASSWORD: hunter2hunter2}}\ntasks:\n"),
         absent=("hunter2hunter2",)),
    Case("credential-stripe-key", ("validate", "etl"), 1, "etl/pipeline.yaml:9:33: tasks[0].command[2]: this word looks like a Stripe secret key; credentials must not be written in pipeline.yaml",
         spec("[python, fetch.py]", "[python, fetch.py, sk_live_4eC39HqLyjWDarjtT1zdp7dc]"),
         absent=("4eC39HqLyjWDarjtT1zdp7dc",)),
    Case("credential-azure-account-key", ("validate", "etl"), 1, "etl/pipeline.yaml:7:25: defaults.env.STORE: value looks like a password or token assignment; credentials must not be written in pipeline.yaml",
         spec("tasks:\n", "defaults: {env: {STORE: \"DefaultEndpointsProtocol=https;"
                          "AccountName=x;AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"}}\n"
                          "tasks:\n")),
    # 6. Dockerfile policy
    Case("dockerfile-escape-directive", ("validate", "etl"), 1, "etl/Dockerfile:3:1: FROM evil.example/x: base image registry is not allowed by the platform",
         dockerfile("# escape=`\nFROM docker.io/library/python:3.12-slim AS a \\\n"
                    "FROM evil.example/x\n")),
    Case("dockerfile-syntax-directive", ("validate", "etl"), 1, "etl/Dockerfile:1:1: # syntax=evil.example/frontend: frontend image registry is not allowed by the platform",
         dockerfile("# syntax=evil.example/frontend\nFROM docker.io/library/python:3.12-slim\n")),
    Case("dockerfile-copy-from-image", ("validate", "etl"), 1, "etl/Dockerfile:2:1: COPY --from=evil.example/x: image registry is not allowed by the platform",
         dockerfile("FROM docker.io/library/python:3.12-slim\n"
                    "COPY --from=evil.example/x /bin/sh /bin/sh\n")),
    Case("dockerfile-run-mount-from-image", ("validate", "etl"), 1, "etl/Dockerfile:2:1: RUN --mount from=evil.example/x: image registry is not allowed by the platform",
         dockerfile("FROM docker.io/library/python:3.12-slim\n"
                    "RUN --mount=type=bind,from=evil.example/x,target=/x true\n")),
    Case("dockerfile-arg-in-from", ("validate", "etl"), 1, "etl/Dockerfile:2:1: FROM evil.example/x: base image registry is not allowed by the platform",
         dockerfile("ARG BASE=evil.example/x\nFROM $BASE\n")),
    Case("dockerignore-exponential", ("validate", "etl"), 0, "1 pipeline file valid",
         both(dockerfile("FROM docker.io/library/python:3.12-slim\nCOPY . /app\n"),
              put("etl/.dockerignore", "*a" * 40 + "*b\n"),
              put("etl/" + "a" * 200, "x\n"))),
    # 7. merge-request text in plan output
    Case("plan-markdown-quick-actions", ("plan", "--format", "markdown"), 0, "+              /approve",
         spec("[python, fetch.py]",
                     '[python, "fetch.py\\n/approve\\n/merge\\n::error file=README.md,line=1::x"]'),
         docker=True, absent=("\n/approve", "\n/merge", "\n::error")),
    # 8. command-line options
    Case("validate-output-is-directory", ("validate", "etl", "-o", "{outside}"), 1, "error: cannot write {outside}: Is a directory"),
    Case("validate-output-disk-full", ("validate", "etl", "-o", "/dev/full"), 1, "error: cannot write /dev/full: No space left on device"),
    Case("plan-output-disk-full", ("plan", "-o", "/dev/full"), 1, "error: cannot write /dev/full: No space left on device", docker=True),
    Case("render-output-is-file", ("render", "--image-placeholder", "-o", "etl/fetch.py"),
         1, "error: {repo}/etl/fetch.py is not a folder"),
    Case("plan-against-malformed-dag", ("plan", "--against", "old"), 1, "error: old/airflow/default/default__etl.py: not a file pipelinectl rendered (not valid Python: invalid syntax on line 1)",
         put("old/airflow/default/default__etl.py", "def (:\n"), engine="airflow",
         docker=True),
    Case("plan-against-bad-object", ("plan", "--against", "old"), 1, "error: old/kubernetes/default/etl.yaml: not a file pipelinectl rendered (no 'spec' field)",
         put("old/kubernetes/default/etl.yaml", "metadata: 5\n"), docker=True),
    Case("plan-against-missing", ("plan", "--against", "nope"), 1, "error: --against nope: not a folder", docker=True),
    Case("init-name-traversal", ("init", "--language", "python", "--name", "../../x", "new"),
         1, "error: --name '../../x' is not a pipeline name"),
    Case("init-schema-url-newline", ("init", "--language", "python", "--schema-url",
                                     "https://x\nimage: {{dockerfile: /etc/passwd}}", "new"),
         1, "error: --schema-url: a URL on one line, without control characters"),
    Case("init-into-existing-pipeline", ("init", "--language", "python", "etl"), 1, "error: etl/pipeline.yaml already exists"),
    Case("init-into-symlink", ("init", "--language", "python", "new"), 1, "error: {repo}/new" + LINKED,
         symlink("new", "{outside}")),
    Case("platform-missing", ("validate", "etl", "--platform", "/nonexistent.yaml"), 1, "/nonexistent.yaml: cannot read file: No such file or directory"),
    Case("platform-control-char", ("validate", "etl", "--platform", "p.yaml"), 1, "p.yaml:3:11: registry: 'r.example\\n::error::x' is not a registry address: '\\n' is a control character (U+000A line feed)",
         put("p.yaml", "apiVersion: pipelinectl/v1\nkind: Platform\n"
                       "registry: \"r.example\\n::error::x\"\n"
                       "teams: {default: {namespace: default}}\n")),
    Case("run-env-file-missing", ("run", "etl", "--env-file", "nope.env"), 1, "nope.env: cannot read the env file: No such file or directory"),
    Case("run-env-file-directory", ("run", "etl", "--env-file", "{outside}"), 1, "{outside}: cannot read the env file: Is a directory"),
    Case("run-env-file-binary", ("run", "etl", "--env-file", "bin.env"), 1, "bin.env:1:3: not UTF-8 text",
         put("bin.env", b"A=\xff\x00\n")),
    Case("run-secret-key-not-env-name", ("run", "etl", *SECRETS), 1, "{outside}/../secrets/db: key file 'a=b' is not a valid environment variable name",
         both(SECRET_SPEC, secret("db", "a=b", b"x\n"))),
    Case("run-secret-not-utf8", ("run", "etl", *SECRETS), 1, "{outside}/../secrets/db: key file 'PASSWORD' is not UTF-8 text",
         both(SECRET_SPEC, secret("db", "PASSWORD", b"\xff\xfe\n"))),
    Case("run-secret-nul", ("run", "etl", *SECRETS), 1, "{outside}/../secrets/db: key file 'PASSWORD' contains a NUL character",
         both(SECRET_SPEC, secret("db", "PASSWORD", b"a\x00b\n"))),
    # 9. hand-edited objects on the directory platform
    Case("object-bad-yaml", ("status",), 1, "error: {repo}/.pipelinectl/kubernetes/default/ConfigMap/pipelinectl-state-etl.yaml: not a YAML file pipelinectl wrote (edited by hand?)", state_object("metadata: [\n")),
    Case("object-metadata-not-a-map", ("status",), 1, "error: {repo}/.pipelinectl/kubernetes/default/ConfigMap/pipelinectl-state-etl.yaml: not the ConfigMap default/pipelinectl-state-etl its path says (edited by hand?)", state_object("metadata: 5\n")),
    Case("object-not-utf8", ("status",), 1, "error: {repo}/.pipelinectl/kubernetes/default/ConfigMap/pipelinectl-state-etl.yaml: not a YAML file pipelinectl wrote (edited by hand?)", state_object(b"metadata: {name: \xff}\n")),
    Case("object-cronjob-bad-yaml", ("status",), 0, "etl: not deployed (namespace default)",  # no state: the CronJob is not read
         put(".pipelinectl/kubernetes/default/CronJob/etl.yaml", "spec: {\n")),
    Case("object-symlink", ("status",), 1, "error: {repo}/.pipelinectl/kubernetes/default/ConfigMap/pipelinectl-state-etl.yaml" + LINKED,
         symlink(".pipelinectl/kubernetes/default/ConfigMap/pipelinectl-state-etl.yaml",
                 "{outside}/keep.yaml")),
]


# --- the harness ---------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """(repo, outside): a committed pipeline on main, and a folder of sentinels beside it."""
    outside = tmp_path / "outside"
    write(outside / "keep.yaml", f"# {SENTINEL}\nkind: ConfigMap\n")
    write(outside / "keep.py", f"# {SENTINEL}\n")
    write(outside / "secret.txt", f"password={SENTINEL}\n")
    write(outside / "pipeline.yaml", f"# {SENTINEL}\n" + PYTHON_SPEC.replace("ENGINE", "airflow"))
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write(repo / "etl" / "requirements.txt", "six==1.16.0\n")
    write(repo / "etl" / "fetch.py", "print('fetch')\n")
    return repo, outside


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every path below `folder` and the folder itself: mode (type and permissions), content."""
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        found[path.relative_to(folder).as_posix()] = (
            info.st_mode, path.read_bytes() if stat.S_ISREG(info.st_mode) else b"")
    return found


def check(case: Case, world: tuple[Path, Path]) -> None:
    repo, outside = world
    write(repo / "etl" / "pipeline.yaml", PYTHON_SPEC.replace("ENGINE", case.engine))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "etl")
    if case.setup is not None:
        case.setup(repo, outside)
    if case.commit:
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", case.id, "--allow-empty")
    before = snapshot(outside)
    argv = [a.format(repo=repo, outside=outside) for a in case.argv]
    env = {k: v for k, v in os.environ.items()
           if k not in {"PIPELINECTL_PLATFORM", "CI_PROJECT_PATH", "GITHUB_REPOSITORY",
                        "GITHUB_ACTIONS", "GITLAB_CI"}}
    cli = str(Path(sys.executable).parent / "pipelinectl")
    done = subprocess.run([cli, *argv], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    output = done.stdout + done.stderr
    shown = f"exit {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    assert done.returncode == case.code, shown
    assert "Traceback" not in output, shown
    assert SENTINEL not in output, shown
    for text in case.absent:
        assert text not in output, shown
    line = case.line.format(repo=repo, outside=outside)
    assert line in output.splitlines(), shown
    assert snapshot(outside) == before, "outside/ changed"


def test_the_corpus_has_sixty_cases_with_distinct_names() -> None:
    names = [case.id for case in CASES]
    assert len(names) >= 60 and len(set(names)) == len(names)


@pytest.mark.parametrize("case", [c for c in CASES if not c.docker], ids=lambda c: c.id)
def test_hostile_case(case: Case, world: tuple[Path, Path]) -> None:
    check(case, world)


@pytest.mark.parametrize("case", [c for c in CASES if c.docker], ids=lambda c: c.id)
def test_hostile_case_that_builds(case: Case, services: None, world: tuple[Path, Path]
                                  ) -> None:
    check(case, world)

"""The inputs of a local run, all checked before any container exists: the Secrets a run
reads from a folder (one folder per Secret, one file per key; values never printed), an
--env-file, and each task's whole environment (validate refuses a NUL in the spec itself)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pipelinectl.errors import Diagnostic, InvalidInput, Location, UserError
from pipelinectl.spec.checks import NUL_HINT
from pipelinectl.spec.model import Pipeline, Task
from pipelinectl.vocabulary import ENV_PIPELINE, ENV_REVISION, ENV_RUN_ID, ENV_TASK, ENV_TEAM

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NAME_HINT = "use letters, digits and '_', not starting with a digit"
LINE_HINT = "write one KEY=VALUE per line; # starts a comment"

Problem = tuple[str, str]  # what is wrong, the hint


def read_secrets(folder: Path | None, names: set[str]) -> dict[str, dict[str, str]]:
    """Secrets the tasks name, from <folder>/<secret>/<KEY> files."""
    found: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    problems: list[Diagnostic] = []
    for name in sorted(names):
        secret_dir = folder / name if folder else None
        if secret_dir is None or not secret_dir.is_dir():
            missing.append(name)
            continue
        found[name] = _read_secret(secret_dir, problems)
    if missing:
        raise UserError(f"Secrets not found for a local run: {', '.join(missing)}",
                        hint="pass --secrets-dir DIR with one folder per Secret and one file "
                             "per key (DIR/<secret>/<KEY>), as Kubernetes mounts them; see "
                             "docs/how-to/secrets.md#run-locally-with-secrets")
    if problems:
        raise InvalidInput(problems)
    return found


def _read_secret(folder: Path, problems: list[Diagnostic]) -> dict[str, str]:
    values = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue  # a folder (Kubernetes mounts keep theirs in ..data)
        value = _key_problem(path.name) or _secret_value(path)
        if isinstance(value, str):
            values[path.name] = value
        else:
            problems.append(Diagnostic(Location(str(folder)), f"key file {path.name!r} "
                                       f"{value[0]}", value[1]))
    return values


def _key_problem(key: str) -> Problem | None:
    if not ENV_NAME.fullmatch(key):
        return "is not a valid environment variable name", f"rename it: {NAME_HINT}"
    if key == "PATH":
        return ("would replace the image's PATH",
                "rename it: each key becomes an environment variable, and the task's command "
                "is found through PATH")
    return None


def _secret_value(path: Path) -> str | Problem:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}", "check its permissions"
    except UnicodeDecodeError:
        return ("is not UTF-8 text",
                "a key that becomes an environment variable holds text; store binary data "
                "base64-encoded")
    if "\0" in text:
        return "contains a NUL character", NUL_HINT
    return text.rstrip("\n")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (# comments, blank lines); every problem is reported, with its place."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read the env file: {exc.strerror or exc}",
                        location=Location(str(path)),
                        hint="--env-file takes a file of KEY=VALUE lines") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise UserError("not UTF-8 text", location=Location(str(path), row, column),
                        hint="an env file holds KEY=VALUE lines of UTF-8 text") from None
    values, problems = {}, []
    for number, line in enumerate(text.split("\n"), 1):
        parsed = _env_line(str(path), number, line)
        if isinstance(parsed, Diagnostic):
            problems.append(parsed)
        elif parsed is not None:
            values[parsed[0]] = parsed[1]
    if problems:
        raise InvalidInput(problems)
    return values


def _env_line(path: str, number: int, line: str) -> tuple[str, str] | Diagnostic | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    at = Location(path, number, len(line) - len(line.lstrip()) + 1)
    key, equals, value = text.partition("=")
    key = key.strip()
    if not equals:
        return Diagnostic(at, "not a KEY=VALUE line", LINE_HINT)
    if not ENV_NAME.fullmatch(key):
        return Diagnostic(at, f"{key!r} is not a valid environment variable name", NAME_HINT)
    if "\0" in value:
        return Diagnostic(Location(path, number, line.index("\0") + 1),
                          f"the value of {key} contains a NUL character", NUL_HINT)
    return key, value


def environments(pipeline: Pipeline, tasks: list[Task], secrets: Mapping[str, Mapping[str, str]],
                 extra: Mapping[str, str], run_id: str,
                 revision: str, run_values: Mapping[str, str] | None = None
                 ) -> dict[str, dict[str, str]]:
    """Each task's environment. As in Kubernetes, where `env` wins over `envFrom`, a Secret's
    keys come first; then the fixed variables, the task's env and --env-file; last the run's
    own values (spec/runvalues.py: params, logical date), which nothing else may change."""
    found = {}
    for task in tasks:
        environment: dict[str, str] = {}
        for secret in task.secrets:
            environment.update(secrets.get(secret, {}))
        environment.update({ENV_PIPELINE: pipeline.metadata.name,
                            ENV_TEAM: pipeline.metadata.team, ENV_TASK: task.name,
                            ENV_RUN_ID: run_id, ENV_REVISION: revision})
        environment.update(dict(task.env))
        environment.update(extra)
        environment.update(run_values or {})
        found[task.name] = environment
    return found



# -- running ----------------------------------------------------------------------------------


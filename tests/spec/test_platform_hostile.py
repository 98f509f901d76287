"""Property: no value of any string field of the platform config ends a command in an internal
error. Each hostile value goes into every string (and every name) of a platform file that has
every field, for each kind of DAG delivery; validate, render, plan and deploy on the local
platform must end in 0 or 1, with no traceback."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelinectl.spec import platform
from tests.support.repo import git, write
from tests.support.services import BASE, HOST, PREFIX

# One value per class of trouble: empty and huge; format, Helm and shell syntax; placeholders
# unknown or unbalanced; paths that climb or are absolute; option injection; control, bidi
# and non-ASCII characters; CI workflow commands; YAML and quoting; git transports and
# credentials in URLs; numbers and booleans.
HOSTILE = [
    "", "x" * 3000, "{team.__class__.__mro__}", "{teem}", "{team", "{{ .Values.x }}", "%s%n",
    "$(id)", "../{team}", "/", "..", "-rf", "--upload-pack=touch /tmp/pwned", "a\nb", "\x00",
    "\u202e\u200b", "é", "::error file=x::y", "a: [b", "'\"\\", "ext::sh -c touch% /tmp/pwned",
    "https://u:p@h/x?private_token=t#f", "127.0.0.1:1/x", "1e308", "true",
]
# Output folders are the platform team's to choose (absolute ones included); here they stay
# inside the test repository, with hostile names.
FOLDERS = {("kubernetes", "directory"), ("airflow", "dags", "directory")}
SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: hostile-platform, team: default}
image: {dockerfile: Dockerfile}
engine: airflow
schedule: "0 7 * * *"
tasks:
  - name: main
    command: [sh, -c, "echo hello"]
"""


def full_platform(dags: dict[str, Any], ca: Path) -> dict[str, Any]:
    return {
        "apiVersion": "pipelinectl/v1", "kind": "Platform",
        "registry": f"{HOST}/{PREFIX}/hostile",
        "base_images": {"r": {"4.4": "rocker/r-ver:4.4.2"},
                        "python": {"3.12": "python:3.12-slim"}},
        "allowed_base_registries": ["docker.io/pipelinectl-test"],
        "build": {"ca_bundle": str(ca)},
        "teams": {"default": {"namespace": "default", "service_account": "default",
                              "repos": ["group/project"],
                              "max_task_resources": {"cpu": "2", "memory": "4Gi"}}},
        "airflow": {"dags": dags, "kubernetes_conn_id": "kubernetes_default",
                    "task_runner": "docker"},
        "kubernetes": {"directory": ".pipelinectl/kubernetes"},
        "environments": {"production": {"branch": "main"}},
    }


def string_places(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every string value (its path) and every mapping key that is a name (path + KEY)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if (path and path[0] in ("teams", "environments", "base_images")) or \
                    (path[:1] == ("airflow",) and len(path) == 2):
                yield path + (key, KEY)
            yield from string_places(value, path + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from string_places(value, path + (index,))
    elif isinstance(doc, str):
        yield path


KEY = object()  # marks "the key itself" in a path


def replaced(doc: dict[str, Any], path: tuple[Any, ...], value: str) -> dict[str, Any]:
    result = copy.deepcopy(doc)
    if path[-1] is KEY:
        parent = result
        for step in path[:-2]:
            parent = parent[step]
        parent[value] = parent.pop(path[-2])
        return result
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    if path in FOLDERS:
        value = ".pipelinectl/hostile-" + value.replace("/", "_").replace("\x00", "_")
    parent[path[-1]] = value
    return result


@pytest.fixture(scope="module")
def repo(services: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed pipeline whose image is in the registry: deploy needs no build."""
    folder = tmp_path_factory.mktemp("hostile") / "repo"
    git(folder.parent, "init", "-q", "-b", "main", str(folder))
    write(folder / "p" / "pipeline.yaml", SPEC)
    write(folder / "p" / "Dockerfile", f"FROM {BASE}\nUSER 10001\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "a pipeline")
    git(folder.parent, "init", "-q", "--bare", str(folder.parent / "dags.git"))
    ca = write(folder.parent / "ca.pem", Path("/etc/ssl/certs/ca-certificates.crt").read_text())
    base = write(folder.parent / "base.yaml", json.dumps(full_platform(
        {"directory": ".pipelinectl/airflow/dags"}, ca)))
    built = subprocess.run([sys.executable, "-m", "pipelinectl.cli", "build", "--platform",
                            str(base)], cwd=folder, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return folder


def deliveries(repo: Path) -> dict[str, dict[str, Any]]:
    ca = repo.parent / "ca.pem"
    return {
        "directory": full_platform({"directory": ".pipelinectl/airflow/dags"}, ca),
        "git": full_platform({"git": {"repo": str(repo.parent / "dags.git"),
                                      "branch": "dags", "path": "teams/{team}"}}, ca),
        "configmap": full_platform({"configmap": {"namespace": "airflow"}}, ca),
    }


def no_internal_error(run: Any, repo: Path, document: dict[str, Any]) -> None:
    config = write(repo.parent / "platform.yaml", json.dumps(document))
    out = repo.parent / "out"
    commands = [
        ("validate", "--platform", str(config)),
        ("render", "--image-placeholder", "-o", str(out), "--platform", str(config)),
        ("plan", "--against", str(out), "--platform", str(config)),
        ("deploy", "--platform", str(config)),
    ]
    try:
        platform.load(str(config))
    except platform.InvalidInput:
        # Refused as it loads, which every command does first: validate reports it, and
        # deploy (the longest path) stops at the same place.
        commands = [commands[0], commands[3]]
    for argv in commands:
        result = run(*argv, cwd=repo)
        assert result.code in (0, 1), (argv, result.err[:2000])
        assert "internal error" not in result.err and "Traceback" not in result.err, \
            (argv, result.err)


@pytest.mark.parametrize("delivery", ["directory", "git", "configmap"])
def test_hostile_values_in_every_platform_string_never_end_in_exit_3(
        run: Any, repo: Path, delivery: str) -> None:
    base = deliveries(repo)[delivery]
    places = list(string_places(base))
    assert len(places) >= 15
    for place in places:
        for value in HOSTILE:
            no_internal_error(run, repo, replaced(base, place, value))


@settings(max_examples=150, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=40), index=st.integers(min_value=0))
def test_generated_text_in_any_platform_string_is_a_clean_answer(
        run: Any, tmp_path: Path, value: str, index: int) -> None:
    """Generated strings (any characters), for validate: the platform is read first by
    every command."""
    ca = write(tmp_path / "ca.pem", "-----BEGIN CERTIFICATE-----\n")
    base = full_platform({"git": {"repo": "dags.git", "branch": "dags",
                                  "path": "teams/{team}"}}, ca)
    places = list(string_places(base))
    document = replaced(base, places[index % len(places)], value)
    config = write(tmp_path / "platform.yaml", yaml.safe_dump(document))
    write(tmp_path / "p" / "pipeline.yaml", SPEC)
    write(tmp_path / "p" / "Dockerfile", f"FROM {BASE}\n")
    result = run("validate", "--platform", str(config), str(tmp_path / "p"), cwd=tmp_path)
    assert result.code in (0, 1), result.err[:2000]
    assert platform.ENV_VAR not in result.err and "internal error" not in result.err

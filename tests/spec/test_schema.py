"""The schemas: complete descriptions, draft-7-compatible keywords, fast path faithful."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pipelinectl.spec import schema

NAMES = ("pipeline", "platform")
# Keywords whose meaning differs between draft 7 (how the compiled fast path reads the
# schema) and 2020-12 (the declared dialect); the schemas must not use them.
DIVERGENT = {"dependentRequired", "dependentSchemas", "prefixItems", "unevaluatedProperties",
             "unevaluatedItems", "$dynamicRef", "$dynamicAnchor", "$recursiveRef",
             "dependencies", "definitions"}


def nodes(node: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from nodes(value, f"{path}/{index}")


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_2020_12(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(schema.schema_text(name)))


@pytest.mark.parametrize("name", NAMES)
def test_every_field_has_a_description(name: str) -> None:
    document = json.loads(schema.schema_text(name))
    missing = [f"{path}/{field}" for path, node in nodes(document)
               if isinstance(node, dict) and path.endswith("/properties")
               for field, sub in node.items() if isinstance(sub, dict) and "description" not in sub]
    assert missing == []


@pytest.mark.parametrize("name", NAMES)
def test_schema_means_the_same_in_draft_7(name: str) -> None:
    document = json.loads(schema.schema_text(name))
    for path, node in nodes(document):
        if isinstance(node, dict) and not path.endswith(("/properties", "/$defs")):
            assert not DIVERGENT & set(node), path
            if "$ref" in node:  # annotations only: draft 7 ignores them, 2020-12 keeps them
                assert set(node) <= {"$ref", "description", "default", "examples"}, \
                    f"{path}: siblings beside $ref"


@pytest.mark.parametrize("name", NAMES)
def test_every_pattern_says_what_it_wants(name: str) -> None:
    """A regex is no message for an epidemiologist: each pattern carries x-message."""
    document = json.loads(schema.schema_text(name))
    bare = [path for path, node in nodes(document)
            if isinstance(node, dict) and "pattern" in node and "x-message" not in node]
    assert bare == []


def test_schema_command_prints_the_shipped_schemas(run) -> None:
    for name in NAMES:
        result = run("schema", name)
        assert result.code == 0
        assert json.loads(result.out)["title"] == f"pipelinectl {name.title()}"
    assert run("schema").out == run("schema", "pipeline").out


FULL = {
    "apiVersion": "pipelinectl/v1", "kind": "Pipeline",
    "metadata": {"name": "covid-cases-daily", "team": "epi", "description": "d",
                 "owner": "a@example.org", "labels": {"cost-centre": "covid"}},
    "image": {"language": "r", "version": "4.4", "dependencies": "renv.lock",
              "system_packages": ["libpq5"]},
    "schedule": {"cron": "0 7 * * 1-5", "timezone": "Europe/London", "concurrency": "forbid",
                 "suspend": False, "starting_deadline": "1h", "catchup": False,
                 "start_date": "2026-01-01"},
    "engine": "auto",
    "defaults": {"resources": {"cpu": "500m", "memory": "1Gi"}, "retries": 0,
                 "retry_delay": "5m", "timeout": "1h", "env": {"TZ": "Europe/London"},
                 "secrets": ["warehouse-db"]},
    "tasks": [{"name": "fetch", "command": ["Rscript", "fetch.R"], "retries": 2,
               "resources": {"cpu": "1", "memory": "2Gi"}, "timeout": "30m"},
              {"name": "report", "command": "Rscript report.R", "depends_on": ["fetch"]}],
    "notifications": {"on_failure": ["oncall@example.org"], "on_success": []},
}
BAD_VALUES: list[Any] = [None, 7, -1, 3.5, True, "", "X" * 300, "Bad Value!", [], {}, ["x"],
                         {"unknown": 1}]


def leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, path + (index,))


def mutated(path: tuple[Any, ...], value: Any) -> Any:
    document = copy.deepcopy(FULL)
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return document


def test_full_example_is_schema_valid() -> None:
    assert schema.is_valid_fast(FULL, "pipeline")
    assert list(schema._validator("pipeline").iter_errors(FULL)) == []


def test_fast_path_agrees_with_jsonschema_on_every_mutation() -> None:
    """Replace every value of a full spec by each bad value: both validators must agree."""
    reference = schema._validator("pipeline")
    checked = disagreements = 0
    for path in leaves(FULL):
        if not path:
            continue
        for value in BAD_VALUES:
            document = mutated(path, value)
            expected = not list(reference.iter_errors(document))
            checked += 1
            if schema.is_valid_fast(document, "pipeline") != expected:
                disagreements += 1
                print("disagree", path, repr(value), "reference valid:", expected)
    assert checked > 500
    assert disagreements == 0


def test_fast_code_is_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code = schema._fast_code(schema.schema_text("platform"))
    cached = list((tmp_path / "pipelinectl").glob("schema-*.marshal"))
    assert len(cached) == 1
    assert schema._fast_code(schema.schema_text("platform")) == code
    cached[0].write_bytes(b"garbage")  # a corrupt cache is rebuilt, not trusted
    assert schema._fast_code(schema.schema_text("platform")) == code

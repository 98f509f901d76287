"""The docs site builds without a warning, and its generated reference pages are current."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import yaml

from tests.docs.blocks import DOCS, REPO


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_mkdocs_build_strict(site: Path) -> None:
    # The fixture ran `mkdocs build --strict`: a broken link or anchor, or a page missing
    # from nav, failed it. Here: the pages are there.
    for page in ("index.html", "reference/pipeline-yaml/index.html",
                 "tutorials/first-r-pipeline/index.html", "search/search_index.json"):
        assert (site / page).is_file(), page
    assert not (site / "_src").exists()
    assert not (site / "_screenshots").exists()


def test_every_page_is_in_the_nav() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())

    def listed(entries: list) -> set[str]:
        found: set[str] = set()
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            found |= listed(value) if isinstance(value, list) else {value}
        return found

    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
             if "_src" not in p.parts}
    assert listed(config["nav"]) == pages


def test_generated_reference_pages_are_current() -> None:
    for path, text in generator().render_all().items():
        name = path.relative_to(REPO).as_posix()
        assert path.read_text(encoding="utf-8") == text, \
            f"{name} is out of date: run .venv/bin/python docs/gen_reference.py"


def test_every_schema_field_has_a_section() -> None:
    gen = generator()
    for which in ("pipeline", "platform"):
        schema = yaml.safe_load((REPO / "schemas" / f"{which}.schema.json").read_text())
        page = (DOCS / "reference" / ("pipeline-yaml.md" if which == "pipeline"
                                      else "platform.md")).read_text()
        paths = [f.path for f in gen.fields(schema)]
        assert len(paths) == len(set(paths))
        for path in paths:
            assert f"`{path}` {{ #" in page, path
        for name in schema["properties"]:
            assert f"## `{name}`" in page, name


def test_every_command_and_option_is_in_the_reference() -> None:
    import argparse

    from pipelinectl.cli import build_parser

    page = (DOCS / "reference" / "commands.md").read_text()
    for name, parser, _ in generator().commands(build_parser()):
        assert re.search(rf"^#+ `pipelinectl {name}`", page, re.MULTILINE), name
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert f"`{option}`" in page, f"{name} {option}"


def test_no_page_links_outside_the_repository() -> None:
    for page in [*DOCS.rglob("*.md"), REPO / "README.md"]:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text and "SPEC.md" not in text, page
        assert not re.search(r"\bTODO\b|\bTBD\b|\bFIXME\b", text), page


def test_the_generator_renders_defaults_examples_refs_and_alternatives() -> None:
    schema = {
        "type": "object", "required": ["name"],
        "properties": {
            "name": {"description": "The name.", "allOf": [{"$ref": "#/$defs/label"},
                                                            {"maxLength": 10}]},
            "mode": {"description": "How.", "enum": ["a", "b"], "default": "a"},
            "when": {"description": "A <time>.", "oneOf": [
                {"type": "string", "description": "A cron string."},
                {"type": "object", "description": "With options.",
                 "properties": {"cron": {"type": "string", "examples": ["0 7 * * *"]}}}]},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "$defs": {"label": {"description": "A label.", "type": "string", "pattern": "^[a-z]+$"}},
    }
    text = generator().schema_markdown(schema, [{"name": "abc", "tags": {"x": "y"}}])
    assert "## `name` { #name }\n\nThe name.\n\n- **Type:** string\n- **Required:** yes\n" \
           "- **Format:** A label.\n- **Rules:** matches `^[a-z]+$`; at most 10 characters\n" \
           "- **Example:** `abc`\n" in text
    assert "- **Type:** one of `a`, `b`\n- **Required:** no\n- **Default:** `a`\n" in text
    assert "A &lt;time&gt;." in text
    assert "- **As string:** A cron string.\n- **As mapping:** With options.\n" in text
    assert "### `when.cron` { #when-cron }" in text and "- **Example:** `\"0 7 * * *\"`" in text
    assert "### `tags.<name>` { #tags-name }" in text and "- **Example:** `y`" in text

"""Every docs page a message of pipelinectl names (a hint, --help, the generated DAG header)
exists, with the heading its anchor names: a renamed page or heading fails here."""

from __future__ import annotations

import re

from tests.support.repo import REPO

NAMED = re.compile(r"docs/[a-z0-9/_-]+\.md(?:#[a-z0-9-]+)?")


def anchors(page: str) -> set[str]:
    """The anchors of a page's headings, as MkDocs makes them (or { #id } where given)."""
    found = set()
    for line in (REPO / page).read_text().splitlines():
        heading = re.match(r"#+ (.*)", line)
        if not heading:
            continue
        explicit = re.search(r"\{ #([a-z0-9-]+) \}", heading.group(1))
        if explicit:
            found.add(explicit.group(1))
            continue
        text = re.sub(r"[`*]", "", heading.group(1)).lower()
        found.add(re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", text)).strip("-"))
    return found


def test_every_docs_page_a_message_names_exists() -> None:
    sources = sorted((REPO / "pipelinectl").rglob("*.py")) + \
        sorted((REPO / "pipelinectl" / "render" / "templates").glob("*.tmpl"))
    named = {m for path in sources for m in NAMED.findall(path.read_text())}
    assert len(named) >= 10
    for reference in sorted(named):
        page, _, anchor = reference.partition("#")
        assert (REPO / page).is_file(), reference
        if anchor:
            assert anchor in anchors(page), reference

"""Characters YAML does not read at all (issue 13): a located refusal, never exit 3. TAB is
YAML's own: allowed where YAML allows it (comments, quoted strings, after a value), a syntax
error with a hint where it indents."""

from __future__ import annotations

import pytest

from pipelinectl.errors import InvalidInput
from pipelinectl.spec import yamlio
from tests.support.repo import VALID_SPEC


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x9f", "\ufffe", "\uffff"])
@pytest.mark.parametrize("where", ["# a comment {}\n", "x: \"quoted {}\"\n", "x: plain{}\n",
                                   "{}x: 1\n"])
def test_a_character_yaml_refuses_is_located(char: str, where: str) -> None:
    text = VALID_SPEC + where.format(char)
    column = where.index("{}") + 1
    with pytest.raises(InvalidInput) as refused:
        yamlio.load_bytes(text.encode(), "p.yaml")
    code = f"U+{ord(char):04X}"
    assert refused.value.render().startswith(
        f"p.yaml:14:{column}: character {char!r} ({code}) is not allowed in YAML, not even in "
        "a comment\n  hint: delete it; inside a double-quoted string write it as \"\\")


@pytest.mark.parametrize("where", ["# a\tcomment\n", "x: \"a\tb\"\n", "x: a\t# after\n",
                                   "x: 'a\tb'\n"])
def test_tab_is_read_where_yaml_allows_it(where: str) -> None:
    yamlio.load_bytes((VALID_SPEC + where).encode(), "p.yaml")


def test_tab_as_indentation_is_a_syntax_error_with_a_hint() -> None:
    with pytest.raises(InvalidInput) as refused:
        yamlio.load_bytes(VALID_SPEC.replace("  - name: fetch", "\t- name: fetch").encode(),
                          "p.yaml")
    assert "hint: indent with spaces, not tabs" in refused.value.render()


def test_the_platform_file_is_held_to_the_same() -> None:
    with pytest.raises(InvalidInput) as refused:
        yamlio.load_bytes(b"registry: r\x07\n", "platform.yaml")
    assert refused.value.render().startswith("platform.yaml:1:12: character '\\x07'")

"""The YAML loader: safe, exact locations, bounded."""

from __future__ import annotations

import pytest
import yaml

from pipelinectl.errors import InvalidInput
from pipelinectl.spec import yamlio


def load(text: str | bytes) -> yamlio.Document:
    raw = text.encode() if isinstance(text, str) else text
    return yamlio.load_bytes(raw, "f.yaml")


def error(text: str | bytes) -> str:
    with pytest.raises(InvalidInput) as caught:
        load(text)
    return caught.value.render()


def test_values_and_marks() -> None:
    doc = load("a: 1\nb:\n  - x\n  - {c: yes, d: 2026-01-01, e: 3.10}\n")
    assert doc.data == {"a": 1, "b": ["x", {"c": True, "d": "2026-01-01", "e": 3.1}]}
    assert doc.source.at(("b", 1, "e")).line == 4
    assert str(doc.source.at(("b", 1, "c"))) == "f.yaml:4:9"
    assert str(doc.source.key_at(("b", 1, "d"))) == "f.yaml:4:14"
    assert doc.source.raw[("b", 1, "e")] == "3.10"  # what the author wrote, for hints


def test_missing_path_falls_back_to_nearest_ancestor() -> None:
    doc = load("a:\n  b: 1\n")
    assert str(doc.source.at(("a", "zzz", 3))) == "f.yaml:2:3"


def test_quoted_words_stay_strings_and_plain_booleans_resolve() -> None:
    doc = load('a: "yes"\nb: no\nc: On\nd: Norway\ne: null\nf: ~\ng: "1"\n')
    assert doc.data == {"a": "yes", "b": False, "c": True, "d": "Norway", "e": None,
                        "f": None, "g": "1"}


def test_duplicate_key() -> None:
    assert error("a: 1\nb: 2\na: 3\n") == (
        "f.yaml:3:1: duplicate key 'a' (first defined on line 1)\n  hint: remove one of them")


def test_several_documents() -> None:
    assert error("a: 1\n---\nb: 2\n").startswith(
        "f.yaml:2:1: file holds several YAML documents; expected one")


def test_leading_document_marker_is_fine() -> None:
    assert load("---\na: 1\n").data == {"a": 1}


def test_byte_order_mark_is_ignored() -> None:
    assert load(b"\xef\xbb\xbfa: 1\n").data == {"a": 1}


@pytest.mark.parametrize("text, message", [
    ("", "f.yaml:1:1: file is empty; expected a mapping"),
    ("# only a comment\n", "f.yaml:1:1: file is empty; expected a mapping"),
    ("- a\n", "f.yaml:1:1: expected a mapping at the top level, found a list"),
    ("just text\n",
     "f.yaml:1:1: expected a mapping at the top level, found a scalar ('just text')"),
])
def test_not_a_mapping(text: str, message: str) -> None:
    assert error(text) == message


def test_non_utf8_points_at_the_byte() -> None:
    assert error(b"a: 1\nb: caf\xe9\n") == (
        "f.yaml:2:7: file is not valid UTF-8 (byte 0xe9)\n"
        "  hint: save the file with UTF-8 encoding")


# Every limit of the loader gives pipelinectl's own located message and hint, whatever
# libyaml refuses by itself (tests/run.sh runs this file under the oldest PyYAML allowed too).
TOO_DEEP = ("YAML nesting is deeper than 64 levels\n  hint: a pipeline spec needs a few levels; "
            "keep nested data in files the tasks read")


def test_file_over_one_mib() -> None:
    assert error(b"a: " + b"x" * (1024 * 1024)) == (
        "f.yaml:1:1: file is larger than 1 MiB\n  hint: split it, or move data out of the spec")


def test_alias_bomb_is_refused_before_expansion() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 10)}]")
    assert error("\n".join(lines) + "\n") == (
        "f.yaml:4:36: YAML aliases expand to over 10,000 values\n"
        "  hint: write the values out instead of nesting aliases")


def test_small_aliases_are_shared_not_copied() -> None:
    doc = load("a: &x {k: v}\nb: *x\n")
    assert doc.data == {"a": {"k": "v"}, "b": {"k": "v"}}


def test_recursive_alias() -> None:
    assert error("a: &a [1, *a]\n") == (
        "f.yaml:1:11: a YAML alias refers to a value that contains it")


def test_deep_flow_nesting_is_an_error_not_a_crash() -> None:
    # libyaml's C composer overflows its stack on this, and newer libyaml refuses it at 1,000
    # levels while scanning ahead: the message must still be pipelinectl's own.
    assert error("a: " + "[" * 100_000 + "]" * 100_000 + "\n") == "f.yaml:1:67: " + TOO_DEEP


def test_deep_block_nesting() -> None:
    text = "".join(" " * depth + "a:\n" for depth in range(200)) + " " * 200 + "b: 1\n"
    assert error(text) == "f.yaml:65:65: " + TOO_DEEP


def test_too_many_values() -> None:
    assert error("a: [" + "1," * 30_000 + "1]\n") == (
        "f.yaml:1:40001: file holds over 20,000 values\n"
        "  hint: a pipeline spec describes tasks; keep data in files the tasks read")


class _StrictLibyaml:
    """A libyaml with a lower nesting limit than pipelinectl's: it refuses a third level."""

    def __init__(self, text: str) -> None:
        self._parser = yaml.CSafeLoader(text)
        self._depth = 0

    def get_event(self) -> object:
        event = self._parser.get_event()
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            self._depth += 1
            if self._depth > 2:
                raise yaml.parser.ParserError("while increasing flow level", None,
                                              "exceeded maximum nesting depth", event.start_mark)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            self._depth -= 1
        return event

    def dispose(self) -> None:
        self._parser.dispose()


@pytest.fixture
def strict_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(yaml, "CSafeLoader"):
        pytest.fail("PyYAML was installed without libyaml; the tests need both parsers")
    monkeypatch.setattr(yamlio, "_Loader", _StrictLibyaml)


@pytest.mark.usefixtures("strict_libyaml")
def test_a_libyaml_limit_does_not_refuse_what_pipelinectl_accepts() -> None:
    assert load("a: [[[x]]]\nb: {c: {d: 1}}\n").data == {"a": [[["x"]]], "b": {"c": {"d": 1}}}


@pytest.mark.usefixtures("strict_libyaml")
def test_a_libyaml_limit_leaves_pipelinectl_s_own_message() -> None:
    assert error("a: " + "[" * 100 + "]" * 100 + "\n") == "f.yaml:1:67: " + TOO_DEEP


@pytest.mark.usefixtures("strict_libyaml")
def test_a_syntax_error_after_a_libyaml_limit_keeps_libyaml_s_words() -> None:
    assert error("a: [[[x]]]\nb: [\n") == (
        "f.yaml:1:5: YAML syntax error: while increasing flow level: exceeded maximum nesting "
        "depth")


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!binary", "!custom",
                                 "!!set"])
def test_unsafe_or_unknown_tags(tag: str) -> None:
    assert "unsupported YAML tag" in error(f"a: {tag} x\n")


def test_merge_keys_refused() -> None:
    assert "YAML merge keys ('<<') are not supported" in error("a: {x: 1}\nb:\n  <<: {x: 2}\n")


def test_non_scalar_keys_refused() -> None:
    assert "mapping keys must be plain strings" in error("? [a, b]\n: 1\n")


def test_syntax_error_has_location_and_tab_hint() -> None:
    assert error("a:\n\tb: 1\n") == (
        "f.yaml:2:1: YAML syntax error: while scanning for the next token: found character "
        "that cannot start any token\n  hint: indent with spaces, not tabs")


def test_where_formats_paths() -> None:
    assert yamlio.where(("tasks", 0, "command", 2)) == "tasks[0].command[2]"
    assert yamlio.where(()) == "the top level"

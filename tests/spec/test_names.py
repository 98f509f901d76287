"""Names and labels hold plain ASCII; every message shows user text escaped (issue 13)."""

from __future__ import annotations

import pytest

from pipelinectl.errors import InvalidInput
from pipelinectl.spec import schema, text, yamlio
from tests.support.repo import VALID_SPEC


@pytest.mark.parametrize("char, words", [
    ("\n", "'\\n' is a control character (U+000A line feed)"),
    ("\x07", "'\\x07' is a control character (U+0007)"),
    ("\u202e", "'\\u202e' (U+202E RIGHT-TO-LEFT OVERRIDE) is an invisible character that "
               "reorders how text is shown"),
    ("\u2066", "'\\u2066' (U+2066 LEFT-TO-RIGHT ISOLATE) is an invisible character that "
               "reorders how text is shown"),
    ("\u200b", "'\\u200b' (U+200B ZERO WIDTH SPACE) is an invisible or space character"),
    ("\ufeff", "'\\ufeff' (U+FEFF ZERO WIDTH NO-BREAK SPACE) is an invisible or space "
               "character"),
    ("\u2060", "'\\u2060' (U+2060 WORD JOINER) is an invisible or space character"),
    ("\u0430", "'\u0430' (U+0430 CYRILLIC SMALL LETTER A) looks like Latin 'a' but is not"),
    ("\u03bf", "'\u03bf' (U+03BF GREEK SMALL LETTER OMICRON) looks like Latin 'o' but is not"),
    ("\uff41", "'\uff41' (U+FF41 FULLWIDTH LATIN SMALL LETTER A) looks like Latin 'a' but is "
               "not"),
    ("\u00e9", "'\u00e9' (U+00E9 LATIN SMALL LETTER E WITH ACUTE) is not an ASCII character"),
])
def test_characters_are_explained(char: str, words: str) -> None:
    assert text.describe(char) == words


def test_show_escapes_and_cuts() -> None:
    assert text.show("a\nb\u202ec") == "'a\\nb\\u202ec'"
    assert text.show("x" * 200) == "'" + "x" * 76 + "..."
    assert text.show(True) == "true" and text.show(None) == "null" and text.show(1.5) == "1.5"
    assert text.show_path(("defaults", "env", "A\nB", 0)) == "defaults.env.'A\\nB'[0]"
    assert text.as_ascii("\u0441\u0430ses\u200b-daily\n") == "cases-daily"
    assert text.unusual("plain-ascii") is None


@pytest.mark.parametrize("pattern, value", [
    ("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "cases-daily\n"),
    ("^[A-Za-z_][A-Za-z0-9_]*$", "TZ\n"),
    ("^[0-9]+(\\.[0-9]+){0,2}$", "3.12\n"),
])
def test_patterns_end_where_the_text_ends(pattern: str, value: str) -> None:
    """ECMA-262 '$' (JSON Schema): both validators refuse a value with a final newline."""
    import fastjsonschema
    assert not schema.ecma_regex(pattern).search(value)
    with pytest.raises(fastjsonschema.JsonSchemaException):
        fastjsonschema.compile({"type": "string", "pattern": pattern})(value)


def _refusal(spec: str) -> str:
    doc = yamlio.load_bytes(spec.encode(), "p.yaml")
    return InvalidInput(schema.validate(doc, "pipeline")).render()


@pytest.mark.parametrize("field, value, shown", [
    ("name: cases-daily", 'name: "cases-daily\\n"', "metadata.name: 'cases-daily\\n'"),
    ("team: default", 'team: "default\\u200B"', "metadata.team: 'default\\u200b'"),
    ("  - name: fetch", '  - name: "fetch\\u202E"', "tasks[0].name: 'fetch\\u202e'"),
    ("name: cases-daily", "name: \u0441ases-daily", "metadata.name: '\u0441ases-daily'"),
])
def test_names_with_unusual_characters_are_refused_and_explained(field: str, value: str,
                                                                 shown: str) -> None:
    report = _refusal(VALID_SPEC.replace(field, value))
    assert shown in report and "U+" in report and "type it again in plain ASCII" in report


def test_labels_secrets_and_env_names_are_refused_with_the_character() -> None:
    spec = VALID_SPEC.replace("tasks:", 'defaults:\n  secrets: ["db\\u200Bx"]\n'
                              '  env: {"A\\u202E": x}\ntasks:').replace(
        "  team: default", '  team: default\n  labels: {"k\\u2066": "v\\uFEFF"}')
    report = _refusal(spec)
    assert report.count("U+") == 4, report
    assert "'db\\u200bx' is not a valid Secret name: '\\u200b' (U+200B ZERO WIDTH SPACE)" \
        in report
    assert "hint: type it again in plain ASCII, e.g. 'dbx'" in report


def test_an_unknown_key_is_shown_escaped() -> None:
    report = _refusal(VALID_SPEC + '    "a\\nb\\u202ec": 1\n')
    assert "tasks[0]: unknown key 'a\\nb\\u202ec'" in report
    assert "\n" not in report.split("\n  hint")[0]

"""JSON Schema validation with messages a pipeline author can act on.

The schemas in `schemas/*.json` are the one source of structure. Wording that a rule needs
lives next to it as `x-message` / `x-hint` annotations; this module turns jsonschema's errors
into `Diagnostic`s at the right line and column.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import marshal
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema

if TYPE_CHECKING:
    import jsonschema

from pipelinectl import files
from pipelinectl.errors import Diagnostic, UserError, closest, dedupe, did_you_mean
from pipelinectl.spec.text import as_ascii, show, show_path, unusual
from pipelinectl.spec.yamlio import Document, JsonPath

SCHEMA_NAMES = ("pipeline", "platform")
_DNS_LABEL_HINT = "dns-label"


def schema_path(name: str) -> Path:
    """The schema file: inside the installed wheel, or at the top of a source checkout."""
    return files.shipped("schemas") / f"{name}.schema.json"


def schema_text(name: str) -> str:
    return schema_path(name).read_text(encoding="utf-8")


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    import jsonschema  # only needed to explain problems: keeps startup fast for valid specs

    # JSON Schema patterns are ECMA-262: '$' ends the text. Python's '$' also matches before
    # a final newline, so jsonschema alone took "cases-daily\n" for a DNS label (the compiled
    # check refused it, then jsonschema found nothing to explain and the spec passed).
    ecma: Any = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})
    validator: jsonschema.protocols.Validator = ecma(json.loads(schema_text(name)))
    return validator


_DOLLAR = re.compile(r"(?<!\\)\$")


@functools.cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """A schema pattern with ECMA-262's end of text: an unescaped '$' becomes '\\Z' (as
    fastjsonschema compiles it, so that the two validators agree)."""
    return re.compile(_DOLLAR.sub(r"\\Z", pattern))


def _ecma_pattern(validator: Any, pattern: str, instance: Any,
                  schema: Any) -> Iterator[jsonschema.ValidationError]:
    import jsonschema

    if isinstance(instance, str) and not ecma_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _fast_check(name: str) -> Any:
    """A compiled validator: ~12x faster than jsonschema on valid documents.

    It reads the schema with draft-7 rules, so the schemas keep to keywords that mean the same
    in draft 7 and 2020-12 (no siblings beside $ref, if/then instead of dependent*); a test
    holds it to never accepting what jsonschema rejects. jsonschema stays the reference and
    explains every problem.
    """
    namespace: dict[str, Any] = {}
    exec(_fast_code(schema_text(name)), namespace)  # code generated from our own schema
    return namespace["validate"]


def _fast_code(schema: str) -> Any:
    """Bytecode of the compiled schema, cached on disk: generating it costs ~60 ms a run."""
    key = hashlib.sha256(f"{schema}\0{fastjsonschema.VERSION}\0{sys.version}".encode())
    cache = files.cache_dir() / f"schema-{key.hexdigest()[:32]}.marshal"
    try:
        return marshal.loads(cache.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        pass
    # use_default=False: `default` keywords document, they never fill in a document
    source = fastjsonschema.compile_to_code(json.loads(schema), use_default=False)
    code = compile(source, "<schema>", "exec")
    with contextlib.suppress(UserError):  # a read-only home only costs time
        files.write_bytes(cache, marshal.dumps(code))
    return code


def is_valid_fast(data: Any, name: str) -> bool:
    try:
        _fast_check(name)(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def validate(doc: Document, name: str) -> list[Diagnostic]:
    """Every schema problem of `doc` against schema `name`, with locations."""
    if is_valid_fast(doc.data, name):
        return []
    validator = _validator(name)
    errors = _without_consequences(list(validator.iter_errors(doc.data)))
    if not errors:  # the two validators disagree: never let such a document pass
        return [Diagnostic(doc.source.at(()), "the document does not match the schema",
                           f"check it with 'pipelinectl schema {name}'", "schema-invalid")]
    problems: list[Diagnostic] = []
    for error in errors:
        problems.extend(_explain(error, doc, validator.schema))
    return dedupe(problems)


def _without_consequences(
        errors: list[jsonschema.ValidationError]) -> list[jsonschema.ValidationError]:
    """Where a choice itself failed (image with both language and dockerfile), drop the
    if/then complaints that follow from it: they would only repeat the same mistake."""
    failed = {tuple(e.absolute_path) for e in errors
              if e.validator == "oneOf" and _annotation(e, "x-message")}
    return [e for e in errors
            if not ("then" in e.schema_path and tuple(e.absolute_path) in failed)]


def _explain(error: jsonschema.ValidationError, doc: Document,
             root: Any) -> Iterator[Diagnostic]:
    path: JsonPath = tuple(error.absolute_path)
    keyword = str(error.validator)
    if keyword in ("oneOf", "anyOf"):
        yield from _explain_choice(error, doc, path, root)
        return
    if keyword == "additionalProperties":
        yield from _unknown_keys(error, doc, path)
        return
    if keyword == "required":
        yield from _missing_keys(error, doc, path)
        return
    if "propertyNames" in error.schema_path:
        yield _property_name(error, doc, path)
        return
    if error.schema is False:
        yield from _forbidden_together(error, doc, path, root)
        return
    yield _diagnostic(doc, path, _message(error, path), _hint(error, doc, path), keyword)


def _diagnostic(doc: Document, path: JsonPath, message: str, hint: str | None,
                code: str, key: bool = False) -> Diagnostic:
    location = doc.source.key_at(path) if key else doc.source.at(path)
    return Diagnostic(location, message, hint, f"schema-{code}")


def _annotation(error: jsonschema.ValidationError, name: str) -> str | None:
    schema = error.schema
    value = schema.get(name) if isinstance(schema, dict) else None
    return value if isinstance(value, str) else None


def _message(error: jsonschema.ValidationError, path: JsonPath) -> str:
    custom = _annotation(error, "x-message")
    if custom and error.validator in ("pattern", "oneOf", "anyOf", "minProperties",
                                      "maxProperties"):
        message = f"{show_path(path)}: {custom.format(value=show(error.instance))}"
    else:
        message = f"{show_path(path)}: {_generic(error)}"
    return message + _why_not_plain(error)


def _why_not_plain(error: jsonschema.ValidationError) -> str:
    """For a pattern refused because of characters that are not printable ASCII (a newline,
    a bidirectional or zero-width character, a Cyrillic look-alike of 'a'): which ones, and
    why."""
    if error.validator != "pattern" or not isinstance(error.instance, str):
        return ""
    why = unusual(error.instance)
    return f": {why}" if why else ""


def _generic(error: jsonschema.ValidationError) -> str:
    keyword, value = str(error.validator), error.instance
    expected: Any = error.validator_value
    if keyword == "type":
        return f"must be {_type_words(expected)}, not {_type_name(value)}"
    if keyword == "const":
        return f"must be {show(expected)}, not {show(value)}"
    if keyword == "enum":
        return f"must be one of {', '.join(map(str, expected))}, not {show(value)}"
    if keyword == "pattern":
        return f"{show(value)} does not match {expected}"
    return _generic_size(keyword, expected, value)


def _generic_size(keyword: str, expected: Any, value: Any) -> str:
    plural = "character" if isinstance(value, str) else "item"
    messages = {
        "maxLength": f"{show(value)} is {len(value) if isinstance(value, str) else 0} "
                     f"characters long; the limit is {expected}",
        "minLength": "must not be empty" if expected == 1 else
                     f"must be at least {expected} {plural}s long",
        "maxItems": f"has {len(value) if isinstance(value, list) else 0} items; "
                    f"the limit is {expected}",
        "minItems": "must not be empty" if expected == 1 else
                    f"needs at least {expected} items",
        "maximum": f"must be at most {expected}, not {value}",
        "minimum": f"must be at least {expected}, not {value}",
        "uniqueItems": f"lists {_first_duplicate(value)} more than once",
        "maxProperties": f"has {len(value) if isinstance(value, dict) else 0} entries; "
                         f"the limit is {expected}",
        "minProperties": "must not be empty",
    }
    return messages.get(keyword) or f"is not valid ({keyword})"


def _hint(error: jsonschema.ValidationError, doc: Document, path: JsonPath) -> str | None:
    if error.validator == "type" and isinstance(error.instance, (int, float, bool)) \
            and "string" in _as_list(error.validator_value):
        text = doc.source.raw.get(path, _yaml_text(error.instance))
        return f"quote the value: \"{text}\""
    if error.validator == "enum" and isinstance(error.instance, str):
        choices: Any = error.validator_value
        return did_you_mean(error.instance, [str(v) for v in choices])
    hint = _annotation(error, "x-hint")
    if hint == _DNS_LABEL_HINT:
        return _dns_label_hint(error.instance)
    if hint == "quote the value":
        return None
    if error.validator == "pattern" and isinstance(error.instance, str) \
            and unusual(error.instance):
        return _retype_hint(error.instance, str(error.validator_value), hint)
    return hint


def _retype_hint(value: str, pattern: str, hint: str | None) -> str:
    """Type the value again in plain ASCII: with an example when the look-alikes replaced
    and the invisible characters dropped give a valid value."""
    fixed = as_ascii(value)
    retype = "type it again in plain ASCII"
    if fixed and fixed != value and ecma_regex(pattern).search(fixed):
        return f"{retype}, e.g. {show(fixed)}"
    return f"{retype}; {hint}" if hint else retype


def _dns_label_hint(value: Any) -> str:
    text = str(value)
    suggestion = re.sub(r"[^a-z0-9]+", "-", as_ascii(text).lower()).strip("-")
    base = "use lowercase letters, digits and '-', starting and ending with a letter or digit"
    if unusual(text):
        base = f"type it again in plain ASCII: {base[4:]}"
    return f"{base}, e.g. '{suggestion}'" if suggestion else base


def _unknown_keys(error: jsonschema.ValidationError, doc: Document,
                  path: JsonPath) -> Iterator[Diagnostic]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = list(schema.get("properties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    for key in instance:
        if key in known:
            continue
        hint = did_you_mean(key, known) or f"allowed keys: {', '.join(known)}"
        if schema.get("x-hint") and not did_you_mean(key, known):
            hint = f"{hint}: {schema['x-hint']}"  # why these keys only
        yield _diagnostic(doc, path + (key,), f"{show_path(path)}: unknown key {show(key)}", hint,
                          "unknown-key", key=True)


def _missing_keys(error: jsonschema.ValidationError, doc: Document,
                  path: JsonPath) -> Iterator[Diagnostic]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    known = list(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
    # A misspelt key is reported as unknown with "did you mean": do not also call it missing.
    misspelt = {closest(k, known) for k in instance if k not in known}
    required: Any = error.validator_value
    for key in required:
        if key not in instance and key not in misspelt:
            hint = _annotation(error, "x-hint")
            yield _diagnostic(doc, path, f"{show_path(path)}: missing required key '{key}'",
                              None if hint == _DNS_LABEL_HINT else hint, "required")


def _property_name(error: jsonschema.ValidationError, doc: Document,
                   path: JsonPath) -> Diagnostic:
    key = str(error.instance)
    custom = _annotation(error, "x-message")
    if custom and error.validator == "pattern":
        message = custom.format(value=show(key)) + _why_not_plain(error)
    else:
        message = f"key {show(key)} {_generic(error)}"
    return _diagnostic(doc, path + (key,), f"{show_path(path)}: {message}", _hint(error, doc, path),
                       "key", key=True)


def _forbidden_together(error: jsonschema.ValidationError, doc: Document,
                        path: JsonPath, root: Any) -> Iterator[Diagnostic]:
    """if/then rules that forbid a key beside another (context beside language)."""
    trail = list(error.schema_path)
    if "then" not in trail:
        yield _diagnostic(doc, path, f"{show_path(path)}: is not allowed here", None, "invalid")
        return
    rule = _value_at(root, tuple(trail[: trail.index("then")]))
    trigger = rule.get("if", {}).get("required", ["?"])[0]
    forbidden = _value_at(root, tuple(trail))
    owner = _value_at(doc.data, path)
    for key, subschema in forbidden.items():
        if subschema is False and isinstance(owner, dict) and key in owner \
                and owner[key] == error.instance:
            hint = ("'context' belongs to a custom dockerfile build" if key == "context" else
                    f"a custom Dockerfile installs its own dependencies: remove '{key}'")
            yield _diagnostic(doc, path + (key,),
                              f"{show_path(path)}: '{key}' cannot be used with '{trigger}'", hint,
                              "exclusive", key=True)
            return


def _value_at(data: Any, path: JsonPath) -> Any:
    for step in path:
        data = data[step]
    return data


def _explain_choice(error: jsonschema.ValidationError, doc: Document,
                    path: JsonPath, root: Any) -> Iterator[Diagnostic]:
    """oneOf/anyOf: explain the branch that fits the value's type, or say what fits."""
    branches = _branches(error)
    fitting = [errs for schema, errs in branches if _type_fits(schema, error.instance)]
    if len(fitting) == 1 and fitting[0]:
        for sub in fitting[0]:
            yield from _explain(sub, doc, root)
        return
    custom = _annotation(error, "x-message")
    if custom:
        yield _diagnostic(doc, path, f"{show_path(path)}: {custom}", _annotation(error, "x-hint"),
                          "choice")
        return
    kinds = [_type_words(s.get("type")) for s, _ in branches if isinstance(s, dict)]
    yield _diagnostic(doc, path, f"{show_path(path)}: must be {' or '.join(kinds)}, "
                      f"not {_type_name(error.instance)}", _annotation(error, "x-hint"),
                      "type")


def _branches(error: jsonschema.ValidationError) -> list[tuple[Any, list[Any]]]:
    schemas = error.validator_value if isinstance(error.validator_value, list) else []
    grouped: list[tuple[Any, list[Any]]] = [(s, []) for s in schemas]
    for sub in error.context or []:
        index = sub.relative_schema_path[0]
        if isinstance(index, int) and index < len(grouped):
            grouped[index][1].append(sub)
    return grouped


def _type_fits(schema: Any, value: Any) -> bool:
    if not isinstance(schema, dict) or "type" not in schema:
        return False
    return any(_type_name(value) == _type_name_of(t) for t in _as_list(schema["type"]))


_TYPE_WORDS = {"string": "a string", "integer": "a whole number", "number": "a number",
               "boolean": "true or false", "array": "a list", "object": "a mapping",
               "null": "empty"}


def _type_name_of(json_type: str) -> str:
    return {"integer": "a number", "number": "a number"}.get(json_type,
                                                          _TYPE_WORDS.get(json_type, json_type))


def _type_words(expected: Any) -> str:
    return " or ".join(_TYPE_WORDS.get(t, t) for t in _as_list(expected))


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "empty"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _yaml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _first_duplicate(value: Any) -> str:
    seen: list[Any] = []
    for item in value if isinstance(value, list) else []:
        if item in seen:
            return show(item)
        seen.append(item)
    return "an item"

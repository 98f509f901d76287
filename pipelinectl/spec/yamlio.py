"""Safe, exact YAML loading: JSON-like values plus a map from every JSON path to line:column.

Only the safe libyaml composer is used; values are built here from the node tree so that we can
refuse duplicate keys, unknown tags and alias bombs, and remember where every key and value is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from pipelinectl.errors import Diagnostic, InvalidInput, Location
from pipelinectl.files import NotRegular, read_regular

MAX_BYTES = 1024 * 1024
MAX_NODES = 20_000  # values in one file, aliases expanded (a 100-task spec has ~3,000)
MAX_ALIAS_NODES = 10_000  # nodes built by expanding aliases (billion-laughs bound)
MAX_DEPTH = 64

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_scalars = yaml.constructor.SafeConstructor()
_resolver = yaml.resolver.Resolver()
# First letters of plain words that YAML 1.1 may read as booleans or null (yes, no, on, off,
# true, false, null, Null, NULL); every other word starting with a letter is a string.
_MAYBE_BOOL_OR_NULL = frozenset("yYnNtTfFoO")

JsonPath = tuple[str | int, ...]


def where(path: JsonPath) -> str:
    """A JSON path as authors write it: tasks[0].command."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the top level"


@dataclass(frozen=True)
class SourceMap:
    """Where each value (and each mapping key) of a document stands in its file."""

    file: str
    values: dict[JsonPath, tuple[int, int]]
    keys: dict[JsonPath, tuple[int, int]]
    raw: dict[JsonPath, str]  # the text of scalars that YAML read as numbers or booleans

    def at(self, path: JsonPath) -> Location:
        """Location of the value at `path`, or of its nearest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            mark = self.values.get(path[:cut])
            if mark:
                return Location(self.file, *mark)
        return Location(self.file, 1, 1)

    def key_at(self, path: JsonPath) -> Location:
        """Location of the key that introduces `path` (falls back to the value)."""
        mark = self.keys.get(path)
        return Location(self.file, *mark) if mark else self.at(path)


@dataclass(frozen=True)
class Document:
    file: str
    data: Any
    source: SourceMap


def load_file(path: str, display: str | None = None, follow_symlinks: bool = True
              ) -> Document:
    """Read and load one YAML file; `display` is the name used in messages.

    A special file is refused before a byte is read (a FIFO would hang the command), and so
    is a symlink without `follow_symlinks`: a repository's pipeline.yaml must not lead
    pipelinectl to read, and echo, a file outside it. (The platform file, which the platform
    team names, may be a link: Kubernetes mounts ConfigMaps as links.)
    """
    name = display or path
    try:
        raw = read_regular(path, MAX_BYTES + 1, follow_symlinks)
    except NotRegular as exc:
        raise InvalidInput([Diagnostic(
            Location(name), f"{exc.what}: pipelinectl reads only regular files here",
            "commit the file itself in its place (not a link to it)", "not-regular")]) from None
    except OSError as exc:
        raise InvalidInput([Diagnostic(Location(name), f"cannot read file: {exc.strerror}",
                                       code="io")]) from None
    return load_bytes(raw, name)


def load_bytes(raw: bytes, name: str) -> Document:
    if len(raw) > MAX_BYTES:
        _fail(name, 1, 1, "file is larger than 1 MiB", "split it, or move data out of the spec",
              "too-large")
    text = _decode(raw, name)
    _check_characters(text, name)
    try:
        return _load(text, name, _Loader)
    except _Refused as refused:
        if _Loader is yaml.SafeLoader:
            _syntax_error(refused.error, text, name)
        # libyaml refused first. Its releases differ in limits of their own (the one bundled
        # with PyYAML 6.0.4 stops at 1,000 levels of flow nesting, scanning ahead of the
        # events we check), so read again with PyYAML's pure-Python parser, which has none:
        # pipelinectl's limits, checked event by event, then decide what the user reads.
        try:
            return _load(text, name, yaml.SafeLoader)
        except _Refused:
            _syntax_error(refused.error, text, name)  # a real syntax error: libyaml's words


class _Refused(Exception):
    """The parser refused the text (a syntax error, or one of libyaml's own limits)."""

    def __init__(self, error: yaml.MarkedYAMLError) -> None:
        super().__init__(str(error))
        self.error = error


def _load(text: str, name: str, loader: Any) -> Document:
    builder = _Builder(name)
    data = builder.build(_events(text, loader))
    return Document(name, data, SourceMap(name, builder.values, builder.keys, builder.raw))


def _fail(name: str, line: int, col: int, message: str, hint: str | None = None,
          code: str = "yaml") -> NoReturn:
    raise InvalidInput([Diagnostic(Location(name, line, col), message, hint, code)])


def _decode(raw: bytes, name: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        _fail(name, line, col, f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
              "save the file with UTF-8 encoding", "encoding")
    return text.removeprefix("\ufeff")


# What YAML reads at all (its printable set): TAB, LF, CR and NEL of the C0/C1 controls,
# no surrogates, no U+FFFE/U+FFFF. Anything else is refused by the parser's reader, even in a
# comment, with an error that has no line (it ended in exit 3): found here first, located.
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                       "\U00010000-\U0010ffff]")


def _check_characters(text: str, name: str) -> None:
    found = _NOT_YAML.search(text)
    if found is None:
        return
    offset, char = found.start(), found.group()
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    escape = f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    _fail(name, line, col, f"character {char!r} (U+{ord(char):04X}) is not allowed in YAML, "
          "not even in a comment", f"delete it; inside a double-quoted string write it as "
          f"\"{escape}\"", "yaml-character")


def _events(text: str, loader: Any) -> Iterator[Any]:
    """The parser's event stream: iterative, so deep nesting cannot overflow a C stack.

    The parser is driven directly (not through yaml.parse) to save a generator hop per event.
    """
    parser = loader(text)
    try:
        while True:
            event = parser.get_event()
            yield event
            if isinstance(event, yaml.StreamEndEvent):
                return
    except yaml.MarkedYAMLError as exc:
        raise _Refused(exc) from None
    finally:
        parser.dispose()


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, name: str) -> NoReturn:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    hint = "indent with spaces, not tabs" if _char_at(text, line, col) == "\t" else \
        _SYNTAX_HINTS.get(problem)
    if exc.context and exc.problem:
        problem = f"{exc.context}: {exc.problem}"
    _fail(name, line, col, f"YAML syntax error: {problem}", hint, "yaml-syntax")


_SYNTAX_HINTS = {
    "mapping values are not allowed here":
        "check the indentation of this line and the line above; quote a value that holds ': '",
    "mapping values are not allowed in this context":
        "check the indentation of this line and the line above; quote a value that holds ': '",
    "could not find expected ':'": "a key needs ': ' after it; check the indentation",
    "found undefined alias": "define the anchor '&name' before using the alias",
    "found unexpected end of stream": "close the quote or bracket that is still open",
}


def _char_at(text: str, line: int, col: int) -> str:
    lines = text.split("\n", line)
    if line - 1 < len(lines) and col - 1 < len(lines[line - 1]):
        return lines[line - 1][col - 1]
    return ""


def _mark(event: Any) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


class _Frame:
    __slots__ = ("anchor", "is_map", "key", "path", "start", "value")

    def __init__(self, value: dict[str, Any] | list[Any], path: JsonPath, anchor: str | None,
                 start: int) -> None:
        self.value = value
        self.path = path
        self.anchor = anchor
        self.start = start
        self.key: str | None = None
        self.is_map = isinstance(value, dict)


class _Builder:
    """Builds JSON-like values from parser events, recording marks on the way.

    Aliases share the anchored value (no copy); their size still counts towards the bound, so
    an alias bomb is refused before anything downstream walks it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.values: dict[JsonPath, tuple[int, int]] = {}
        self.keys: dict[JsonPath, tuple[int, int]] = {}
        self.raw: dict[JsonPath, str] = {}
        self.nodes = 0
        self.alias_nodes = 0
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.documents = 0

    def build(self, events: Any) -> Any:
        handlers = {
            yaml.ScalarEvent: self._on_scalar,
            yaml.AliasEvent: self._on_alias,
            yaml.MappingStartEvent: self._on_start,
            yaml.SequenceStartEvent: self._on_start,
            yaml.MappingEndEvent: self._on_end,
            yaml.SequenceEndEvent: self._on_end,
            yaml.DocumentStartEvent: self._on_document,
        }
        for event in events:
            handler = handlers.get(type(event))
            if handler:
                handler(event)
        return self._check_root()

    def _check_root(self) -> Any:
        if self.documents == 0 or self.root is None or self.root == "":
            _fail(self.name, 1, 1, "file is empty; expected a mapping", None, "not-mapping")
        if not isinstance(self.root, dict):
            line, col = self.values.get((), (1, 1))
            kind = "a list" if isinstance(self.root, list) else f"a scalar ({self.root!r})"
            _fail(self.name, line, col, f"expected a mapping at the top level, found {kind}",
                  None, "not-mapping")
        return self.root

    def _on_document(self, event: Any) -> None:
        self.documents += 1
        if self.documents > 1:
            line, col = _mark(event)
            _fail(self.name, line, col, "file holds several YAML documents; expected one",
                  "remove the '---' separator and keep one pipeline per file", "documents")

    def _key_pending(self) -> _Frame | None:
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.is_map and frame.key is None:
            return frame
        return None

    def _on_scalar(self, event: Any) -> None:
        # The hot path of loading: one call per scalar, so it avoids helper calls.
        stack = self.stack
        if stack and stack[-1].is_map and stack[-1].key is None:
            self._on_key(stack[-1], event)
            return
        if event.implicit[0] and event.tag is None and event.value[:1].isalpha() \
                and event.value[:1] not in _MAYBE_BOOL_OR_NULL:
            value: Any = event.value  # a plain word: resolves to a string
        else:
            value = self._scalar(event)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self._check_limits(event)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        path = self._place(value, event)
        if value is not None and not isinstance(value, str):
            self.raw[path] = event.value

    def _on_key(self, frame: _Frame, event: Any) -> None:
        key = event.value
        if key == "<<" and event.implicit[0]:
            self._error(event, "YAML merge keys ('<<') are not supported", "merge-key",
                        "repeat the keys, or use the 'defaults:' section")
        assert isinstance(frame.value, dict)
        if key in frame.value:
            first = self.keys[frame.path + (key,)][0]
            self._error(event, f"duplicate key '{key}' (first defined on line {first})",
                        "duplicate-key", "remove one of them")
        self.keys[frame.path + (key,)] = _mark(event)
        frame.key = key

    def _on_alias(self, event: Any) -> None:
        if self._key_pending() is not None:
            self._error(event, "mapping keys must be plain strings, found an alias", "bad-key")
        if any(f.anchor == event.anchor for f in self.stack):
            self._error(event, "a YAML alias refers to a value that contains it",
                        "recursive-alias")
        if event.anchor not in self.anchors:
            self._error(event, f"unknown YAML alias '*{event.anchor}'", "yaml-syntax",
                        "define the anchor '&name' before using the alias")
        value, size = self.anchors[event.anchor]
        self._count(event, size, alias=True)
        self._place(value, event)

    def _on_start(self, event: Any) -> None:
        if self._key_pending() is not None:
            self._error(event, "mapping keys must be plain strings, found a collection",
                        "bad-key")
        is_map = isinstance(event, yaml.MappingStartEvent)
        self._check_tag(event, "map" if is_map else "seq")
        if len(self.stack) >= MAX_DEPTH:
            self._error(event, f"YAML nesting is deeper than {MAX_DEPTH} levels", "too-deep",
                        "a pipeline spec needs a few levels; keep nested data in files the "
                        "tasks read")
        self._count(event, 1, alias=False)
        container: dict[str, Any] | list[Any] = {} if is_map else []
        path = self._place(container, event)
        self.stack.append(_Frame(container, path, event.anchor, self.nodes))

    def _on_end(self, event: Any) -> None:
        frame = self.stack.pop()
        if frame.anchor:
            self.anchors[frame.anchor] = (frame.value, self.nodes - frame.start + 1)

    def _place(self, value: Any, event: Any) -> JsonPath:
        if not self.stack:
            self.root = value
            path: JsonPath = ()
        else:
            frame = self.stack[-1]
            if frame.is_map:
                assert frame.key is not None and isinstance(frame.value, dict)
                path = frame.path + (frame.key,)
                frame.value[frame.key] = value
                frame.key = None
            else:
                assert isinstance(frame.value, list)
                path = frame.path + (len(frame.value),)
                frame.value.append(value)
        mark = event.start_mark
        self.values[path] = (mark.line + 1, mark.column + 1)
        return path

    def _count(self, event: Any, size: int, alias: bool) -> None:
        self.nodes += size
        if alias:
            self.alias_nodes += size
        self._check_limits(event)

    def _check_limits(self, event: Any) -> None:
        if self.alias_nodes > MAX_ALIAS_NODES:
            self._error(event, f"YAML aliases expand to over {MAX_ALIAS_NODES:,} values",
                        "too-many-nodes", "write the values out instead of nesting aliases")
        if self.nodes > MAX_NODES:
            self._error(event, f"file holds over {MAX_NODES:,} values", "too-many-nodes",
                        "a pipeline spec describes tasks; keep data in files the tasks read")

    def _check_tag(self, event: Any, kind: str) -> None:
        if event.tag not in (None, "!", _TAG + kind):
            self._error(event, f"unsupported YAML tag '{event.tag}'", "yaml-tag",
                        "remove the tag; only plain strings, numbers, booleans, lists and "
                        "mappings are allowed")

    def _scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _resolver.resolve(  # type: ignore[no-untyped-call]
                yaml.ScalarNode, event.value, event.implicit)
        if tag in (_TAG + "str", _TAG + "timestamp"):
            # Dates stay text: the schema decides what a date field accepts.
            return event.value
        if tag == _TAG + "null":
            return None
        node = yaml.ScalarNode(tag, event.value)
        if tag == _TAG + "bool":
            return _scalars.construct_yaml_bool(node)
        if tag == _TAG + "int":
            return _scalars.construct_yaml_int(node)
        if tag == _TAG + "float":
            return _scalars.construct_yaml_float(node)
        self._check_tag(event, "str")
        return None

    def _error(self, event: Any, message: str, code: str, hint: str | None = None) -> None:
        line, col = _mark(event)
        _fail(self.name, line, col, message, hint, code)

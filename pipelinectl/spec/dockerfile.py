"""Every image a Dockerfile makes the builder pull, read with BuildKit's own rules.

Pure: text in, references out, after moby/buildkit's frontend/dockerfile (parser,
instructions, shell, dockerfile2llb). Parser directives only at the top; the escape character
(`\\` or a backtick) continues a line, and comment and empty lines inside a continuation are
skipped; the bodies of RUN, COPY and ADD heredocs (also under ONBUILD) are not instructions;
flags come before the arguments. The images: FROM (global ARGs expanded; not an earlier stage,
not `scratch`), the `# syntax=` frontend (also `// syntax=` and a JSON file's "syntax", as
DetectSyntax reads them), `COPY --from=` that is neither a stage name nor an index, and a
`RUN --mount` `from=` that is not a stage name. BuildKit refuses variables in those two.

Builders differ, and a hostile file can aim at the difference: docker 20.10's (BuildKit before
0.10) knows no heredocs and no `check` directive, and its flags always escape with `\\`. A
file is read three ways: as today's BuildKit reads it, the same without heredocs, and as the
older one does. A reading with an unknown instruction (a heredoc's `echo` line) fails to
build, so it pulls nothing; a reference only the other readings find is marked `legacy`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["syntax", "from", "copy-from", "mount-from"]
_KINDS: tuple[Kind, ...] = ("syntax", "from", "copy-from", "mount-from")
_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
          "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # Go's unicode.IsSpace
_BLANKS = "\t\v\f\r "  # reWhitespace
_RE_SPACES = "\t\n\f\r "  # regexp's \s
_BYTE_SPACES = frozenset(b"\t\n\v\f\r \x85\xa0")  # unicode.IsSpace(rune(byte))
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_INDEX = re.compile(r"[+-]?[0-9]+")
_MAX_EXPANSION = 4096  # characters; an image reference has at most 255 + 128 + a digest
_FULL = "write the base image in full, or give the ARG a default"
_INSTRUCTIONS = frozenset(("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from",
                           "healthcheck", "label", "maintainer", "onbuild", "run", "shell",
                           "stopsignal", "user", "volume", "workdir"))
# Set by the builder, or by the docker CLI from its configuration: never by the Dockerfile.
_BUILDER_ARGS = frozenset((
    "BUILDPLATFORM", "BUILDOS", "BUILDOSVERSION", "BUILDARCH", "BUILDVARIANT", "TARGETPLATFORM",
    "TARGETOS", "TARGETOSVERSION", "TARGETARCH", "TARGETVARIANT", "TARGETSTAGE",
    "SOURCE_DATE_EPOCH", "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"))


@dataclass(frozen=True)
class Reference:
    """An image the build pulls; with a problem, one whose name cannot be known here."""

    line: int
    kind: Kind
    image: str  # ARGs expanded where that could be done, else as written
    onbuild: bool = False
    problem: str | None = None
    hint: str | None = None
    legacy: bool = False  # only builders without heredocs (BuildKit < 0.10) read it so


@dataclass(frozen=True)
class ParseError:
    line: int
    message: str
    hint: str


@dataclass(frozen=True)
class Parsed:
    references: tuple[Reference, ...]
    errors: tuple[ParseError, ...]


@dataclass(frozen=True)
class _Reading:
    directives: frozenset[str]
    after_hash: str  # the spaces skipped between `#` and a directive's key
    heredocs: bool
    flag_escape: bool  # flags escape with the directive's character (else with `\\`)


_NOW = frozenset({"syntax", "escape", "check"})
_READINGS = (_Reading(_NOW, _SPACES, True, True), _Reading(_NOW, _SPACES, False, True),
             _Reading(frozenset({"syntax", "escape"}), _RE_SPACES, False, False))


class _Refused(Exception):
    def __init__(self, error: ParseError) -> None:
        super().__init__(error.message)
        self.error = error


def parse(text: str) -> Parsed:
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    errors: set[ParseError] = set()
    current, *others = (set(_read(lines, reading, errors)) for reading in _READINGS)
    found = set(_syntax(lines, text)) | current | {
        replace(r, legacy=True) for other in others for r in other - current}
    order = sorted(found, key=lambda r: (r.line, _KINDS.index(r.kind), r.onbuild, r.image,
                                         r.problem or "", r.legacy))
    return Parsed(tuple(order), tuple(sorted(errors, key=lambda e: (e.line, e.message))))


def final_user(text: str) -> tuple[int, str] | None:
    """(line, user) of the last USER of the final stage, or (the final FROM's line, "") when
    it has none; None when the Dockerfile cannot be read (parse reports why)."""
    lines = text.removeprefix("\ufeff").split("\n")
    if lines[-1] == "":
        lines.pop()
    try:
        nodes = _Lines(lines, _READINGS[0]).nodes()
    except _Refused:
        return None
    starts = [n.line for n in nodes if n.cmd == "from"]
    if not starts:
        return None
    found = (starts[-1], "")
    for node in nodes:
        if node.cmd == "user" and node.line > starts[-1]:
            found = (node.line, node.args.strip())
    return found


def _read(lines: list[str], reading: _Reading, errors: set[ParseError]) -> list[Reference]:
    parser = _Lines(lines, reading)
    try:
        nodes = parser.nodes()
    except _Refused as refused:
        errors.add(refused.error)
        return []
    if reading is not _READINGS[0] and any(n.cmd not in _INSTRUCTIONS for n in nodes):
        return []  # BuildKit stops at an unknown instruction before it pulls anything
    return _Stages(nodes, parser.escape).references()


# --- BuildKit's parser: lines to instructions --------------------------------------------------

@dataclass(frozen=True)
class _Node:
    line: int
    cmd: str  # lowercase
    flags: tuple[str, ...]
    args: str
    inner: _Node | None = None  # ONBUILD's instruction


class _Lines:
    """parser.Parse: logical lines (directives, continuations, comments) and heredoc bodies."""

    def __init__(self, lines: list[str], reading: _Reading) -> None:
        self.lines, self.reading, self.pos = lines, reading, 0
        self.escape = "\\"
        self.directives_done = False
        self.seen: set[str] = set()

    def nodes(self) -> list[_Node]:
        nodes = []
        while self.pos < len(self.lines):
            start = self.pos + 1
            text = self._logical_line()
            if text is None:
                continue
            node = _node(text, start, self.escape if self.reading.flag_escape else "\\", True)
            nodes.append(node)
            if self.reading.heredocs and "<<" in text and _takes_heredocs(node):
                for name, chomp in _heredocs(text, start):
                    self._skip_body(name, chomp, start)
        return nodes

    def _next(self) -> str:
        self.pos += 1
        return self.lines[self.pos - 1].rstrip("\r")

    def _logical_line(self) -> str | None:
        token = self._next().lstrip(_SPACES)
        self._directive(token)
        part, ends = self._continuation("" if token.startswith("#") else token)
        if ends and not part:
            return None
        parts = [part]
        while not ends and self.pos < len(self.lines):
            token = self._next()
            if token.lstrip(_SPACES)[:1] in ("#", ""):
                continue  # a comment or an empty line inside a continuation
            part, ends = self._continuation(token)
            parts.append(part)
        return "".join(parts)

    def _continuation(self, token: str) -> tuple[str, bool]:
        """BuildKit's `([^E])E[ \\t]*$|^E[ \\t]*$` for the escape character E."""
        body = token.rstrip(" \t")
        if not body.endswith(self.escape):
            return token, True
        if len(body) > 1 and body[-2] == self.escape:
            return token, True  # an escaped escape character
        return body[:-1], False

    def _directive(self, token: str) -> None:
        if self.directives_done:
            return
        found = _directive(token, "#", self.reading.after_hash)
        if found is None or found[0] not in self.reading.directives:
            self.directives_done = True
            return
        key, value = found
        if key in self.seen:
            raise _Refused(ParseError(self.pos, f"only one {key} parser directive can be used",
                                      "delete the repeated directive"))
        self.seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise _Refused(ParseError(self.pos, f"invalid escape token '{value}' does not "
                                          "match ` or \\", "write # escape=` or # escape=\\"))
            self.escape = value

    def _skip_body(self, name: str, chomp: bool, start: int) -> None:
        while self.pos < len(self.lines):
            line = self._next()
            if (line.lstrip("\t") if chomp else line) == name:
                return
        raise _Refused(ParseError(start, f"unterminated heredoc: no line is {name!r}",
                                  f"end the heredoc with a line that is exactly {name}"))


def _directive(line: str, prefix: str, spaces: str = _SPACES) -> tuple[str, str] | None:
    """(key, value) of `# key = value` (regexp `^([a-zA-Z][a-zA-Z0-9]*)\\s*=\\s*(.+?)\\s*$`)."""
    if not line.startswith(prefix):
        return None
    body = line[len(prefix):].lstrip(spaces)
    end = 1 if body[:1].isascii() and body[:1].isalpha() else 0
    while end and end < len(body) and body[end].isascii() and body[end].isalnum():
        end += 1
    rest = body[end:].lstrip(_RE_SPACES)
    value = rest[1:].strip(_RE_SPACES)
    return (body[:end].lower(), value) if end and rest[:1] == "=" and value else None


def _node(line: str, number: int, escape: str, outer: bool) -> _Node:
    """splitCommand and the line parsers: the instruction, its flags, its arguments."""
    text = line.strip(_SPACES)
    cut = next((i for i, c in enumerate(text) if c in _BLANKS), len(text))
    rest, flags = _builder_flags(text[cut:].lstrip(_BLANKS), escape)
    cmd, args = text[:cut].lower(), rest.strip(_SPACES)
    inner = _node(args, number, escape, False) if outer and cmd == "onbuild" and args else None
    return _Node(number, cmd, tuple(flags), args, inner)


def _builder_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """extractBuilderFlags, byte by byte as Go does it: the words before the first word that
    does not start with `--` (a lone `--` ends them too), quotes and escapes removed."""
    data, esc, pos = line.encode("utf-8", "surrogatepass"), ord(escape), 0
    words: list[str] = []
    while True:
        while pos < len(data) and data[pos] in _BYTE_SPACES:
            pos += 1
        if data[pos:pos + 2] != b"--":
            return data[pos:].decode("utf-8", "replace"), words
        word, pos, quoted = _flag_word(data, pos, esc)
        if word == b"--" and pos < len(data):
            return data[pos:].decode("utf-8", "replace"), words
        if word != b"--" and (word or quoted):
            words.append(word.decode("latin-1"))  # Go writes each byte as a rune


def _flag_word(data: bytes, pos: int, esc: int) -> tuple[bytes, int, bool]:
    """One word from `pos` to a space or the end: (word, end, whether it had quotes)."""
    word, quote, quoted = bytearray(), 0, False
    while pos < len(data) and (quote or data[pos] not in _BYTE_SPACES):
        char = data[pos]
        if quote and char == quote:
            quote = 0
        elif not quote and char in b"'\"":
            quote, quoted = char, True
        elif char == esc and pos + 1 == len(data):
            quote = 0  # an escape at the very end is dropped
        elif char == esc:
            pos += 1
            word.append(data[pos])
        else:
            word.append(char)
        pos += 1
    return bytes(word), pos, quoted


def _takes_heredocs(node: _Node) -> bool:
    target = node.inner if node.cmd == "onbuild" and node.inner else node
    return target.cmd in ("add", "copy", "run") and not _json_array(target.args)


def _json_array(args: str) -> bool:
    rest = args.lstrip(_SPACES)
    if not rest.startswith("["):
        return False
    try:
        value = json.loads(rest)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _heredocs(line: str, number: int) -> list[tuple[str, bool]]:
    """heredocsFromLine: the words of the line (quotes and escapes kept) that are
    `[n]<<[-]NAME`, NAME being one word once its quotes are removed."""
    try:
        words = _Lexer(line, "\\", _Env(), raw=True, skip_unset=True).process()[1]
    except _ShellError:
        return []
    found = []
    for word in words:
        digits = len(word) - len(word.lstrip("0123456789"))
        if not word.startswith("<<", digits):
            continue
        chomp = word.startswith("<<-", digits)
        rest = word[digits + 2 + chomp:]
        if not rest or "<" in rest:
            continue
        try:
            names = _Lexer(rest, "\\", _Env(), skip_unset=True).process()[1]
        except _ShellError as exc:
            raise _Refused(ParseError(number, f"heredoc {word}: {exc}",
                                      "write the heredoc name as one word, e.g. <<EOF")) from None
        if len(names) == 1:
            found.append((names[0], chomp))
    return found


# --- BuildKit's shell lexer: quotes, escapes, $VAR and ${VAR...} ------------------------------

class _ShellError(Exception):
    pass


class _Env:
    """The ARGs a FROM line sees: known values, and names whose value the Dockerfile does not
    decide (with why); `problem` keeps the first such name the expansion met."""

    def __init__(self, values: dict[str, str] | None = None,
                 unknown: dict[str, tuple[str, str]] | None = None) -> None:
        self.values, self.unknown = values or {}, unknown or {}
        self.problem: tuple[str, str] | None = None
        self.spent = 0  # characters of values handed out: ARGs of ARGs must not explode

    def get(self, name: str, plain: bool) -> str | None:
        """The value, or None for unset; `plain` is $X or ${X}, where unset is a problem."""
        if name in self.unknown:
            self.problem = self.problem or self.unknown[name]
            return None
        if name in self.values:
            self.spent += len(self.values[name])
            if self.spent > _MAX_EXPANSION:
                raise _ShellError(f"it expands to more than {_MAX_EXPANSION} characters")
            return self.values[name]
        if plain:
            self.problem = self.problem or (f"depends on ARG {name}, which has no default", _FULL)
        return None


class _Words:
    """The word splitting of ProcessWords: expansions split on spaces, quotes do not."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word: list[str] = []
        self.size, self.in_word = 0, False

    def add(self, text: str, raw: bool = False) -> None:
        for char in [text] if raw else text:
            if raw or char not in _SPACES:
                self.word.append(char)
                self.size, self.in_word = self.size + len(char), True
            elif self.in_word and self.size:
                self.done()

    def done(self) -> list[str]:
        if self.size:
            self.words.append("".join(self.word))
        self.word, self.size, self.in_word = [], 0, False
        return self.words


class _Lexer:
    """shell.Lex: `raw` keeps quotes and escapes (RawQuotes, RawEscapes); `skip_unset`
    leaves unset variables as written (SkipUnsetEnv)."""

    def __init__(self, text: str, escape: str, env: _Env, raw: bool = False,
                 skip_unset: bool = False) -> None:
        self.text, self.pos, self.escape, self.env = text, 0, escape, env
        self.raw_quotes = self.raw_escapes = raw
        self.skip_unset = skip_unset

    def process(self) -> tuple[str, list[str]]:
        try:
            return self._until("", self.raw_escapes)
        except RecursionError:
            raise _ShellError("${...} nested too deeply") from None

    def _peek(self) -> str:
        return self.text[self.pos:self.pos + 1]

    def _next(self) -> str:
        char = self._peek()
        self.pos += 1
        return char

    def _until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._scan(stop)
        finally:
            self.raw_escapes = saved

    def _scan(self, stop: str) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if stop and char == stop:
                self.pos += 1
                return "".join(out), words.done()
            if char == "$":
                piece = self._dollar()
                words.add(piece)
            elif char in "'\"":
                piece = self._single() if char == "'" else self._double()
                words.add(piece, raw=True)
            else:
                piece = self._plain(words)
            out.append(piece)
        if stop:
            raise _ShellError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.done()

    def _plain(self, words: _Words) -> str:
        char = self._next()
        if char != self.escape:
            words.add(char)
            return char
        kept = char[:self.raw_escapes]
        words.add(kept + self._next(), raw=True)
        return kept + self.text[self.pos - 1:self.pos]

    def _single(self) -> str:
        out = [self._next()][:self.raw_quotes]
        while (char := self._next()) != "'":
            if not char:
                raise _ShellError("unexpected end of statement while looking for matching "
                                  "single-quote")
            out.append(char)
        return "".join(out) + "'"[:self.raw_quotes]

    def _double(self) -> str:
        out = [self._next()][:self.raw_quotes]
        while (char := self._peek()) != '"':
            if not char:
                raise _ShellError("unexpected end of statement while looking for matching "
                                  "double-quote")
            if char == "$":
                out.append(self._dollar())
                continue
            self.pos += 1
            if char == self.escape:
                out.append(char[:self.raw_escapes])
                if not self._peek():
                    continue
                if self._peek() in ('"', "$", self.escape):
                    char = self._next()
            out.append(char)
        self.pos += 1
        return "".join(out) + '"'[:self.raw_quotes]

    def _dollar(self) -> str:
        self.pos += 1
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value = self.env.get(name, True)
            return value if value is not None else "$" + name if self.skip_unset else ""
        self.pos += 1
        if self._peek() in ("", "{", "}", ":"):
            raise _ShellError("syntax error: missing '}'" if not self._peek() else
                              "syntax error: bad substitution")
        name = self._name()
        op = self._next()
        if op == "}":
            value = self.env.get(name, True)
            return value if value is not None else f"${{{name}}}" if self.skip_unset else ""
        if op == "/":
            return self._replace(name)
        if op == ":":
            return self._modified(name, op + self._next())
        if op in ("+", "-", "?", "#", "%"):
            return self._modified(name, op)
        raise _ShellError(f"unsupported modifier ({op}) in substitution")

    def _modified(self, name: str, modifier: str) -> str:
        op, colon = modifier[-1:], modifier.startswith(":")
        word = self._argument("}", op in ("#", "%"))
        value = self.env.get(name, False)
        if value is None and self.skip_unset:
            return f"${{{name}{modifier}{word}}}"
        empty = value is None or (colon and value == "")
        if op == "-":
            return word if empty else value or ""
        if op == "+":
            return "" if empty else word
        if op == "?" and not empty:
            return value or ""
        if op == "?":
            unset = "is not allowed to be unset" if value is None else "is not allowed to be empty"
            raise _ShellError(f"{name}: {word or unset}")
        if op in ("#", "%"):
            raise _ShellError(f"${{{name}{modifier}...}}: pattern removal is not evaluated here")
        raise _ShellError(f"unsupported modifier ({modifier}) in substitution")

    def _replace(self, name: str) -> str:
        if self._peek() == "/":
            self.pos += 1
        pattern = self._argument("/", True)
        replacement = self._argument("}", True)
        if self.env.get(name, False) is None and self.skip_unset:
            return f"${{{name}/{pattern}/{replacement}}}"
        raise _ShellError(f"${{{name}/...}}: substitution is not evaluated here")

    def _argument(self, stop: str, raw_escapes: bool) -> str:
        try:
            return self._until(stop, raw_escapes)[0]
        except _ShellError:
            if not self._peek():
                raise _ShellError(f"syntax error: missing '{stop}'") from None
            raise

    def _name(self) -> str:
        start, text = self.pos, self.text
        if self._peek() and unicodedata.category(text[start]) == "Nd":
            while self._peek() and unicodedata.category(text[self.pos]) == "Nd":
                self.pos += 1
        elif self._peek() and text[start] in "@*#?-$!0":
            self.pos += 1
        else:
            while self._peek() and (text[self.pos] == "_" or unicodedata.category(
                    text[self.pos])[0] == "L" or unicodedata.category(text[self.pos]) == "Nd"):
                self.pos += 1
        return text[start:self.pos]


# --- stages: what each instruction pulls ------------------------------------------------------

class _Stages:
    def __init__(self, nodes: list[_Node], escape: str) -> None:
        self.nodes, self.escape = nodes, escape
        self.env = _Env(unknown={name: (f"depends on ARG {name}, which the builder sets",
                                        "write the base image in full") for name in _BUILDER_ARGS})
        self.all_names = {n for n in map(_stage_name, nodes) if n}

    def references(self) -> list[Reference]:
        found: list[Reference] = []
        earlier: set[str] = set()
        global_scope = True
        for node in self.nodes:
            if node.cmd == "from":
                found.extend(self._from(node, earlier))
                earlier.update(filter(None, [_stage_name(node)]))
                global_scope = False
            elif node.cmd == "arg" and global_scope:
                self._global_arg(node)
            else:
                found.extend(_sources(node, self.all_names))
        return found

    def _from(self, node: _Node, earlier: set[str]) -> list[Reference]:
        args = _fields(node.args)
        if not args:
            return []
        image, problem = self._expand(args[0])
        if problem is not None:
            return [Reference(node.line, "from", args[0], problem=f"the base image {problem[0]}",
                              hint=problem[1])]
        return [] if image == "scratch" or image in earlier else [
            Reference(node.line, "from", image)]

    def _global_arg(self, node: _Node) -> None:
        for word in _words(node.args, self.escape):
            key, assigned, raw = word.partition("=")
            if not key or key in _BUILDER_ARGS:
                continue
            value, problem = self._expand(raw) if assigned else (
                "", (f"depends on ARG {key}, which has no default", _FULL))
            if problem is None:
                self.env.values[key] = value
                self.env.unknown.pop(key, None)
            else:
                self.env.unknown[key] = problem

    def _expand(self, word: str) -> tuple[str, tuple[str, str] | None]:
        self.env.problem, self.env.spent = None, 0
        try:
            value = _Lexer(word, self.escape, self.env).process()[0]
        except _ShellError as exc:
            return word, self.env.problem or (f"cannot be expanded: {exc}",
                                              "write the base image in full")
        return value, self.env.problem


def _stage_name(node: _Node) -> str | None:
    args = _fields(node.args) if node.cmd == "from" else []
    if len(args) != 3 or args[1].casefold() != "as":
        return None
    name = args[2].lower()
    return name if _STAGE_NAME.fullmatch(name) else None


def _fields(args: str) -> list[str]:
    return re.split(f"[{_BLANKS}]+", args) if args else []


def _sources(node: _Node, stages: set[str], onbuild: bool = False) -> list[Reference]:
    """COPY --from and RUN --mount from= images. In ONBUILD they are resolved in a later
    build, against that build's stages: every name there is an image."""
    if node.cmd == "onbuild":
        return _sources(node.inner, set(), True) if node.inner else []
    values: list[tuple[str, Kind]]
    if node.cmd == "copy":
        values = [(v, "copy-from") for v in _flag_values(node.flags, "from")]
    elif node.cmd == "run":
        values = [(v, "mount-from") for m in _flag_values(node.flags, "mount")
                  for v in _mount_froms(m)]
    else:
        return []
    return [ref for value, kind in values
            if (ref := _source(node.line, kind, value, stages, onbuild)) is not None]


def _source(line: int, kind: Kind, value: str, stages: set[str],
            onbuild: bool) -> Reference | None:
    index = kind == "copy-from" and _INDEX.fullmatch(value) and len(value) < 20  # Go's Atoi
    if not value or index or value.lower() in stages or value == "scratch":
        return None
    if "$" in (value if kind == "copy-from" else value[:-1]):
        where = "--from" if kind == "copy-from" else "a mount's from="
        return Reference(line, kind, value, onbuild,
                         problem=f"BuildKit does not expand variables in {where}",
                         hint="name a stage instead: FROM <image> AS <name>, where a global ARG "
                              "may choose the image, then use the stage's name")
    return Reference(line, kind, value, onbuild)


def _flag_values(flags: tuple[str, ...], name: str) -> list[str]:
    pairs = [flag[2:].partition("=") for flag in flags if flag.startswith("--")]
    return [value for key, assigned, value in pairs if key == name and assigned]


def _mount_froms(mount: str) -> list[str]:
    fields = _csv(mount)
    pairs = [field.partition("=") for field in (fields if fields is not None
                                                 else mount.split(","))]
    return [value for key, assigned, value in pairs if assigned and key.lower() == "from"]


def _csv(text: str) -> list[str] | None:
    """One record of Go's encoding/csv (`"` quotes, `""` is a quote); None if malformed."""
    fields, pos = [], 0
    while True:
        if text.startswith('"', pos):
            parts, pos = [], pos + 1
            while (close := text.find('"', pos)) >= 0 and text.startswith('""', close):
                parts.append(text[pos:close + 1])
                pos = close + 2
            if close < 0 or text[close + 1:close + 2] not in ("", ","):
                return None
            fields.append("".join(parts) + text[pos:close])
            pos = close + 1
        else:
            end = text.find(",", pos)
            end = len(text) if end < 0 else end
            if '"' in text[pos:end]:
                return None
            fields.append(text[pos:end])
            pos = end
        if pos >= len(text):
            return fields
        pos += 1


def _words(rest: str, escape: str) -> list[str]:
    """parseWords (ARG): words split on spaces, quotes and escapes kept for the lexer."""
    words: list[str] = []
    word: list[str] = []
    phase, quote, blank_ok, pos = "spaces", "", False, 0
    while pos < len(rest):
        char = rest[pos]
        if phase == "spaces" and char in _SPACES:
            pos += 1
            continue
        phase = "word" if phase == "spaces" else phase
        if phase == "word" and char in _SPACES:
            if blank_ok or word:
                words.append("".join(word))
            word, blank_ok, phase = [], False, "spaces"
        elif char == escape and (phase == "word" or quote != "'"):
            if pos + 1 == len(rest):
                phase = "word"  # a final escape is dropped
            else:
                pos += 1
                word.extend((char, rest[pos]))
        else:
            if phase == "word" and char in "'\"":
                quote, blank_ok, phase = char, True, "quote"
            elif phase == "quote" and char == quote:
                phase = "word"
            word.append(char)
        pos += 1
    if phase != "spaces" and (blank_ok or word):
        words.append("".join(word))
    return words


# --- the frontend: `# syntax=` --------------------------------------------------------------------

def _syntax(lines: list[str], text: str) -> list[Reference]:
    """DetectSyntax, widened to what any BuildKit version reads: after a `#!` line, the
    leading `# key=value` or `// key=value` lines (indented too, any key), else a JSON
    document's "syntax"; the image is the value's first word."""
    skip = 1 if lines and lines[0].startswith("#!") else 0
    found = []
    for number, line in enumerate(lines[skip:], skip + 1):
        body = line.rstrip("\r").lstrip(_SPACES)
        directive = _directive(body, "#") or _directive(body, "//")
        if directive is None:
            break
        if directive[0] == "syntax":
            found.append(Reference(number, "syntax", directive[1].split(" ", 1)[0]))
    try:
        document = json.loads(text.partition("\n")[2] if skip else text)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict) and isinstance(document.get("syntax"), str):
        found.append(Reference(skip + 1, "syntax", document["syntax"]))
    return found

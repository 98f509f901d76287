""".dockerignore matching, as docker's own (moby/patternmatcher) does it.

Rules: each line is a pattern, cleaned like Go's filepath.Clean with leading and trailing
slashes dropped; `*` matches within one path element, `?` one character, `[...]` a class,
`**` any number of elements; a pattern that matches a folder excludes everything below it; a
line starting with `!` re-includes; the last matching line wins. Written here rather than
imported from the docker SDK: importing that pulls in `requests` and doubles the cost of a
rebuild that changed one script (bench/build.py).

A pattern is translated to a regular expression step for step as moby does, and that
expression is read the way Python's `re` reads it (classes, `*`, `?`, groups, `^`, `$`), so the
meaning is the one `re` gave it. `re` itself runs it only when it has at most one repetition:
its backtracking takes exponential time on `*a*a*...*b` against a long name
(bench/dockerignore.py). Any other runs as a set of NFA states in one pass over the name, so a
match costs at most (name length + 1) x (program size) steps; patterns are at most MAX_PATTERN
characters.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_PATTERN = 1024  # characters: a path is at most 4096, and a pattern is one path
_CACHE_LIMIT = 1_000_000  # NFA states in the numbered sets of a pattern before starting afresh
_MATCH, _CHAR, _SPLIT, _BOL, _EOL = range(5)


@dataclass(frozen=True)
class CharSet:
    """One character of the expression: a literal, a class, `[^/]` or `.` (negated empty)."""

    negate: bool
    chars: frozenset[str] = frozenset()
    ranges: tuple[tuple[int, int], ...] = ()

    def accepts(self, char: str) -> bool:
        code = ord(char)
        inside = char in self.chars or any(lo <= code <= hi for lo, hi in self.ranges)
        return inside != self.negate


@dataclass(frozen=True)
class State:
    op: int
    out: int = -1
    alt: int = -1
    chars: CharSet | None = None


class Matcher:
    """A compiled pattern. An expression with at most one `*` (and at most one `?` group)
    cannot backtrack more than (length x program) steps, and runs on `re`; any other runs as
    NFA states simulated together, with the sets of states met numbered and their transitions
    remembered (a DFA built as the names are read)."""

    def __init__(self, states: tuple[State, ...], start: int, regex: re.Pattern[str] | None,
                 affixes: tuple[str, str] = ("", "")) -> None:
        self.states, self.start, self.regex = states, start, regex
        self.prefix, self.suffix = affixes  # literal text every match starts and ends with
        self._reset()

    def _reset(self) -> None:
        self._sets: list[frozenset[int]] = []
        self._ids: dict[frozenset[int], int] = {}
        self._moves: list[dict[str, int]] = []
        self._accepts: list[bool] = []
        self._final: dict[tuple[int, bool], bool] = {}
        self._start: int | None = None
        self._size = 0

    def match(self, text: str) -> bool:
        if self.regex is not None:
            return self.regex.match(text) is not None
        if not text.startswith(self.prefix) or not (
                text.endswith(self.suffix) or text.endswith(self.suffix + "\n")):
            return False
        return self.run(text)[0]

    def run(self, text: str) -> tuple[bool, int]:
        """(matches, steps) by the NFA, like re.match of the expression; steps counts the
        characters read and the states visited, at most (len(text) + 1) x (states + 1)."""
        steps = [len(text)]
        if self._start is None:
            self._start = self._number(self._closure([self.start], True, False, steps))
        current = self._start
        body = text[:-1] if text.endswith("\n") else text
        for char in body:
            if self._accepts[current]:
                return True, steps[0]
            current = self._move(current, char, steps)
        if body != text:  # `$` also holds before a final newline
            if self._accepts[current] or self._ends(current, not body, steps):
                return True, steps[0]
            current = self._move(current, "\n", steps)
        return self._accepts[current] or self._ends(current, not text, steps), steps[0]

    def _move(self, current: int, char: str, steps: list[int]) -> int:
        moves = self._moves[current]
        following = moves.get(char)
        if following is None:
            following = moves[char] = self._step(current, char, steps)
        return following

    def _ends(self, current: int, bol: bool, steps: list[int]) -> bool:
        """Whether the match state is reached where `$` holds (re's `$` also holds before a
        final newline)."""
        known = self._final.get((current, bol))
        if known is None:
            known = self._final[current, bol] = _MATCH_STATE in self._closure(
                self._sets[current], bol, True, steps)
        return known

    def _step(self, current: int, char: str, steps: list[int]) -> int:
        moved = []
        for index in self._sets[current]:
            steps[0] += 1
            state = self.states[index]
            if state.op == _CHAR and state.chars is not None and state.chars.accepts(char):
                moved.append(state.out)
        return self._number(self._closure(moved, False, False, steps))

    def _number(self, states: frozenset[int]) -> int:
        known = self._ids.get(states)
        if known is None:
            if self._size > _CACHE_LIMIT:
                self._reset()  # ids held by a run stay usable: it moves on to the one returned
            self._size += len(states)
            known = self._ids[states] = len(self._sets)
            self._sets.append(states)
            self._moves.append({})
            self._accepts.append(_MATCH_STATE in states)
        return known

    def _closure(self, seeds: Iterable[int], bol: bool, eol: bool,
                 steps: list[int]) -> frozenset[int]:
        """The states reachable without reading; `^` and `$` states stay in the set, to be
        followed where they hold."""
        seen: set[int] = set()
        todo = list(seeds)
        while todo:
            index = todo.pop()
            if index in seen:
                continue
            seen.add(index)
            steps[0] += 1
            state = self.states[index]
            if state.op == _SPLIT or (state.op == _BOL and bol) or \
                    (state.op == _EOL and eol):
                todo.append(state.out)
            if state.op == _SPLIT:
                todo.append(state.alt)
        return frozenset(seen)


_MATCH_STATE = 0  # the program's first state is its match state


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading `!`
    exclusion: bool
    matcher: Matcher


def parse(lines: list[str]) -> list[Pattern]:
    patterns = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        cleaned = posixpath.normpath(line).strip("/")
        if cleaned in ("", "."):
            continue  # "For historical reasons, the pattern . is ignored."
        while cleaned.startswith("../"):
            cleaned = cleaned[3:]
        patterns.append(Pattern(cleaned, exclusion, compile_pattern(cleaned)))
    return patterns


def excluded(patterns: list[Pattern], path: str) -> bool:
    """Whether `path` (relative, with /) is left out of the build context."""
    parents = path.split("/")[:-1]
    prefixes = ["/".join(parents[:i + 1]) for i in range(len(parents))]
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:
            continue  # cannot change the outcome
        hit = pattern.matcher.match(path) or any(
            pattern.matcher.match(prefix) for prefix in prefixes)
        if hit:
            matched = not pattern.exclusion
    return matched


def may_reinclude_below(patterns: list[Pattern], folder: str) -> bool:
    """Whether an exclusion (`!`) pattern could re-include something under `folder`."""
    prefix = folder + "/"
    return any(p.exclusion and (p.text.startswith(prefix) or any(c in p.text for c in "*?[\\"))
               for p in patterns)


def compile_pattern(pattern: str) -> Matcher:
    """The matcher of one cleaned pattern; ValueError if it is too long or malformed."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"bad pattern {pattern[:40]!r}...: longer than {MAX_PATTERN} "
                         "characters")
    source = _regex(pattern)
    try:
        compiled = re.compile(source, re.DOTALL)  # the reference reading, and its errors
    except re.error as exc:
        raise ValueError(f"bad pattern {pattern!r}: {exc}") from None
    program = _Program()
    tree = _Reader(source).sequence()
    start = program.compile(tree)
    return Matcher(tuple(program.states), start, compiled if _tame(tree) else None,
                   _affixes(tree))


def _regex(pattern: str) -> str:
    """moby's translation of a pattern to a regular expression, step for step."""
    out = "^"
    index, end = 0, len(pattern)
    in_class = False
    while index < end:
        char = pattern[index]
        if in_class and char not in "\\]":
            out += char  # inside [...] everything is the class's own syntax
        elif char == "*" and pattern.startswith("**", index):
            index += 1
            if pattern.startswith("/", index + 1):
                index += 1  # "**/" is "**"
            out += ".*" if index + 1 >= end else "(.*/)?"
        elif char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "\\":
            index += 1
            out += re.escape(pattern[index]) if index < end else "\\\\"
        elif char in "[]":
            in_class = char == "["
            out += char
        else:
            out += re.escape(char)
        index += 1
    return out + "$"


# --- reading the expression as Python's re does (only what _regex can write) -----------------

# ("set", CharSet) | ("bol",) | ("eol",) | ("seq", [nodes]) | ("rep", node, None or 1)
Node = tuple[object, ...]


class _Reader:
    def __init__(self, source: str) -> None:
        self.source, self.pos = source, 0

    def _get(self) -> str:
        char = self.source[self.pos]
        self.pos += 1
        if char == "\\":
            char += self.source[self.pos]
            self.pos += 1
        return char

    def _peek(self) -> str:
        return self.source[self.pos] if self.pos < len(self.source) else ""

    def sequence(self) -> Node:
        items: list[Node] = []
        while self._peek() not in ("", ")"):
            atom = self._atom()
            while self._peek() in ("*", "?"):
                most = None if self._get() == "*" else 1
                atom = ("rep", atom, most)
            items.append(atom)
        return ("seq", items)

    def _atom(self) -> Node:
        token = self._get()
        if token == "(":
            inner = self.sequence()
            self._get()  # ")"
            return inner
        simple: dict[str, Node] = {"^": ("bol",), "$": ("eol",),
                                   ".": ("set", CharSet(True))}
        if token in simple:
            return simple[token]
        if token == "[":
            return ("set", self._class())
        return ("set", CharSet(False, frozenset({_literal(token)})))

    def _class(self) -> CharSet:
        """sre's reading of a set: `]` first is literal, `a-b` a range, `\\x` is x."""
        negate = self._peek() == "^"
        self.pos += negate
        chars: set[str] = set()
        ranges: list[tuple[int, int]] = []
        while True:
            token = self._get()
            if token == "]" and (chars or ranges):
                return CharSet(negate, frozenset(chars), tuple(ranges))
            if self._peek() != "-":
                chars.add(_literal(token))
                continue
            self.pos += 1
            upper = self._get()
            if upper == "]":
                chars.update((_literal(token), "-"))
                return CharSet(negate, frozenset(chars), tuple(ranges))
            ranges.append((ord(_literal(token)), ord(_literal(upper))))


def _tame(tree: Node) -> bool:
    """At most one unbounded and one optional repetition: re's backtracking stays linear."""
    unbounded = optional = 0
    todo: list[object] = [tree]
    while todo:
        node = todo.pop()
        assert isinstance(node, tuple)
        if node[0] == "rep":
            unbounded += node[2] is None
            optional += node[2] == 1
            todo.append(node[1])
        elif node[0] == "seq":
            assert isinstance(node[1], list)
            todo.extend(node[1])
    return unbounded <= 1 and optional <= 1


def _affixes(tree: Node) -> tuple[str, str]:
    """The literal characters right after `^` and right before `$` of the expression."""
    items = tree[1]
    assert isinstance(items, list)
    begins, ends = items[:1] == [("bol",)], items[-1:] == [("eol",)]
    return (_literals(items[1:] if begins else []),
            _literals(items[-2::-1] if ends else [])[::-1])


def _literals(items: list[Node]) -> str:
    text = ""
    for item in items:
        chars = item[1] if item[0] == "set" else None
        if not isinstance(chars, CharSet) or chars.negate or chars.ranges or \
                len(chars.chars) != 1:
            break
        text += next(iter(chars.chars))
    return text


def _literal(token: str) -> str:
    if len(token) == 2 and not token[1].isalnum():
        return token[1]  # re.escape only ever escapes punctuation and whitespace
    if len(token) != 1:
        raise ValueError(f"unexpected escape {token!r}")  # _regex never writes one
    return token


class _Program:
    """Thompson's construction: each node becomes states that lead to `out`."""

    def __init__(self) -> None:
        self.states: list[State] = [State(_MATCH)]

    def _add(self, state: State) -> int:
        self.states.append(state)
        return len(self.states) - 1

    def compile(self, node: Node, out: int = _MATCH_STATE) -> int:
        kind = node[0]
        if kind == "seq":
            items = node[1]
            assert isinstance(items, list)
            for item in reversed(items):
                out = self.compile(item, out)
            return out
        if kind == "rep":
            return self._repeat(node, out)
        if kind == "set":
            assert isinstance(node[1], CharSet)
            return self._add(State(_CHAR, out, chars=node[1]))
        return self._add(State(_BOL if kind == "bol" else _EOL, out))

    def _repeat(self, node: Node, out: int) -> int:
        inner, most = node[1], node[2]
        assert isinstance(inner, tuple)
        split = self._add(State(_SPLIT, out=-1, alt=out))
        body = self.compile(inner, out if most == 1 else split)
        self.states[split] = State(_SPLIT, out=body, alt=out)
        return split

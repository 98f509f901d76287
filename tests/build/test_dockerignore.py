"""pipelinectl.dockerignore against docker's rules: cases from the docs, and the docker SDK's
own matcher (docker.utils.build.PatternMatcher) as a second opinion over a grid of patterns
and paths."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from docker.utils.build import PatternMatcher

from pipelinectl.build import dockerignore

PATHS = ["a", "a.txt", "b.csv", "data", "data/raw.csv", "data/keep.csv", "data/x/y.csv",
         "src/main.py", "src/__pycache__/main.pyc", "src/a/b/c.py", "docs/readme.md",
         "temp1", "tempa/x", "x/temp1", "Dockerfile", ".git", "dir/.hidden", "a b/c d.txt"]
PATTERNS = ["data", "data/", "*.csv", "data/*.csv", "**/*.csv", "**/__pycache__", "src/**",
            "temp?", "*/temp*", "docs", "/a.txt", "./b.csv", "a b", "src/a/**/c.py",
            "!data/keep.csv", "!src/main.py", "!*.csv", "**", "*"]


def ours(lines: list[str], path: str) -> bool:
    return dockerignore.excluded(dockerignore.parse(lines), path)


def theirs(lines: list[str], path: str) -> bool:
    return bool(PatternMatcher(lines).matches(path))


@pytest.mark.parametrize(("lines", "path", "expected"), [
    (["data"], "data/raw.csv", True),  # a folder's pattern excludes what is below it
    (["*.csv", "!data/keep.csv"], "data/keep.csv", False),  # the last match wins
    (["!data/keep.csv", "data/*.csv"], "data/keep.csv", True),
    (["*.csv"], "data/keep.csv", False),  # * stays within one folder
    (["**/*.csv"], "b.csv", True),  # "**/" also matches no folder at all
    (["**/*.csv"], "data/x/y.csv", True),
    (["*/temp*"], "x/temp1", True),
    (["*/temp*"], "temp1", False),
    (["temp?"], "temp1", True),
    (["temp?"], "tempab", False),
    (["/a.txt"], "a.txt", True),  # leading slash and ./ are cleaned away
    (["./b.csv"], "b.csv", True),
    (["."], "a.txt", False),  # "for historical reasons, the pattern . is ignored"
    (["# a comment", ""], "a.txt", False),
    (["data/**"], "data/x/y.csv", True),
    (["src/a/**/c.py"], "src/a/b/c.py", True),
    (["src/a/**/c.py"], "src/a/c.py", True),
    (["a\\*b"], "a*b", True),  # a backslash escapes
    (["a\\*b"], "axb", False),
    (["[ab].txt"], "a.txt", True),
    (["[^a].txt"], "a.txt", False),
    (["a.txt"], "aXtxt", False),  # regex characters are literal
])
def test_docker_rules(lines: list[str], path: str, expected: bool) -> None:
    assert ours(lines, path) is expected


@pytest.mark.parametrize("pair", list(itertools.permutations(PATTERNS, 2)))
def test_agrees_with_the_docker_sdk(pair: tuple[str, str]) -> None:
    lines = list(pair)
    differ = [p for p in PATHS if ours(lines, p) != theirs(lines, p)]
    assert differ == [], differ


def test_a_malformed_class_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^bad pattern '\[a-'"):
        dockerignore.parse(["[a-"])


def test_a_pathological_pattern_takes_linear_steps() -> None:
    """`*a` thirty times then `*b`: re backtracks for longer than a minute on a 5,000
    character name (bench/dockerignore.py). The matcher reads each character once: its steps
    grow with the name, by at most the number of its states per character."""
    pattern = "*a" * 30 + "*b"
    assert dockerignore.compile_pattern(pattern).regex is None  # not left to re

    def steps(name: str, expected: bool) -> int:
        matcher = dockerignore.compile_pattern(pattern)
        matched, count = matcher.run(name)
        assert matched is expected
        assert count <= (len(name) + 1) * (len(matcher.states) + 1)
        return count

    short, long = steps("a" * 5000, False), steps("a" * 10000, False)
    assert long <= 2 * short
    assert steps("a" * 4999 + "b", True) <= 2 * short
    assert not dockerignore.excluded(dockerignore.parse([pattern]), "a" * 5000)


def test_patterns_are_bounded() -> None:
    with pytest.raises(ValueError, match=r"longer than 1024 characters"):
        dockerignore.parse(["a" * 1025])


@pytest.mark.filterwarnings("ignore:Possible:FutureWarning")  # re on `[[`, as before
def test_the_matcher_reads_patterns_as_re_reads_their_translation() -> None:
    """Against Python's re on the same translated expression (today's meaning), on random
    short patterns with classes, ranges, `**`, escapes and the odd `[]`, and names."""
    rng = random.Random(13)
    pieces = list("ab/*?[]^\\-.\n") + ["**", "**/", "[]", "[^]", "[a-c]", "\\*", "[!a]"]
    for _ in range(3000):
        pattern = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 7)))
        try:
            expression = re.compile(dockerignore._regex(pattern), re.DOTALL)
        except re.error:
            continue
        matcher = dockerignore.compile_pattern(pattern)
        for _ in range(6):
            name = "".join(rng.choice("ab/x.-*?[]^\\\n") for _ in range(rng.randint(0, 8)))
            expected = bool(expression.match(name))
            assert matcher.run(name)[0] is matcher.match(name) is expected, (pattern, name)

"""pipelinectl.dockerignore against docker's rules: cases from the docs, and the docker SDK's
own matcher (docker.utils.build.PatternMatcher) as a second opinion over a grid of patterns
and paths."""

from __future__ import annotations

import itertools

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

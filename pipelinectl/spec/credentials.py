"""Credentials written into pipeline.yaml env values and command words (docs/reference/checks.md):
detect-secrets' detectors decide, pipelinectl words the message.

Importing detect-secrets costs ~80 ms (it loads requests), more than validating hundreds of
pipelines, so the regular expressions of its detectors are read once and cached on disk (as
the compiled schema is). They only pre-select: a line that one of them matches is handed to
that detector itself, imported then, whose answer counts. The verdict is detect-secrets' own,
and validating a repository without credentials does not import it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

from pipelinectl import files

_FORMAT = 1  # of the cache record
_FILENAME = "pipeline.yaml"  # the keyword detector reads `NAME: value` as a YAML line
# Not credentials (public IP addresses), or guesses from randomness that flag checksums and
# ids: detect-secrets' own scans filter these with heuristics that a value alone cannot feed.
_SKIPPED = frozenset({"IPPublicDetector", "Base64HighEntropyString", "HexHighEntropyString"})
_WORDS = {
    "AWS Access Key": "an AWS access key",
    "Azure Storage Account access key": "an Azure storage account key",
    "Basic Auth Credentials": "a URL with a password",
    "GitHub Token": "a GitHub token",
    "GitLab Token": "a GitLab token",
    "JSON Web Token": "a JSON web token",
    "Private Key": "a private key",
    "Slack Token": "a Slack token",
    "Stripe Access Key": "a Stripe secret key",
}
_KEYWORD = "Secret Keyword"
_PIECE, _OVERLAP = 1024, 128
_LONG_WORD = re.compile(r"\w{65,}")
# What detect-secrets (1.5) does not look for.
_OWN_VALUES = (
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), "a Google API key"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22}"), "a GitHub token"),
    (re.compile(r"(?i)(token|access[_-]?key)\s*[=:]\s*\w"), "a password or token assignment"),
)
# A variable named like a credential holds one, whatever its value looks like ('PWD' alone is
# the shell's working directory, hence the '_').
_OWN_NAME = re.compile(r"(?i)(PASSWORD|PASSWD|_PWD|_PASS|(^|_)(SECRET|SECRET_KEY|TOKEN|"
                       r"API_?KEY|PRIVATE_KEY|ACCESS_KEY))$")


@dataclass(frozen=True)
class Detector:
    """One detect-secrets plugin: where it lives, and the patterns that pre-select for it
    (None: every line goes to the plugin)."""

    module: str
    name: str
    secret_type: str
    patterns: tuple[re.Pattern[str], ...] | None

    def finds(self, lines: list[str]) -> bool:
        """Whether the plugin finds a secret in any of `lines` (pre-selected by patterns)."""
        for line in lines:
            if self.secret_type == _KEYWORD and self.patterns:
                line = _defused(line, self.patterns[0])
            if (self.patterns is None or any(p.search(line) for p in self.patterns)) and \
                    _plugin(self.module, self.name).analyze_line(filename=_FILENAME, line=line):
                return True
        return False


@functools.lru_cache(maxsize=4096)
def kind(name: str, value: str) -> str | None:
    """What kind of credential the env variable `name` = `value` looks like, or None."""
    if not value:
        return None
    pieces = _pieces(value)
    lines = [f"{name}: {pieces[0]}"] + [f"X: {piece}" for piece in pieces[1:]]
    for detector in detectors():
        if detector.finds(lines):
            return _words(detector, name, pieces)
    for pattern, what in _OWN_VALUES:
        if pattern.search(value):
            return what
    if _OWN_NAME.search(name):
        return f"a credential (the variable is named {name})"
    return None


def _pieces(value: str) -> list[str]:
    """The value's lines, cut in overlapping pieces of at most 1,024 characters: a detector's
    pattern may take time quadratic in the text it searches (OpenAI's on 'sk-' * 10,000: 1.5
    s), and a credential is one line of a few hundred characters at most."""
    pieces: list[str] = []
    for line in value.splitlines() or [value]:
        step = _PIECE - _OVERLAP
        pieces.extend(line[start:start + _PIECE]
                      for start in range(0, max(len(line) - _OVERLAP, 1), step))
    return pieces


def _defused(line: str, keyword: re.Pattern[str]) -> str:
    """`line` with each run of over 64 word characters cut to its ends around one keyword it
    holds. The keyword detector's patterns read `keyword\\w*` then an assignment, which can
    only follow the end of a run, so the answer is the same; but on long runs they backtrack
    ('password' * 4,096 took 72 s). No keyword holds a '0', so the joins make none."""
    def cut(match: re.Match[str]) -> str:
        run = match.group()
        found = keyword.search(run)
        return run[:32] + "0" + (found.group() + "0" if found else "") + run[-32:]
    return _LONG_WORD.sub(cut, line)


def _words(detector: Detector, name: str, pieces: list[str]) -> str:
    if detector.secret_type == _KEYWORD:
        if detector.finds([f"X: {piece}" for piece in pieces]):
            return "a password or token assignment"  # password=... inside the value
        return f"a credential (the variable is named {name})"
    known = _WORDS.get(detector.secret_type)
    if known:
        return known
    kind = detector.secret_type
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"


@functools.cache
def _plugin(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)()


@functools.cache
def detectors() -> tuple[Detector, ...]:
    """detect-secrets' detectors in its order, keyword last (a value's own pattern says more
    than the variable's name); () without detect-secrets installed."""
    key = _cache_key()
    if key is None:
        return ()
    cache = files.cache_dir() / f"detect-secrets-{key}.json"
    found = _from_record(files.read_record(cache))
    if found is None:
        record = {"format": _FORMAT, "detectors": _describe()}
        files.write_record(cache, record)
        found = _from_record(record)
    return found or ()


def _cache_key() -> str | None:
    """Names the installed detect-secrets: its location and files' times, and Python."""
    spec = importlib.util.find_spec("detect_secrets")
    if spec is None or not spec.origin:
        return None
    plugins = os.path.join(os.path.dirname(spec.origin), "plugins")
    try:
        stamps = [os.stat(path) for path in (spec.origin, plugins)]
    except OSError:
        return None
    text = "\0".join([spec.origin, sys.version, str(_FORMAT),
                      *(f"{s.st_mtime_ns}:{s.st_size}" for s in stamps)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _describe() -> list[dict[str, Any]]:
    """The detectors as a JSON record (the one place that imports detect-secrets to list
    them)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.keyword import DENYLIST, KeywordDetector

    found: list[dict[str, Any]] = []
    plugins: dict[str, Any] = get_mapping_from_secret_type_to_class()
    for secret_type, plugin in plugins.items():
        if plugin.__name__ in _SKIPPED:
            continue
        patterns: list[tuple[str, int]] | None = None
        if plugin is KeywordDetector:  # each of its patterns starts with a keyword
            patterns = [("|".join(DENYLIST), int(re.IGNORECASE))]
        elif issubclass(plugin, RegexBasedDetector):
            denylist = plugin.__dict__.get("denylist")
            if isinstance(denylist, (list, tuple)):
                patterns = [(p.pattern, int(p.flags)) for p in denylist]
        found.append({"module": plugin.__module__, "name": plugin.__name__,
                      "type": secret_type, "patterns": patterns})
    found.sort(key=lambda d: d["type"] == _KEYWORD)
    return found


def _from_record(record: dict[str, Any]) -> tuple[Detector, ...] | None:
    """The detectors of a cache record, or None if it is not one of ours (then it is made
    again: a cache only costs time)."""
    if record.get("format") != _FORMAT or not isinstance(record.get("detectors"), list):
        return None
    try:
        return tuple(Detector(d["module"], d["name"], d["type"], None if d["patterns"] is None
                              else tuple(re.compile(p, f) for p, f in d["patterns"]))
                     for d in record["detectors"])
    except (KeyError, TypeError, ValueError, re.error):
        return None

"""One error hierarchy for pipelinectl, and the diagnostics that user errors carry.

Every user-facing problem is a `Diagnostic`: where (file:line:col), what, and an optional hint.
Commands raise `PipelinectlError` subclasses; `cli.main` is the one place that maps them to exit
codes and prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelinectl.textsafe import inline

EXIT_OK = 0
EXIT_USER = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT (128 + 2)


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file; line and column are 1-based (0 means unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return inline(self.file)
        return f"{inline(self.file)}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in user input."""

    location: Location
    message: str
    hint: str | None = None
    code: str = "invalid"
    warning: bool = False  # reported, but the file stays valid

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.message)

    def render(self) -> str:
        text = f"{self.location}: {'warning: ' if self.warning else ''}{inline(self.message)}"
        if self.hint:
            text += f"\n  hint: {inline(self.hint)}"
        return text


class PipelinectlError(Exception):
    """Base of every error pipelinectl raises on purpose."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, *, location: Location | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def diagnostics(self) -> list[Diagnostic]:
        return [Diagnostic(self.location or Location("pipelinectl"), self.message, self.hint)]

    def render(self) -> str:
        """The problem and its hint, with control characters escaped (textsafe.inline); a
        message may list several problems on lines of their own, but every line after the
        first is indented: nothing a value holds can start a line."""
        prefix = f"{self.location}: " if self.location else "error: "
        first, *more = self.message.split("\n")
        text = prefix + "".join([inline(first), *(
            "\n" + (line if line.startswith(" ") else "  " + line)
            for line in map(inline, more))])
        if self.hint:
            text += f"\n  hint: {inline(self.hint)}"
        return text


class UserError(PipelinectlError):
    """Bad input or a failed check: exit 1."""

    exit_code = EXIT_USER


class UsageError(PipelinectlError):
    """Bad command-line usage: exit 2."""

    exit_code = EXIT_USAGE


class InvalidInput(UserError):
    """One or more diagnostics about user files (specs, platform config)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        first = diagnostics[0].render() if diagnostics else "invalid input"
        super().__init__(first)
        self.problems = sorted(diagnostics, key=Diagnostic.sort_key)

    def diagnostics(self) -> list[Diagnostic]:
        return list(self.problems)

    def render(self) -> str:
        return "\n".join(d.render() for d in self.problems)


def closest(value: str, choices: list[str]) -> str | None:
    """The choice `value` was most likely meant to be, if one is close enough."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == value.lower()]
    return close[0] if close else None


def did_you_mean(value: str, choices: list[str]) -> str | None:
    """A hint naming the closest choice, if one is close enough."""
    match = closest(value, choices)
    return f"did you mean '{match}'?" if match else None


def dedupe(problems: list[Diagnostic]) -> list[Diagnostic]:
    """Drop repeats (same place, same message): a bad default is reported once, not per task."""
    seen: set[tuple[Location, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.location, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


@dataclass
class Collector:
    """Accumulates diagnostics so that every problem is reported, not only the first."""

    problems: list[Diagnostic] = field(default_factory=list)

    def add(self, location: Location, message: str, hint: str | None = None,
            code: str = "invalid") -> None:
        self.problems.append(Diagnostic(location, message, hint, code))

    def warn(self, location: Location, message: str, hint: str | None = None,
             code: str = "warning") -> None:
        """Something worth saying that does not make the file invalid."""
        self.problems.append(Diagnostic(location, message, hint, code, warning=True))

    def extend(self, diagnostics: list[Diagnostic]) -> None:
        self.problems.extend(diagnostics)

    def __bool__(self) -> bool:
        return bool(self.problems)

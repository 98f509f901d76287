"""Semantic checks of one pipeline: what JSON Schema cannot say (docs/reference/pipeline-yaml.md).

Each check appends diagnostics to a Collector; none stops at the first problem.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterError

from pipelinectl.errors import Collector, Diagnostic, dedupe, did_you_mean
from pipelinectl.spec import policy, repofiles
from pipelinectl.spec.model import Pipeline, Task
from pipelinectl.spec.platform import Platform
from pipelinectl.spec.yamlio import JsonPath, where
from pipelinectl.units import parse_duration, quantity_problem
from pipelinectl.vocabulary import ENV_PREFIX, RESERVED_LABEL_KEYS, RESERVED_LABEL_PREFIXES

CRON_MACROS = ("@hourly", "@daily", "@weekly", "@monthly")
_REFERENCE_TIME = datetime(2000, 1, 1)  # fixed, so that checks never read the clock

_CREDENTIAL_VALUES = (
    (re.compile(r"(?i)(password|passwd|pwd|secret|token|api[_-]?key)\s*[=:]\s*\S"),
     "a password or token assignment"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\b(ghp|gho|ghu|ghs|github_pat)_[A-Za-z0-9_]{20,}"), "a GitHub token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), "a GitLab token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\."), "a JSON web token"),
    (re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
)
_CREDENTIAL_NAME = re.compile(
    r"(?i)(^|_)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|ACCESS_KEY)$")
_HOST_ZONE_ALIASES = frozenset({"localtime", "posixrules", "Factory"})
_CRON_RANGES = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12),
                ("day-of-week", 0, 7))
_CRON_FIELD = re.compile(r"^(\*|\?|[0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?(/[0-9]+)?$")


@dataclass(frozen=True)
class Context:
    """What checks need beyond the spec: the repo on disk and the platform."""

    repo_root: Path
    pipeline_dir: Path
    platform: Platform
    repo_id: str | None = None


def check(pipeline: Pipeline, ctx: Context) -> list[Diagnostic]:
    problems = Collector()
    check_tasks(pipeline, problems)
    check_schedule(pipeline, problems)
    check_engine(pipeline, problems)
    check_settings(pipeline, problems)
    check_labels(pipeline, problems)
    repofiles.check(pipeline, ctx.repo_root, ctx.pipeline_dir, problems)
    policy.check(pipeline, ctx.platform, ctx.repo_id, ctx.repo_root, ctx.pipeline_dir,
                 problems)
    return dedupe(problems.problems)


# --- tasks and dependencies -------------------------------------------------------------------

def check_tasks(pipeline: Pipeline, problems: Collector) -> None:
    seen: dict[str, Task] = {}
    for task in pipeline.tasks:
        first = seen.setdefault(task.name, task)
        if first is not task:
            line = pipeline.source.at(first.path + ("name",)).line
            problems.add(pipeline.source.at(task.path + ("name",)),
                         f"tasks[{task.index}].name: task name '{task.name}' is already used "
                         f"on line {line}", "give every task its own name", "duplicate-task")
    names = list(seen)
    for task in pipeline.tasks:
        _check_depends(pipeline, task, names, problems)
    cycle = find_cycle(pipeline)
    start = pipeline.task(cycle[0]) if cycle else None
    if cycle and start is not None:
        problems.add(pipeline.source.at(start.path + ("depends_on",)),
                     f"tasks[{start.index}].depends_on: dependency cycle: "
                     f"{' -> '.join(cycle)}", "remove one of these dependencies", "cycle")


def _check_depends(pipeline: Pipeline, task: Task, names: list[str],
                   problems: Collector) -> None:
    for i, dep in enumerate(task.depends_on):
        path = task.path + ("depends_on", i)
        if dep == task.name:
            problems.add(pipeline.source.at(path),
                         f"{where(path)}: task '{dep}' depends on itself",
                         "remove it from its own depends_on", "self-dependency")
        elif dep not in names:
            hint = did_you_mean(dep, names) or f"tasks are: {', '.join(names)}"
            problems.add(pipeline.source.at(path), f"{where(path)}: unknown task '{dep}'", hint,
                         "unknown-task")


def find_cycle(pipeline: Pipeline) -> list[str] | None:
    """A dependency cycle as a path a -> b -> a, or None (self-dependencies are reported apart)."""
    names = {t.name for t in pipeline.tasks}
    graph: dict[str, list[str]] = {}
    for task in pipeline.tasks:
        graph.setdefault(task.name, []).extend(
            d for d in task.depends_on if d != task.name and d in names)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in graph:
        cycle = _walk(start, graph, state)
        if cycle:
            return cycle
    return None


def _walk(node: str, graph: dict[str, list[str]], state: dict[str, int]) -> list[str] | None:
    # Iterative depth-first search: 100 tasks in a line must not meet the recursion limit.
    if state.get(node):
        return None
    state[node] = 1
    trail = [node]
    stack = [iter(graph[node])]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            state[trail.pop()] = 2
            stack.pop()
        elif state.get(child) == 1:
            return trail[trail.index(child):] + [child]
        elif not state.get(child):
            state[child] = 1
            trail.append(child)
            stack.append(iter(graph[child]))
    return None


# --- schedule ---------------------------------------------------------------------------------

def check_schedule(pipeline: Pipeline, problems: Collector) -> None:
    schedule = pipeline.schedule
    if schedule is None:
        return
    cron_path: JsonPath = ("schedule", "cron") if ("schedule", "cron") in pipeline.source.values \
        else ("schedule",)
    message = cron_problem(schedule.cron)
    if message:
        problems.add(pipeline.source.at(cron_path), f"{where(cron_path)}: {message}",
                     "use 5 fields: minute hour day-of-month month day-of-week, e.g. "
                     "\"0 7 * * 1-5\", or one of " + ", ".join(CRON_MACROS), "cron")
    if not is_time_zone(schedule.timezone):
        hint = did_you_mean(schedule.timezone, sorted(_zones())) or \
            "use an IANA name such as Europe/London or America/New_York"
        problems.add(pipeline.source.at(("schedule", "timezone")),
                     f"schedule.timezone: unknown time zone {schedule.timezone!r}", hint,
                     "timezone")
    if schedule.start_date and not _is_date(schedule.start_date):
        problems.add(pipeline.source.at(("schedule", "start_date")),
                     f"schedule.start_date: {schedule.start_date!r} is not a real date",
                     "write the date as YYYY-MM-DD", "date")
    if schedule.starting_deadline is not None:
        _check_duration(pipeline, ("schedule", "starting_deadline"), schedule.starting_deadline,
                        problems)


@functools.lru_cache(maxsize=4096)
def cron_problem(expression: str) -> str | None:
    """Why a cron expression is not usable by both Kubernetes and Airflow, or None."""
    text = expression.strip()
    if text.startswith("@"):
        return None if text in CRON_MACROS else f"{expression!r} is not a supported cron macro"
    fields = text.split()
    if len(fields) != 5:
        return f"{expression!r} has {len(fields)} fields; cron needs 5"
    for field, (what, low, high) in zip(fields, _CRON_RANGES, strict=True):
        if not all(_CRON_FIELD.match(part) for part in field.split(",")):
            return f"{expression!r}: {what} field {field!r} is not valid cron"
        for number in re.findall(r"(?<![/0-9])[0-9]+", field):
            if not low <= int(number) <= high:
                return f"{expression!r}: {what} {number} is out of range ({low}-{high})"
    try:
        croniter(text, _REFERENCE_TIME).get_next(datetime)
    except CroniterBadDateError:
        return f"{expression!r} never runs"
    except (CroniterError, ValueError, KeyError) as exc:
        return f"{expression!r} is not valid cron ({exc})"
    return None


@functools.lru_cache(maxsize=1024)
def is_time_zone(name: str) -> bool:
    """An IANA zone name (from the tzdata package, or the system's zoneinfo)."""
    if name == "UTC":
        return True
    if name in _HOST_ZONE_ALIASES or name.startswith(("posix/", "right/")):
        return False  # they name the host's zone or a variant file, not a place
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    # ZoneInfo also opens any file under TZPATH (posixrules, localtime): keep to real zones.
    return "/" in name or name in _zones()


@functools.cache
def _zones() -> frozenset[str]:
    """Every zone name: only for hints, as listing them costs ~40 ms."""
    return frozenset(zoneinfo.available_timezones())


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


# --- engine -----------------------------------------------------------------------------------

def check_engine(pipeline: Pipeline, problems: Collector) -> None:
    engine = pipeline.resolved_engine
    if engine == "cronjob" and len(pipeline.tasks) > 1:
        reason = chain_problem(pipeline)
        if reason:
            problems.add(pipeline.source.at(("engine",)),
                         f"engine: cronjob runs several tasks only as one chain; {reason}",
                         "use engine: airflow (or auto) for this pipeline, or make each task "
                         "depend on the one before it", "engine")
    if engine == "airflow":
        return
    why = "engine: auto picks cronjob for one task" if pipeline.engine == "auto" else \
        "engine is cronjob"
    for path in _airflow_only(pipeline):
        problems.add(pipeline.source.key_at(path),
                     f"{where(path)}: needs the airflow engine ({why})",
                     f"set engine: airflow, or remove {path[-1]}", "engine-only")


def _airflow_only(pipeline: Pipeline) -> list[JsonPath]:
    candidates: list[JsonPath] = [("schedule", "catchup"), ("schedule", "start_date"),
                               ("notifications",)]
    return [path for path in candidates if path in pipeline.source.keys]


def chain_problem(pipeline: Pipeline) -> str | None:
    """Why the tasks do not form one chain (each after exactly one other), or None."""
    roots = [t.name for t in pipeline.tasks if not t.depends_on]
    if len(roots) != 1:
        return f"{len(roots)} tasks have no depends_on ({', '.join(roots)})"
    for task in pipeline.tasks:
        if len(task.depends_on) > 1:
            return f"'{task.name}' depends on {len(task.depends_on)} tasks"
        followers = [t.name for t in pipeline.tasks if task.name in t.depends_on]
        if len(followers) > 1:
            return f"{' and '.join(repr(f) for f in followers)} both depend on '{task.name}'"
    return None


# --- task settings: durations, quantities, env ------------------------------------------------

def check_settings(pipeline: Pipeline, problems: Collector) -> None:
    """Checks each task's effective settings, reported where they were written."""
    for task in pipeline.tasks:
        for key in ("retry_delay", "timeout"):
            _check_duration(pipeline, pipeline.setting_path(task, key), getattr(task, key),
                            problems)
        for key in ("cpu", "memory"):
            _check_quantity(pipeline, pipeline.setting_path(task, "resources", key), key,
                            getattr(task.resources, key), problems)
        for name, value in task.env:
            _check_env(pipeline, pipeline.setting_path(task, "env", name), name, value,
                       problems)


def _check_duration(pipeline: Pipeline, path: JsonPath, text: str, problems: Collector) -> None:
    if parse_duration(text) == 0:
        problems.add(pipeline.source.at(path), f"{where(path)}: must be longer than 0s",
                     "e.g. 30s, 5m or 1h", "duration")


def _check_quantity(pipeline: Pipeline, path: JsonPath, kind: str, text: str,
                    problems: Collector) -> None:
    message = quantity_problem(kind, text)
    if message:
        problems.add(pipeline.source.at(path), f"{where(path)}: {message}",
                     "e.g. cpu: 500m or \"2\"" if kind == "cpu" else "e.g. memory: 512Mi or 2Gi",
                     "quantity")


def _check_env(pipeline: Pipeline, path: JsonPath, name: str, value: str,
               problems: Collector) -> None:
    if name.upper().startswith(ENV_PREFIX):
        problems.add(pipeline.source.key_at(path),
                     f"{where(path[:-1])}: {name} is reserved: pipelinectl sets "
                     f"{ENV_PREFIX}* variables itself", "rename the variable",
                     "reserved-env")
    what = credential_kind(name, value)
    if what:
        problems.add(pipeline.source.at(path),
                     f"{where(path)}: value looks like {what}; credentials must not be "
                     "written in pipeline.yaml",
                     "store it in a Kubernetes Secret and list the Secret under 'secrets:'",
                     "credential")


@functools.lru_cache(maxsize=4096)
def credential_kind(name: str, value: str) -> str | None:
    """What kind of credential `value` looks like, or None."""
    for pattern, what in _CREDENTIAL_VALUES:
        if pattern.search(value):
            return what
    if value and _CREDENTIAL_NAME.search(name):
        return f"a credential (the variable is named {name})"
    return None


# --- labels -----------------------------------------------------------------------------------

def check_labels(pipeline: Pipeline, problems: Collector) -> None:
    for key, _ in pipeline.metadata.labels:
        path = ("metadata", "labels", key)
        if key in RESERVED_LABEL_KEYS or key.startswith(RESERVED_LABEL_PREFIXES):
            problems.add(pipeline.source.key_at(path),
                         f"metadata.labels: {key!r} is set by pipelinectl", "remove this label",
                         "reserved-label")
        if len(key.rpartition("/")[0]) > 253:
            problems.add(pipeline.source.key_at(path),
                         "metadata.labels: a label prefix is longer than 253 characters",
                         "shorten the label prefix", "label")

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
from pipelinectl.spec import credentials, policy, repofiles
from pipelinectl.spec.model import Pipeline, Resources, Task
from pipelinectl.spec.platform import Platform
from pipelinectl.spec.text import show, show_path, unusual
from pipelinectl.spec.yamlio import JsonPath
from pipelinectl.units import ceiling_problem, duration_problem, quantity_problem
from pipelinectl.vocabulary import ENV_PREFIX, RESERVED_LABEL_KEYS, RESERVED_LABEL_PREFIXES

CRON_MACROS = ("@hourly", "@daily", "@weekly", "@monthly")
_REFERENCE_TIME = datetime(2000, 1, 1)  # fixed, so that checks never read the clock

_HOST_ZONE_ALIASES = frozenset({"localtime", "posixrules", "Factory"})
CRON_HINT = ("use 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 7 * * 1-5\", "
             "or one of " + ", ".join(CRON_MACROS))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# What Kubernetes' parser (robfig/cron v3 ParseStandard, which CronJob validation calls)
# accepts, field by field: bounds, names (months, days), and whether '?' may stand for '*'.
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int], bool], ...] = (
    ("minute", 0, 59, {}, False), ("hour", 0, 23, {}, False),
    ("day-of-month", 1, 31, {}, True),
    ("month", 1, 12, {name: i for i, name in enumerate(_MONTHS, 1)}, False),
    ("day-of-week", 0, 6, {name: i for i, name in enumerate(_DAYS)}, True),
)
NUL_HINT = "remove it: a process's command line and environment cannot hold a NUL character"
_ARGUMENT = "ARG"  # the name a command's word is checked under (no name suggests a credential)
_CRON_ITEM = re.compile(r"(?:(?P<any>[*?])|(?P<start>[0-9]+|[A-Za-z]+)"
                        r"(?:-(?P<end>[0-9]+|[A-Za-z]+))?)(?:/(?P<step>[0-9]+))?")


@dataclass(frozen=True)
class Context:
    """What checks need beyond the spec: the repo on disk and the platform."""

    repo_root: Path
    pipeline_dir: Path
    platform: Platform
    repo_id: str | None = None


def check(pipeline: Pipeline, ctx: Context) -> list[Diagnostic]:
    from pipelinectl.spec import backfills  # it uses this module's cron checks

    problems = Collector()
    check_tasks(pipeline, problems)
    check_schedule(pipeline, problems)
    check_engine(pipeline, problems)
    team = ctx.platform.teams.get(pipeline.metadata.team)
    check_settings(pipeline, problems, team.max_task_resources if team else None)
    check_labels(pipeline, problems)
    check_params(pipeline, problems)
    backfills.check_backfills(pipeline, problems)
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
        _check_command(pipeline, task, problems)
    cycle = find_cycle(pipeline)
    start = pipeline.task(cycle[0]) if cycle else None
    if cycle and start is not None:
        problems.add(pipeline.source.at(start.path + ("depends_on",)),
                     f"tasks[{start.index}].depends_on: dependency cycle: "
                     f"{' -> '.join(cycle)}", "remove one of these dependencies", "cycle")


def _check_command(pipeline: Pipeline, task: Task, problems: Collector) -> None:
    """No NUL (no command line can carry one) and no credential in a command's words."""
    for i, word in enumerate(task.command):
        path = task.path + ("command", i)
        if "\0" in word:
            problems.add(pipeline.source.at(path),
                         f"{show_path(path)}: contains a NUL character", NUL_HINT, "nul")
        what = credentials.kind(_ARGUMENT, word)
        if what:
            problems.add(pipeline.source.at(path),
                         f"{show_path(path)}: this word looks like {what}; "
                         "credentials must not be written in pipeline.yaml",
                         "store it in a Kubernetes Secret, list the Secret under 'secrets:' "
                         "and read it from the environment", "credential")


def _check_depends(pipeline: Pipeline, task: Task, names: list[str],
                   problems: Collector) -> None:
    for i, dep in enumerate(task.depends_on):
        path = task.path + ("depends_on", i)
        if dep == task.name:
            problems.add(pipeline.source.at(path),
                         f"{show_path(path)}: task '{dep}' depends on itself",
                         "remove it from its own depends_on", "self-dependency")
        elif dep not in names:
            hint = did_you_mean(dep, names) or f"tasks are: {', '.join(names)}"
            problems.add(pipeline.source.at(path), f"{show_path(path)}: unknown task {show(dep)}",
                         hint, "unknown-task")


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
    problem = cron_problem(schedule.cron)
    if problem:
        problems.add(pipeline.source.at(cron_path), f"{show_path(cron_path)}: {problem[0]}",
                     problem[1], "cron")
    if not is_time_zone(schedule.timezone):
        hint = did_you_mean(schedule.timezone, sorted(_zones())) or \
            "use an IANA name such as Europe/London or America/New_York"
        problems.add(pipeline.source.at(("schedule", "timezone")),
                     f"schedule.timezone: unknown time zone {show(schedule.timezone)}", hint,
                     "timezone")
    if schedule.start_date and not _is_date(schedule.start_date):
        problems.add(pipeline.source.at(("schedule", "start_date")),
                     f"schedule.start_date: {schedule.start_date!r} is not a real date",
                     "write the date as YYYY-MM-DD", "date")
    if schedule.starting_deadline is not None:
        _check_duration(pipeline, ("schedule", "starting_deadline"), schedule.starting_deadline,
                        problems)


@functools.lru_cache(maxsize=4096)
def cron_problem(expression: str) -> tuple[str, str] | None:
    """(why, hint) if a cron expression is not accepted by both engines, or None: Kubernetes
    (robfig/cron v3, whose rules _CRON_FIELDS holds) and Airflow (croniter), which must also
    find a next run. Both read the expression without its surrounding spaces."""
    text = expression.strip()
    shown = show(expression)
    if not text.isascii() or not text.isprintable():
        return (f"{shown} has a character cron does not read: {unusual(text)}",
                "write the schedule with ASCII digits, letters, spaces and * , - / ?")
    if text.startswith("@"):
        return None if text in CRON_MACROS else (
            f"{shown} is not a supported cron macro", "use one of " + ", ".join(CRON_MACROS)
            + (" (Airflow has no @every: write it as cron, e.g. \"*/30 * * * *\")"
               if text.startswith("@every") else ""))
    fields = text.split()
    if len(fields) != 5:
        return f"{shown} has {len(fields)} fields; cron needs 5", CRON_HINT
    for field, rules in zip(fields, _CRON_FIELDS, strict=True):
        for item in field.split(","):
            problem = _cron_item_problem(item, field, *rules)
            if problem:
                return f"{shown}: {problem[0]}", problem[1]
    return _croniter_problem(text, shown)


def _cron_item_problem(item: str, field: str, what: str, low: int, high: int,
                       names: dict[str, int], question: bool) -> tuple[str, str] | None:
    """robfig/cron's getRange for one comma-separated item: * or ? (day fields only), a
    number or name, a range low-high, each with an optional /step."""
    match = _CRON_ITEM.fullmatch(item)
    if not match:
        return f"{what} field {field!r} is not valid cron", CRON_HINT
    if match["any"] == "?" and not question:
        return (f"{what} field {field!r}: '?' is only allowed in day-of-month and day-of-week",
                "write * instead")
    values = [_cron_value(match[key], names) for key in ("start", "end") if match[key]]
    bounds = [value for value in values if value is not None]
    if len(bounds) < len(values):
        hint = "use JAN-DEC for months and SUN-SAT for days of the week" if names else \
            f"the {what} field takes numbers from {low} to {high}"
        word = next(w for w in (match["start"], match["end"]) if _cron_value(w, names) is None)
        return f"{what} field {field!r}: {word!r} is not a {what}", hint
    for number in bounds:
        if not low <= number <= high:
            hint = "Kubernetes counts Sunday as 0 (or SUN), never 7" if \
                (what == "day-of-week" and number == 7) else f"use {low} to {high}"
            text = str(number) if number < 10**9 else f"{str(number)[:9]}..."
            return f"{what} {text} is out of range ({low}-{high})", hint
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return (f"{what} range {item!r} ends before it starts",
                "write the smaller value first; a range cannot wrap around (0-1 and 22-23 "
                "as '22-23,0-1')")
    if match["step"] is not None and int(match["step"]) == 0:
        return f"{what} step in {item!r} must be at least 1", "e.g. */15"
    return None


def _cron_value(word: str, names: dict[str, int]) -> int | None:
    """A number (any digits: the range check follows) or a 3-letter name of `names`."""
    if word.isdigit():
        return int(word)
    return names.get(word.lower())


def _croniter_problem(text: str, shown: str) -> tuple[str, str] | None:
    """What Airflow's croniter says, and whether the schedule ever runs."""
    try:
        croniter(text, _REFERENCE_TIME).get_next(datetime)
    except CroniterBadDateError:
        return f"{shown} never runs", "check that the day of the month exists in the months " \
            "named (30 2 would be February 30th)"
    except (CroniterError, ValueError, KeyError) as exc:
        return f"{shown} is not valid cron ({exc})", CRON_HINT
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
                     f"{show_path(path)}: needs the airflow engine ({why})",
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

def check_settings(pipeline: Pipeline, problems: Collector,
                   caps: Resources | None = None) -> None:
    """Checks each task's effective settings, reported where they were written. `caps` is
    the team's max_task_resources: where it sets a field, policy holds tasks to it; where it
    does not, pipelinectl's ceiling bounds the task."""
    for task in pipeline.tasks:
        for key in ("retry_delay", "timeout"):
            _check_duration(pipeline, pipeline.setting_path(task, key), getattr(task, key),
                            problems)
        for key in ("cpu", "memory"):
            capped = caps is not None and bool(getattr(caps, key))
            _check_quantity(pipeline, pipeline.setting_path(task, "resources", key), key,
                            getattr(task.resources, key), problems, capped)
        for name, value in task.env:
            _check_env(pipeline, pipeline.setting_path(task, "env", name), name, value,
                       problems)


def _check_duration(pipeline: Pipeline, path: JsonPath, text: str, problems: Collector) -> None:
    problem = duration_problem(text)
    if problem:
        problems.add(pipeline.source.at(path), f"{show_path(path)}: {problem[0]}", problem[1],
                     "duration")


def _check_quantity(pipeline: Pipeline, path: JsonPath, kind: str, text: str,
                    problems: Collector, capped: bool = False) -> None:
    shown = pipeline.source.raw.get(path, text)  # 1e308 as written, not its 309 digits
    example = "e.g. cpu: 500m or \"2\"" if kind == "cpu" else "e.g. memory: 512Mi or 2Gi"
    message = quantity_problem(kind, shown) or quantity_problem(kind, text)
    if message:
        problems.add(pipeline.source.at(path), f"{show_path(path)}: {message}", example,
                     "quantity")
        return
    message = None if capped else ceiling_problem(kind, shown)
    if message:
        problems.add(pipeline.source.at(path), f"{show_path(path)}: {message}",
                     f"ask for what the task needs ({example[5:]}); the platform team can "
                     "allow more with the team's max_task_resources", "quantity")


def _check_env(pipeline: Pipeline, path: JsonPath, name: str, value: str,
               problems: Collector) -> None:
    if name.upper().startswith(ENV_PREFIX):
        problems.add(pipeline.source.key_at(path),
                     f"{show_path(path[:-1])}: {name} is reserved: pipelinectl sets "
                     f"{ENV_PREFIX}* variables itself", "rename the variable",
                     "reserved-env")
    if "\0" in value:
        problems.add(pipeline.source.at(path),
                     f"{show_path(path)}: contains a NUL character", NUL_HINT, "nul")
    what = credentials.kind(name, value)
    if what:
        problems.add(pipeline.source.at(path),
                     f"{show_path(path)}: value looks like {what}; credentials must not be "
                     "written in pipeline.yaml",
                     "store it in a Kubernetes Secret and list the Secret under 'secrets:'",
                     "credential")


# --- params -----------------------------------------------------------------------------------

def check_params(pipeline: Pipeline, problems: Collector) -> None:
    """Each param's values as tasks get them: no NUL, no credential, unique in its enum,
    and the default one of its enum."""
    for param in pipeline.params:
        values = [(param.path + ("default",), param.default)] + [
            (param.path + ("enum", i), value) for i, value in enumerate(param.enum or ())]
        for path, value in values:
            check_param_value(pipeline, param.env_name, path, value, problems)
        seen: dict[str, int] = {}
        for i, value in enumerate(param.enum or ()):
            first = seen.setdefault(value, i)
            if first != i:
                path = param.path + ("enum", i)
                problems.add(pipeline.source.at(path),
                             f"{show_path(path)}: {show(value)} is already enum item {first} "
                             "(as text, which is what tasks get)",
                             "list each value once", "param")
        if param.enum is not None and param.default not in param.enum:
            path = param.path + ("default",)
            problems.add(pipeline.source.at(path),
                         f"{show_path(path)}: {show(param.default)} is not one of its enum "
                         f"values ({', '.join(show(v) for v in param.enum)})",
                         "make the default one of enum, or add it to enum", "param")


def check_param_value(pipeline: Pipeline, env_name: str, path: JsonPath, value: str,
                       problems: Collector) -> None:
    if "\0" in value:
        problems.add(pipeline.source.at(path), f"{show_path(path)}: contains a NUL character",
                     NUL_HINT, "nul")
    what = credentials.kind(env_name, value)
    if what:
        problems.add(pipeline.source.at(path),
                     f"{show_path(path)}: value looks like {what}; credentials must not be "
                     "written in pipeline.yaml",
                     "store it in a Kubernetes Secret and list the Secret under 'secrets:'",
                     "credential")


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

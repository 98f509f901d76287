"""The pipeline spec as frozen, typed objects, built once from a schema-valid document.

Defaults are applied here: a task's `resources` are merged field by field over `defaults`,
`env` is merged by variable name (the task wins), every other setting is replaced whole.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipelinectl.errors import Diagnostic
from pipelinectl.spec.yamlio import Document, JsonPath, SourceMap
from pipelinectl.units import quantity_text
from pipelinectl.vocabulary import ENV_PARAM_PREFIX

BUILTIN_DEFAULTS: dict[str, Any] = {
    "resources": {"cpu": "500m", "memory": "1Gi"},
    "retries": 0,
    "retry_delay": "5m",
    "timeout": "6h",
}

Pairs = tuple[tuple[str, str], ...]
# The closed sets of the spec (schemas/pipeline.schema.json holds them to these values).
Engine = Literal["auto", "cronjob", "airflow"]
ResolvedEngine = Literal["cronjob", "airflow"]
Concurrency = Literal["forbid", "allow", "replace"]
Language = Literal["r", "python"]
_SHLEX_SPECIAL = frozenset("'\"\\")


@dataclass(frozen=True)
class Resources:
    cpu: str
    memory: str


@dataclass(frozen=True)
class Task:
    index: int
    name: str
    command: tuple[str, ...]
    depends_on: tuple[str, ...]
    resources: Resources
    retries: int
    retry_delay: str
    timeout: str
    env: Pairs
    secrets: tuple[str, ...]

    @property
    def path(self) -> JsonPath:
        return ("tasks", self.index)


@dataclass(frozen=True)
class Image:
    language: Language | None
    version: str | None
    dependencies: str | None
    system_packages: tuple[str, ...]
    dockerfile: str | None
    context: str | None


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str
    concurrency: Concurrency
    suspend: bool
    starting_deadline: str | None
    catchup: bool | None
    start_date: str | None

    @property
    def path(self) -> JsonPath:
        return ("schedule",)


@dataclass(frozen=True)
class Metadata:
    name: str
    team: str
    description: str | None
    owner: str | None
    labels: Pairs


@dataclass(frozen=True)
class Notifications:
    on_failure: tuple[str, ...]
    on_success: tuple[str, ...]


@dataclass(frozen=True)
class Param:
    """A value a run may be started with (docs/reference/pipeline-yaml.md#params). `default`
    and `enum` are text, as tasks see them in PIPELINECTL_PARAM_<NAME>: a number or boolean
    as the file wrote it (`1.50` stays "1.50", `yes` stays "yes")."""

    name: str
    default: str
    enum: tuple[str, ...] | None
    description: str | None

    @property
    def path(self) -> JsonPath:
        return ("params", self.name)

    @property
    def env_name(self) -> str:
        return ENV_PARAM_PREFIX + self.name.upper()

    def refusal(self, value: str) -> str | None:
        """Why `value` cannot be this param's value in a run, or None."""
        if self.enum is not None and value not in self.enum:
            return "is not one of its enum values"
        if "\0" in value:
            return "contains a NUL character"
        return None


@dataclass(frozen=True)
class Backfill:
    """A bounded re-run of past schedule ticks (docs/reference/pipeline-yaml.md#backfills):
    the ticks in [from, to] (spec/ticks.py), at most `max_parallel` at once, with `params`
    (text, as tasks get them) over the params' defaults."""

    index: int
    id: str
    start: str  # `from`, YYYY-MM-DD
    end: str  # `to`, YYYY-MM-DD, inclusive: the whole day
    max_parallel: int
    params: Pairs

    @property
    def path(self) -> JsonPath:
        return ("backfills", self.index)


@dataclass(frozen=True)
class Pipeline:
    file: str
    source: SourceMap
    metadata: Metadata
    image: Image
    schedule: Schedule | None
    engine: Engine
    tasks: tuple[Task, ...]
    notifications: Notifications | None
    # The folder that holds pipeline.yaml (resolved, no symlink below the repository root):
    # the one notion of "the pipeline's folder" that validate, build, render and run share.
    folder: Path = Path()
    # The environment whose overlay is merged in (spec/environments.py), or None: as written.
    environment: str | None = None
    # The merge request this is a preview of (spec/previews.py): metadata.name carries -mr<N>.
    preview: int | None = None
    # The document it was built from, for building it again in an environment.
    document: Document | None = field(default=None, compare=False, repr=False)
    # The values a run may be started with, in file order (the same in every environment).
    params: tuple[Param, ...] = ()
    # Re-runs of past ticks, in file order (the same in every environment); not part of the
    # spec digest: adding one changes no task (render/ownership.py).
    backfills: tuple[Backfill, ...] = ()

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def resolved_engine(self) -> ResolvedEngine:
        """`auto` is cronjob for one task, airflow for several (docs/reference/pipeline-yaml.md)."""
        if self.engine != "auto":
            return self.engine
        return "cronjob" if len(self.tasks) == 1 else "airflow"

    def task(self, name: str) -> Task | None:
        return next((t for t in self.tasks if t.name == name), None)

    def task_order(self) -> list[str]:
        """Task names in dependency order, ties broken by position in the file
        (deterministic); ValueError on a cycle (validate reports cycles first)."""
        done: set[str] = set()
        order: list[str] = []
        while len(order) < len(self.tasks):
            ready = [t.name for t in self.tasks
                     if t.name not in done and set(t.depends_on) <= done]
            if not ready:
                raise ValueError("dependency cycle")
            order.append(ready[0])
            done.add(ready[0])
        return order

    def ordered_tasks(self) -> list[Task]:
        """The tasks in dependency order (see task_order)."""
        by_name = {task.name: task for task in self.tasks}
        return [by_name[name] for name in self.task_order()]

    def setting_path(self, task: Task, *keys: str | int) -> JsonPath:
        """Where a task's effective setting was written: on the task, in defaults, or nowhere."""
        own = task.path + keys
        if own in self.source.values:
            return own
        shared = ("defaults",) + keys
        return shared if shared in self.source.values else task.path + ("name",)


def build(doc: Document, folder: Path | None = None) -> tuple[Pipeline, list[Diagnostic]]:
    """Typed pipeline from a schema-valid document, plus problems found while building;
    `folder` is where its pipeline.yaml is (spec/discover.py: pipeline_folder)."""
    data = doc.data
    problems: list[Diagnostic] = []
    defaults = data.get("defaults", {})
    tasks = tuple(_task(i, raw, defaults, doc, problems) for i, raw in enumerate(data["tasks"]))
    pipeline = Pipeline(
        file=doc.file,
        source=doc.source,
        metadata=_metadata(data["metadata"]),
        image=_image(data["image"]),
        schedule=_schedule(data.get("schedule")),
        engine=data.get("engine", "auto"),
        tasks=tasks,
        notifications=_notifications(data.get("notifications")),
        folder=folder or Path(),
        document=doc,
        params=tuple(_param(name, raw, doc.source)
                     for name, raw in data.get("params", {}).items()),
        backfills=tuple(_backfill(i, raw, doc.source)
                        for i, raw in enumerate(data.get("backfills", []))),
    )
    return pipeline, problems


def _metadata(raw: dict[str, Any]) -> Metadata:
    return Metadata(raw["name"], raw["team"], raw.get("description"), raw.get("owner"),
                    tuple(raw.get("labels", {}).items()))


def _image(raw: dict[str, Any]) -> Image:
    return Image(raw.get("language"), raw.get("version"), raw.get("dependencies"),
                 tuple(raw.get("system_packages", ())), raw.get("dockerfile"), raw.get("context"))


def _schedule(raw: str | dict[str, Any] | None) -> Schedule | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"cron": raw}
    return Schedule(cron=raw["cron"], timezone=raw.get("timezone", "UTC"),
                    concurrency=raw.get("concurrency", "forbid"),
                    suspend=raw.get("suspend", False),
                    starting_deadline=raw.get("starting_deadline"),
                    catchup=raw.get("catchup"), start_date=raw.get("start_date"))


def _param(name: str, raw: dict[str, Any], source: SourceMap) -> Param:
    path = ("params", name)
    enum = raw.get("enum")
    return Param(name, param_text(raw["default"], source, path + ("default",)),
                 None if enum is None else tuple(param_text(v, source, path + ("enum", i))
                                                 for i, v in enumerate(enum)),
                 raw.get("description"))


def _backfill(index: int, raw: dict[str, Any], source: SourceMap) -> Backfill:
    path = ("backfills", index, "params")
    return Backfill(index, raw["id"], raw["from"], raw["to"], raw.get("max_parallel", 1),
                    tuple((name, param_text(value, source, path + (name,)))
                          for name, value in raw.get("params", {}).items()))


def param_text(value: str | int | float | bool, source: SourceMap, path: JsonPath) -> str:
    """A param value as text: a string as it is, a number or boolean as the file wrote it."""
    if isinstance(value, str):
        return value
    written = source.raw.get(path)
    if written is not None:
        return written
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _notifications(raw: dict[str, Any] | None) -> Notifications | None:
    if raw is None:
        return None
    return Notifications(tuple(raw.get("on_failure", ())), tuple(raw.get("on_success", ())))


def _task(index: int, raw: dict[str, Any], defaults: dict[str, Any], doc: Document,
          problems: list[Diagnostic]) -> Task:
    def setting(key: str) -> Any:
        return raw.get(key, defaults.get(key, BUILTIN_DEFAULTS.get(key)))

    resources = {**BUILTIN_DEFAULTS["resources"], **defaults.get("resources", {}),
                 **raw.get("resources", {})}
    env = {**defaults.get("env", {}), **raw.get("env", {})}
    return Task(
        index=index,
        name=raw["name"],
        command=_command(raw["command"], doc, ("tasks", index, "command"), problems),
        depends_on=tuple(raw.get("depends_on", ())),
        resources=Resources(quantity_text(resources["cpu"]), quantity_text(resources["memory"])),
        retries=setting("retries"),
        retry_delay=setting("retry_delay"),
        timeout=setting("timeout"),
        env=tuple(env.items()),
        secrets=tuple(setting("secrets") or ()),
    )


def split_command(text: str) -> list[str]:
    """Split a command string like a POSIX shell would (shlex), without running one.

    Without quotes or backslashes shlex splits on whitespace only, so str.split gives the same
    list at a fraction of the cost (a monorepo holds thousands of commands).
    """
    if not _SHLEX_SPECIAL.intersection(text):
        return text.split()
    return shlex.split(text)


def _command(raw: str | list[str], doc: Document, path: JsonPath,
             problems: list[Diagnostic]) -> tuple[str, ...]:
    if isinstance(raw, list):
        return tuple(raw)
    try:
        parts = split_command(raw)
    except ValueError as exc:
        problems.append(Diagnostic(doc.source.at(path), f"tasks[{path[1]}].command: cannot be "
                                   f"split into arguments: {str(exc).lower()}",
                                   "close the quote, or write the command as a list",
                                   "command"))
        return ()
    if not parts:
        problems.append(Diagnostic(doc.source.at(path), f"tasks[{path[1]}].command: is empty",
                                   "write the program and its arguments", "command"))
    return tuple(parts)

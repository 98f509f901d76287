"""What a deploy would change, in words first, then as a diff (pure; for `plan`).

Both renderings are read back into one summary: a CronJob manifest (its containers are the
tasks) or a generated DAG file (its one `PIPELINE = {...}` literal, read with
ast.literal_eval, never executed). Two summaries give sentences such as
"schedule 0 7 * * * -> 0 8 * * * (Europe/London)" or "task `clean` added".
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from pipelinectl.render.cronjob import UNSCHEDULED_CRON
from pipelinectl.render.dagfile import pipeline_literal
from pipelinectl.vocabulary import BACKFILLS_ANNOTATION, TASK_ENV

_HIDDEN_ENV = TASK_ENV  # set by pipelinectl in every task: not a change to describe


@dataclass(frozen=True)
class TaskSummary:
    command: tuple[str, ...]
    cpu: str
    memory: str
    env: tuple[tuple[str, str], ...]
    secrets: tuple[str, ...]
    retries: int | None = None
    timeout: int | None = None
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Summary:
    kind: str  # CronJob | DAG
    name: str
    schedule: str | None  # "0 7 * * * (Europe/London)"; None: run by hand
    paused: bool
    image: str
    tasks: Mapping[str, TaskSummary] = field(default_factory=dict)
    # The backfills the deploy starts: id -> (runs, first, last, max_parallel)
    backfills: Mapping[str, tuple[int, str, str, int]] = field(default_factory=dict)


def summarize(path: str, text: str) -> Summary:
    return _dag(text) if path.endswith(".py") else _cronjob(text)


def describe(old: Summary | None, new: Summary | None) -> list[str]:
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        return [f"{new.kind} {new.name} will be created"] + _backfills({}, new.backfills)
    if new is None:
        return [f"{old.kind} {old.name} will be deleted"] + _backfills(old.backfills, {})
    lines = []
    if old.schedule != new.schedule:
        lines.append(f"schedule {old.schedule or 'none (by hand)'} -> "
                     f"{new.schedule or 'none (by hand)'}")
    if old.paused != new.paused:
        lines.append("paused" if new.paused else "resumed")
    if old.image != new.image:
        lines.append(f"image {_short(old.image)} -> {_short(new.image)}")
    for name in new.tasks.keys() - old.tasks.keys():
        lines.append(f"task `{name}` added")
    for name in old.tasks.keys() - new.tasks.keys():
        lines.append(f"task `{name}` removed")
    for name in sorted(new.tasks.keys() & old.tasks.keys()):
        lines += [f"task `{name}`: {line}" for line in _task(old.tasks[name], new.tasks[name])]
    return _ordered(lines) + _backfills(old.backfills, new.backfills)


def _backfills(old: Mapping[str, tuple[int, str, str, int]],
               new: Mapping[str, tuple[int, str, str, int]]) -> list[str]:
    """A backfill the deploy starts, or stops (an id the deployed CronJob lists and the new
    one does not): its runs, first and last logical date, and parallelism."""
    lines = []
    for key in sorted(new.keys() - old.keys()):
        runs, first, last, parallel = new[key]
        lines.append(f"backfill {key}: will start {runs} run{'s' if runs != 1 else ''} "
                     f"({first} .. {last}), at most {parallel} at once")
    lines += [f"backfill {key}: will stop" for key in sorted(old.keys() - new.keys())]
    return lines


def _backfills_of(meta: Mapping[str, Any]) -> dict[str, tuple[int, str, str, int]]:
    text = (meta.get("annotations") or {}).get(BACKFILLS_ANNOTATION)
    if not text:
        return {}
    found = json.loads(text)
    return {str(key): (int(v[0]), str(v[1]), str(v[2]), int(v[3])) for key, v in found.items()}


def diff(path: str, old: str | None, new: str | None) -> str:
    return "".join(difflib.unified_diff(
        (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
        fromfile=f"a/{path}" if old is not None else "/dev/null",
        tofile=f"b/{path}" if new is not None else "/dev/null"))


def _ordered(lines: list[str]) -> list[str]:
    """Schedule, pause and image first (as found), then tasks by name."""
    head = [line for line in lines if not line.startswith("task `")]
    return head + sorted(line for line in lines if line.startswith("task `"))


def _task(old: TaskSummary, new: TaskSummary) -> list[str]:
    lines = []
    if old.command != new.command:
        lines.append(f"command {_words(old.command)} -> {_words(new.command)}")
    for label, before, after in (("cpu", old.cpu, new.cpu), ("memory", old.memory, new.memory),
                                 ("retries", old.retries, new.retries),
                                 ("timeout", old.timeout, new.timeout)):
        if before != after:
            lines.append(f"{label} {before} -> {after}")
    old_env, new_env = dict(old.env), dict(new.env)
    for key in sorted(new_env.keys() - old_env.keys()):
        lines.append(f"env {key} added")
    for key in sorted(old_env.keys() - new_env.keys()):
        lines.append(f"env {key} removed")
    for key in sorted(k for k in new_env.keys() & old_env.keys() if new_env[k] != old_env[k]):
        lines.append(f"env {key} changed")
    if old.secrets != new.secrets:
        lines.append(f"secrets {list(old.secrets)} -> {list(new.secrets)}")
    if old.depends_on != new.depends_on:
        lines.append(f"depends on {list(old.depends_on)} -> {list(new.depends_on)}")
    return lines


def _cronjob(text: str) -> Summary:
    obj: dict[str, Any] = yaml.safe_load(text)
    spec = obj["spec"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    containers = list(pod.get("initContainers") or []) + list(pod["containers"])
    unscheduled = spec.get("suspend") and spec["schedule"] == UNSCHEDULED_CRON
    schedule = None if unscheduled else f"{spec['schedule']} ({spec.get('timeZone', 'UTC')})"
    tasks = {}
    for index, container in enumerate(containers):
        resources = container.get("resources", {}).get("requests", {})
        tasks[container["name"]] = TaskSummary(
            tuple(container.get("command") or ()), str(resources.get("cpu", "")),
            str(resources.get("memory", "")),
            tuple((e["name"], str(e.get("value", ""))) for e in container.get("env") or ()
                  if e["name"] not in _HIDDEN_ENV),
            tuple(ref["secretRef"]["name"] for ref in container.get("envFrom") or ()),
            depends_on=(containers[index - 1]["name"],) if index else ())
    return Summary("CronJob", obj["metadata"]["name"], schedule,
                   bool(spec.get("suspend")) and not unscheduled,
                   str(containers[-1].get("image", "")), tasks,
                   _backfills_of(obj["metadata"]))


def _dag(text: str) -> Summary:
    literal = pipeline_literal(text)
    schedule = literal.get("schedule")
    tasks = {
        task["name"]: TaskSummary(
            tuple(task["command"]), task["requests"]["cpu"], task["requests"]["memory"],
            tuple((k, v) for k, v in task["env"] if k not in _HIDDEN_ENV),
            tuple(task["secrets"]), task["retries"], task["timeout_seconds"],
            tuple(task["depends_on"]))
        for task in literal["tasks"]}
    return Summary("DAG", literal["dag_id"],
                   None if schedule is None else f"{schedule['cron']} ({schedule['timezone']})",
                   bool(literal.get("paused")), str(literal.get("image", "")), tasks,
                   _backfills_of({"annotations": {BACKFILLS_ANNOTATION: literal.get("backfills")}}))


def _short(image: str) -> str:
    name, _, digest = image.partition("@")
    return f"{name.rsplit('/', 1)[-1]}@{digest[:19]}" if digest else image


def _words(command: tuple[str, ...]) -> str:
    return " ".join(command)

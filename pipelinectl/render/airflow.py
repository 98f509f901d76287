"""One static Airflow DAG file per pipeline of the airflow engine (pure, deterministic).

The file is templates/dag.py.tmpl with one statement replaced: `PIPELINE = {...}`, a literal
made with repr() from plain data. Spec values never become code: `check_generated` parses the
result and refuses it unless every statement but that literal is the template's own, and the
literal evaluates with ast.literal_eval. The scheduler imports only this static file: no YAML
at parse time, and one broken pipeline cannot hide another's DAG.

The template's `access_control` entry (with the comment above it) is kept only in the DAGs of a
team with an Airflow role (the platform's teams.<team>.airflow_role, in PIPELINE as
`airflow_role`): the DAG file of a team without one is, byte for byte, what it was before
roles existed. So there are two fixed texts around the literal, and `check_generated` accepts
either.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pipelinectl.render import backfill, ownership
from pipelinectl.render.cronjob import Target
from pipelinectl.spec.model import Pipeline, Task
from pipelinectl.spec.platform import Platform, TaskRunner, Team
from pipelinectl.units import parse_duration, parse_quantity
from pipelinectl.vocabulary import ENV_PIPELINE, ENV_REVISION, ENV_TASK, ENV_TEAM

TEMPLATE = Path(__file__).resolve().parent / "templates" / "dag.py.tmpl"
DEFAULT_START = (2024, 1, 1)  # without start_date: a fixed past day (catchup is off by default)
DEFAULT_DOCKER_URL = "unix://var/run/docker.sock"


@dataclass(frozen=True)
class AirflowTarget:
    """Where the DAG's tasks run: the platform's Airflow settings on top of a Target."""

    target: Target
    runner: TaskRunner = "kubernetes"
    kubernetes_conn_id: str = "kubernetes_default"
    docker_url: str = DEFAULT_DOCKER_URL
    airflow_role: str | None = None  # the FAB role that alone (with Admin) reaches the DAG


def team_target(platform: Platform, team: Team, target: Target) -> AirflowTarget:
    """Where a team's DAGs run on `platform`: its task runner, and the team's own connection
    (airflow.kubernetes_conn_id unless the team names one) and Airflow role."""
    return AirflowTarget(target, runner=platform.airflow.task_runner,
                         kubernetes_conn_id=team.kubernetes_conn_id,
                         airflow_role=team.airflow_role)


class GeneratedCodeError(Exception):
    """The generated DAG is not the template plus one literal (a bug, never user input)."""


def dag_id(pipeline: Pipeline) -> str:
    """<team>__<name>; a preview's <team>__<name>__mr<N>."""
    if pipeline.preview is not None:
        base = pipeline.metadata.name.removesuffix(f"-mr{pipeline.preview}")
        return f"{pipeline.metadata.team}__{base}__mr{pipeline.preview}"
    return f"{pipeline.metadata.team}__{pipeline.metadata.name}"


def render(pipeline: Pipeline, where: AirflowTarget) -> str:
    """The DAG file's source text."""
    if pipeline.resolved_engine != "airflow":
        raise ValueError(f"{pipeline.metadata.name} uses the {pipeline.resolved_engine} engine")
    data = pipeline_literal(pipeline, where)
    source = _splice(python_literal(data), access_control="airflow_role" in data)
    check_generated(source)
    return source


def pipeline_literal(pipeline: Pipeline, where: AirflowTarget) -> dict[str, Any]:
    """Everything the DAG file needs from the spec and the platform, as plain data."""
    schedule = pipeline.schedule
    notifications = pipeline.notifications
    role = {} if where.airflow_role is None else {"airflow_role": where.airflow_role}
    # The backfills its deploy starts, as the CronJob's annotation records them (for `plan`;
    # the DAG does not read it): only with backfills, so other DAG files stay as they were.
    started = backfill.planned(pipeline)
    backfills = {"backfills": backfill.annotation(started)} if started else {}
    params = {"params": [{"name": p.name, "default": p.default,
                          "enum": None if p.enum is None else list(p.enum),
                          "description": p.description} for p in pipeline.params]} \
        if pipeline.params else {}
    return {
        "dag_id": dag_id(pipeline),
        "description": pipeline.metadata.description or "",
        "owner": pipeline.metadata.owner or pipeline.metadata.team,
        "schedule": None if schedule is None else {"cron": schedule.cron.strip(),
                                                   "timezone": schedule.timezone},
        "start_date": _start(pipeline),
        "catchup": bool(schedule and schedule.catchup),
        # forbid and replace: one run at a time (Airflow cannot cancel the running one).
        "max_active_runs": 1 if schedule is None or schedule.concurrency != "allow" else 16,
        "paused": bool(schedule and schedule.suspend),
        "tags": ["pipelinectl", f"team:{pipeline.metadata.team}"],
        **role,  # only with a role: the literal of a DAG without one is as it always was
        **backfills,
        **params,  # the same: only a pipeline with params has the entry
        "notify_on_failure": list(notifications.on_failure) if notifications else [],
        "notify_on_success": list(notifications.on_success) if notifications else [],
        "runner": where.runner,
        "namespace": where.target.namespace,
        "service_account": where.target.service_account,
        "image": where.target.image,
        "kubernetes_conn_id": where.kubernetes_conn_id,
        "docker_url": where.docker_url,
        "run_as": where.target.run_as,
        "labels": ownership.labels_of(pipeline),
        "annotations": ownership.annotations_of(pipeline, where.target.revision),
        "tasks": [_task(pipeline, task, where.target.revision)
                  for task in pipeline.ordered_tasks()],
    }


def _start(pipeline: Pipeline) -> list[int]:
    schedule = pipeline.schedule
    if schedule is None or schedule.start_date is None:
        return list(DEFAULT_START)
    day = date.fromisoformat(schedule.start_date)
    return [day.year, day.month, day.day]


def _task(pipeline: Pipeline, task: Task, revision: str) -> dict[str, Any]:
    fixed = [[ENV_PIPELINE, pipeline.metadata.name], [ENV_TEAM, pipeline.metadata.team],
             [ENV_TASK, task.name], [ENV_REVISION, revision]]
    return {
        "name": task.name,
        "pod_name": f"{pipeline.metadata.name}-{task.name}"[:63].rstrip("-"),
        "command": list(task.command),
        "depends_on": list(task.depends_on),
        "env": fixed + [[name, value] for name, value in task.env],
        "secrets": list(task.secrets),
        "requests": {"cpu": task.resources.cpu, "memory": task.resources.memory},
        "limits": {"memory": task.resources.memory},
        "cpus": float(parse_quantity(task.resources.cpu)),
        "memory_bytes": int(parse_quantity(task.resources.memory)),
        "retries": task.retries,
        "retry_delay_seconds": parse_duration(task.retry_delay),
        "timeout_seconds": parse_duration(task.timeout),
    }


def python_literal(value: Any, indent: str = "") -> str:
    """Python source for plain data (dict, list, str, int, float, bool, None): repr() of
    every scalar, one entry per line for containers whose items are containers."""
    inner = indent + "    "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{k!r}: {python_literal(v, inner)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return "[" + ", ".join(python_literal(item) for item in value) + "]"
        items = [f"{inner}{python_literal(item, inner)}," for item in value]
        return "[\n" + "\n".join(items) + f"\n{indent}]"
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr(value)
    raise TypeError(f"not plain data: {type(value).__name__}")


@functools.cache
def _template(access_control: bool) -> tuple[str, int, int]:
    """The template text, with or without its access_control entry, and the character span
    of its `PIPELINE: dict = {}` statement."""
    text = TEMPLATE.read_text(encoding="utf-8")
    module = ast.parse(text)
    node = _pipeline_assignment(module)
    lines = text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: node.lineno - 1]) + node.col_offset
    assert node.end_lineno is not None and node.end_col_offset is not None
    end = sum(len(line) for line in lines[: node.end_lineno - 1]) + node.end_col_offset
    if not access_control:
        first, last = _access_control_lines(module, lines)
        cut = sum(len(line) for line in lines[:first]), sum(len(line) for line in lines[:last])
        assert cut[0] > end  # after PIPELINE: the statement's span stays
        text = text[: cut[0]] + text[cut[1]:]
    return text, start, end


def _access_control_lines(module: ast.Module, lines: list[str]) -> tuple[int, int]:
    """The lines [first, last) of the `"access_control": ...,` entry of the dict that
    _dag_arguments returns, with the comment lines right above it."""
    entries = [(key, value) for node in ast.walk(module) if isinstance(node, ast.FunctionDef)
               and node.name == "_dag_arguments" for ret in ast.walk(node)
               if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Dict)
               for key, value in zip(ret.value.keys, ret.value.values, strict=True)
               if isinstance(key, ast.Constant) and key.value == "access_control"]
    if len(entries) != 1:
        raise GeneratedCodeError("expected one access_control entry in _dag_arguments")
    key, value = entries[0]
    assert value.end_lineno is not None and value.end_col_offset is not None
    if lines[value.end_lineno - 1][value.end_col_offset:].strip() != ",":
        raise GeneratedCodeError("the access_control entry must end its line with a comma")
    first = key.lineno - 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return first, value.end_lineno


def _splice(literal: str, access_control: bool) -> str:
    text, start, end = _template(access_control)
    return text[:start] + "PIPELINE: dict = " + literal + text[end:]


def _pipeline_assignment(module: ast.Module) -> ast.AnnAssign:
    found = [n for n in module.body if isinstance(n, ast.AnnAssign)
             and isinstance(n.target, ast.Name) and n.target.id == "PIPELINE"]
    if len(found) != 1:
        raise GeneratedCodeError("expected exactly one PIPELINE assignment")
    return found[0]


def check_generated(source: str) -> None:
    """Refuse generated source unless it is the template with only PIPELINE's value changed.

    The text before and after the value must be the template's, byte for byte (the template
    with its access_control entry, or without it); the module must parse with exactly one
    PIPELINE assignment whose value is precisely the text in between; and that value must be
    a plain literal (ast.literal_eval). Then nothing a spec value contains can have become
    code.
    """
    for access_control in (False, True):
        text, start, end = _template(access_control)
        head, tail = text[:start] + "PIPELINE: dict = ", text[end:]
        if source.startswith(head) and source.endswith(tail) and \
                len(source) >= len(head) + len(tail):
            break
    else:
        raise GeneratedCodeError("generated DAG differs from the template outside PIPELINE")
    try:
        module = ast.parse(source)
    except SyntaxError as exc:
        raise GeneratedCodeError(f"generated DAG does not parse: {exc}") from None
    value = _pipeline_assignment(module).value
    middle = source[len(head): len(source) - len(tail)]
    if value is None or ast.get_source_segment(source, value) != middle:
        raise GeneratedCodeError("PIPELINE's value is not exactly the inserted literal")
    try:
        ast.literal_eval(value)
    except ValueError:
        raise GeneratedCodeError("PIPELINE is not a plain literal") from None

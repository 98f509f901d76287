"""A pipeline as one environment runs it (docs/reference/pipeline-yaml.md#environments).

The graph, the image, the params and the backfills are the same in every environment; an
environment may change the schedule (and so a backfill's ticks), the task defaults and the
notifications. The pipeline's `environments.<name>`
overlay is merged into its document, and the result is built and checked like any pipeline,
so every message about an overlay value points at the overlay's own line:
- schedule: the pipeline's schedule (a cron string counts as `{cron: ...}`), suspended when
  the platform's environment has `schedules: suspended`, then the overlay's fields over it;
- defaults: resources field by field, env by variable name, every other key replaced;
- notifications: each list of the overlay replaces the pipeline's (`on_failure: []` is off).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from pipelinectl.errors import Collector, Diagnostic, did_you_mean
from pipelinectl.spec import backfills, checks
from pipelinectl.spec import model as spec
from pipelinectl.spec.platform import Platform
from pipelinectl.spec.yamlio import Document, JsonPath, SourceMap

KEY = "environments"


def overlay_names(pipeline: spec.Pipeline) -> list[str]:
    """The environments the pipeline's file has an overlay for, in file order."""
    if pipeline.document is None:
        return []
    return list(pipeline.document.data.get(KEY, {}))


def in_environment(pipeline: spec.Pipeline, platform: Platform
                   ) -> tuple[spec.Pipeline, list[Diagnostic]]:
    """`pipeline` in the environment `platform` is a view of (Platform.in_environment), with
    the problems of its overlay (none when the pipeline has no overlay for it)."""
    env = platform.environment
    assert env is not None and pipeline.document is not None
    doc = merged(pipeline.document, env.name, env.schedules == "suspended")
    schedule = doc.data.get("schedule")
    if isinstance(schedule, dict) and "cron" not in schedule:
        return pipeline, [Diagnostic(
            doc.source.at((KEY, env.name, "schedule")),
            f"{KEY}.{env.name}.schedule: needs cron: the pipeline has no schedule of its own",
            "add cron here, or a schedule to the pipeline", "environment")]
    built, problems = spec.build(doc, pipeline.folder)
    built = dataclasses.replace(built, environment=env.name)
    found = Collector(list(problems))
    if env.name in overlay_names(pipeline):
        checks.check_schedule(built, found)
        if "schedule" in overlay(pipeline, env.name):  # backfills are its schedule's ticks
            backfills.check_environment_ticks(built, found)
        checks.check_engine(built, found)
        team = platform.teams.get(built.metadata.team)
        checks.check_settings(built, found, team.max_task_resources if team else None)
    return built, found.problems


def overlay(pipeline: spec.Pipeline, name: str) -> dict[str, Any]:
    """The overlay of environment `name` as written ({} when there is none)."""
    if pipeline.document is None:
        return {}
    found = pipeline.document.data.get(KEY, {}).get(name)
    return found if isinstance(found, dict) else {}


def check_names(pipeline: spec.Pipeline, platform: Platform) -> list[Diagnostic]:
    """Every overlay names an environment of the platform."""
    known = list(platform.environments)
    found = Collector()
    for name in overlay_names(pipeline):
        if name not in platform.environments:
            hint = did_you_mean(name, known) or f"the platform's environments: {', '.join(known)}"
            found.add(pipeline.source.key_at((KEY, name)),
                      f"{KEY}: unknown environment {name!r}", hint, "environment")
    return found.problems


def check_overlays(pipeline: spec.Pipeline, platform: Platform) -> list[Diagnostic]:
    """The unknown names, then each known overlay built and checked in its environment."""
    problems = check_names(pipeline, platform)
    for name in overlay_names(pipeline):
        if name in platform.environments:
            problems += [dataclasses.replace(p, message=f"in environment {name}: {p.message}")
                         for p in in_environment(pipeline, platform.in_environment(name))[1]]
    return problems


def merged(doc: Document, name: str, suspended: bool) -> Document:
    """`doc` with the overlay of environment `name` merged in (see the module docstring), and
    a source map in which every merged value stands where the overlay wrote it."""
    data: dict[str, Any] = copy.deepcopy(doc.data)
    over: dict[str, Any] = data.pop(KEY, {}).get(name, {})
    schedule = data.get("schedule")
    if isinstance(schedule, str):
        schedule = {"cron": schedule}
    if suspended and schedule is not None:
        schedule = {**schedule, "suspend": True}
    if "schedule" in over:
        schedule = {**(schedule or {}), **over["schedule"]}
    if schedule is not None:
        data["schedule"] = schedule
    if "defaults" in over:
        base, extra = data.get("defaults", {}), over["defaults"]
        defaults = {**base, **extra}
        for key in ("resources", "env"):
            if key in extra:
                defaults[key] = {**base.get(key, {}), **extra[key]}
        data["defaults"] = defaults
    if "notifications" in over:
        data["notifications"] = {**data.get("notifications", {}), **over["notifications"]}
    return Document(doc.file, data, _moved(doc.source, (KEY, name)))


def _moved(source: SourceMap, prefix: JsonPath) -> SourceMap:
    """`source` where each path below `prefix` also stands for the same path without it."""
    def move(table: dict[JsonPath, Any]) -> dict[JsonPath, Any]:
        found = dict(table)
        found.update({path[len(prefix):]: mark for path, mark in table.items()
                      if path[:len(prefix)] == prefix and len(path) > len(prefix)})
        return found
    return SourceMap(source.file, move(source.values), move(source.keys), move(source.raw))

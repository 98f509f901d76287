"""How big a pipeline renders, bounded before anything is rendered: Kubernetes stores at most
1.5 MiB per object, and a DAG file over 1 MiB slows every Airflow parse. A spec of a few
kilobytes can render to megabytes (a large `defaults.env` value, anchored and aliased, copied
into each of 100 tasks), so validate refuses what cannot fit, with a located message.

The text every task carries (command, env, Secret names) appears at least once in the output:
over the limit, the pipeline cannot fit, and nothing is rendered to say so; far below it, it
fits. Only in between is the real output rendered and measured (render/outputs.py).
"""

from __future__ import annotations

from collections.abc import Callable

from pipelinectl.errors import Diagnostic
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Platform

OBJECT_LIMIT = 1536 * 1024  # Kubernetes' limit for one object, 1.5 MiB
DAG_LIMIT = 1024 * 1024  # a DAG file
PER_TASK_OVERHEAD = 4096  # the structure each task adds around its own text, at most
SURE_FIT = 4  # a lower bound this many times below the limit (with overhead) always fits

Measure = Callable[[Pipeline, Platform], list[Diagnostic]]


def limit(pipeline: Pipeline) -> int:
    return OBJECT_LIMIT if pipeline.resolved_engine == "cronjob" else DAG_LIMIT


def lower_bound(pipeline: Pipeline) -> int:
    """Bytes the rendered output holds at least: each task's own text."""
    total = len(pipeline.metadata.description or "")
    total += sum(len(k) + len(v) for k, v in pipeline.metadata.labels)
    for task in pipeline.tasks:
        total += sum(len(part) for part in task.command)
        total += sum(len(name) + len(value) for name, value in task.env)
        total += sum(len(secret) for secret in task.secrets)
    return total


def problems(pipeline: Pipeline, platform: Platform, measure: Measure | None
             ) -> list[Diagnostic]:
    """Too big to render, with `measure` (the real renderer) asked only when in doubt."""
    least = lower_bound(pipeline)
    if least > limit(pipeline):
        return [too_big(pipeline, least, at_least=True)]
    fits = SURE_FIT * (least + PER_TASK_OVERHEAD * len(pipeline.tasks)) < limit(pipeline)
    return [] if fits or measure is None else measure(pipeline, platform)


def too_big(pipeline: Pipeline, size: int, at_least: bool = False) -> Diagnostic:
    what = "a CronJob" if pipeline.resolved_engine == "cronjob" else "a DAG file"
    cap = "Kubernetes stores at most 1.5 MiB per object" \
        if pipeline.resolved_engine == "cronjob" else "the limit for a DAG file is 1 MiB"
    amount = f"{'at least ' if at_least else ''}{size / 1024 / 1024:.1f} MiB"
    return Diagnostic(pipeline.source.key_at(("tasks",)),
                      f"tasks: the pipeline renders to {what} of {amount}; {cap}",
                      "every task carries its own copy of defaults.env and its command: move "
                      "large values into a file in the image or a Secret, or split the "
                      "pipeline", "too-big")

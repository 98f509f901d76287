"""Running a pipeline's tasks locally in docker, the way they run in production.

Same image (built or reused with the local daemon), same command, environment and fixed
PIPELINECTL_* variables, Secrets from a local folder (one folder per Secret, one file per
key; values never printed), the spec's memory and CPU as limits, the task's timeout, and a
shared /workspace: a folder on the host (.pipelinectl/runs/<pipeline>/workspace), kept
between runs so `--task` can start from earlier outputs and results can be looked at.
Tasks run in dependency order, independent ones in parallel (bounded); a failed task stops
its dependants.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests

from pipelinectl.errors import UserError
from pipelinectl.spec.model import Pipeline, Task
from pipelinectl.units import parse_duration, parse_quantity
from pipelinectl.vocabulary import (
    ENV_PIPELINE,
    ENV_RUN_ID,
    ENV_TASK,
    ENV_TEAM,
    MANAGED_BY,
    MANAGER,
    PIPELINE_LABEL,
    TASK_LABEL,
    WORKSPACE,
)

RunStatus = Literal["succeeded", "failed", "timed out", "skipped"]
SUCCEEDED: RunStatus = "succeeded"
FAILED: RunStatus = "failed"
TIMED_OUT: RunStatus = "timed out"
SKIPPED: RunStatus = "skipped"


@dataclass
class Result:
    task: str
    status: RunStatus
    seconds: float = 0.0
    exit_code: int | None = None


@dataclass(frozen=True)
class RunSettings:
    image: str
    workspace: Path
    run_id: str
    secrets: Mapping[str, Mapping[str, str]]  # Secret name -> key -> value
    extra_env: Mapping[str, str]
    jobs: int
    report: Callable[[str], None]


def read_secrets(folder: Path | None, names: set[str]) -> dict[str, dict[str, str]]:
    """Secrets the tasks name, from <folder>/<secret>/<KEY> files."""
    found: dict[str, dict[str, str]] = {}
    missing = []
    for name in sorted(names):
        where = folder / name if folder else None
        if where is None or not where.is_dir():
            missing.append(name)
            continue
        found[name] = {key.name: key.read_text(encoding="utf-8").rstrip("\n")
                       for key in sorted(where.iterdir()) if key.is_file()}
    if missing:
        raise UserError(f"Secrets not found for a local run: {', '.join(missing)}",
                        hint="pass --secrets-dir DIR with one folder per Secret and one file "
                             "per key (DIR/<secret>/<KEY>), as Kubernetes mounts them")
    return found


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, equals, value = text.partition("=")
        if not equals or not key.strip().isidentifier():
            raise UserError(f"{path}:{number}:1: not a KEY=VALUE line",
                            hint="write one KEY=VALUE per line; # starts a comment")
        values[key.strip()] = value
    return values


def run(client: Any, pipeline: Pipeline, tasks: list[Task], settings: RunSettings
        ) -> list[Result]:
    """Run `tasks` (in dependency order); upstream tasks not in the list are assumed done."""
    names = {t.name for t in tasks}
    results: dict[str, Result] = {}
    pending = list(tasks)
    running: dict[Future[Result], str] = {}
    with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
        while pending or running:
            for task in list(pending):
                upstream = [results.get(d) for d in task.depends_on if d in names]
                if any(r is not None and r.status != SUCCEEDED for r in upstream):
                    results[task.name] = Result(task.name, SKIPPED)
                    settings.report(f"[{task.name}] skipped: an upstream task did not succeed")
                    pending.remove(task)
                elif all(r is not None for r in upstream) and len(running) < settings.jobs:
                    running[pool.submit(_run_task, client, pipeline, task, settings)] = \
                        task.name
                    pending.remove(task)
            if not running:
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                results[running.pop(future)] = future.result()
    return [results[t.name] for t in tasks]


def _run_task(client: Any, pipeline: Pipeline, task: Task, settings: RunSettings) -> Result:
    environment = {ENV_PIPELINE: pipeline.metadata.name, ENV_TEAM: pipeline.metadata.team,
                   ENV_TASK: task.name, ENV_RUN_ID: settings.run_id}
    for secret in task.secrets:
        environment.update(settings.secrets.get(secret, {}))
    environment.update(dict(task.env))
    environment.update(settings.extra_env)
    started = time.monotonic()
    settings.report(f"[{task.name}] start: {' '.join(task.command)}")
    container = client.containers.run(
        settings.image, command=list(task.command), environment=environment, detach=True,
        mem_limit=int(parse_quantity(task.resources.memory)),
        nano_cpus=int(parse_quantity(task.resources.cpu) * 1_000_000_000),
        volumes={str(settings.workspace): {"bind": WORKSPACE, "mode": "rw"}},
        labels={MANAGED_BY: MANAGER, PIPELINE_LABEL: pipeline.metadata.name,
                TASK_LABEL: task.name},
        security_opt=["no-new-privileges"], cap_drop=["ALL"])
    streamer = threading.Thread(target=_stream, args=(container, task.name, settings.report),
                                daemon=True)
    streamer.start()
    try:
        answer = container.wait(timeout=parse_duration(task.timeout))
        code = int(answer.get("StatusCode", 1))
        status = SUCCEEDED if code == 0 else FAILED
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        # the docker SDK's wait(timeout=...) ends in a read timeout of the HTTP request
        container.kill()
        code, status = None, TIMED_OUT
    finally:
        streamer.join(timeout=10)
        container.remove(force=True)
    seconds = time.monotonic() - started
    settings.report(f"[{task.name}] {status} after {seconds:.1f}s"
                    + (f" (exit code {code})" if code not in (None, 0) else ""))
    return Result(task.name, status, seconds, code)


def _stream(container: Any, name: str, report: Callable[[str], None]) -> None:
    buffer = b""
    for chunk in container.logs(stream=True, follow=True):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            report(f"[{name}] {line.decode('utf-8', 'replace')}")
    if buffer:
        report(f"[{name}] {buffer.decode('utf-8', 'replace')}")


def summary(results: list[Result]) -> str:
    rows = [("task", "status", "duration", "exit code")] + [
        (r.task, r.status, f"{r.seconds:.1f}s" if r.status != SKIPPED else "-",
         "-" if r.exit_code is None else str(r.exit_code)) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                   .rstrip() + "\n" for row in rows)

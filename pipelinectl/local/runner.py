"""Running a pipeline's tasks locally in docker, the way they run in production.

Same image (built or reused with the local daemon), same command, environment and fixed
PIPELINECTL_* variables, Secrets from a local folder (one folder per Secret, one file per
key; values never printed), the spec's memory and CPU as limits, the task's timeout, and a
shared /workspace: a folder on the host (.pipelinectl/runs/<pipeline>/workspace), kept
between runs so `--task` can start from earlier outputs and results can be looked at.
Tasks run in dependency order, independent ones in parallel (bounded); a failed task stops
its dependants.

Every input is checked before a container exists (Secret keys, env values). Every container
is recorded as soon as it is created, before it starts, and removed however the run ends: its
last task, a failed start, an error, SIGINT or SIGTERM (exit 128 + the signal's number).
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, SimpleQueue
from types import FrameType
from typing import Any, Literal

import requests
import urllib3
from docker.types import Mount

from pipelinectl.errors import (
    PipelinectlError,
)
from pipelinectl.spec.model import Pipeline, Task
from pipelinectl.units import parse_duration, parse_quantity
from pipelinectl.vocabulary import (
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

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# runc's words for a program that is not in the image (by name on PATH, or by path)
_NOT_IN_IMAGE = re.compile(r'exec: "[^"]*": (executable file not found|stat .*: no such file)')


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
    environments: Mapping[str, Mapping[str, str]]  # task name -> its whole environment
    jobs: int
    report: Callable[[str], None]


class Interrupted(PipelinectlError):
    """SIGINT or SIGTERM stopped the run, after its containers were removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}: the task containers "
                         "were stopped and removed")
        self.exit_code = 128 + signum

    def render(self) -> str:
        return self.message


class Containers:
    """The containers of one run, from their creation until their removal. `close` removes
    those still there and makes later creations remove themselves at once."""

    def __init__(self, client: Any, report: Callable[[str], None]) -> None:
        self._client = client
        self._report = report
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self.closed = False

    def create(self, **options: Any) -> Any | None:
        """A created (not started) container, recorded; None once the run is closed."""
        container = self._client.containers.create(**options)
        with self._lock:
            if not self.closed:
                self._ids.add(container.id)
                return container
        self._remove(container.id)
        return None

    def remove(self, container: Any) -> None:
        with self._lock:
            if container.id not in self._ids:
                return  # close() has it
            self._ids.discard(container.id)
        self._remove(container.id)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            ids, self._ids = sorted(self._ids), set()
        for container_id in ids:
            self._remove(container_id)

    def _remove(self, container_id: str) -> None:
        try:  # force: a running container is killed first
            self._client.api.remove_container(container_id, force=True)
        except requests.RequestException as exc:
            if getattr(exc, "status_code", None) in (404, 409):  # gone, or being removed
                return
            self._report(f"could not remove container {container_id[:12]}: {exc}")


def run(client: Any, pipeline: Pipeline, tasks: list[Task], settings: RunSettings
        ) -> list[Result]:
    """Run `tasks` (in dependency order); upstream tasks not in the list are assumed done.
    Raises Interrupted on SIGINT or SIGTERM; no container outlives the call."""
    containers = Containers(client, settings.report)
    events: SimpleQueue[Future[Result] | int] = SimpleQueue()
    pool = ThreadPoolExecutor(max_workers=settings.jobs)
    with _signals_to(events):
        try:
            return _schedule(pool, events, containers, pipeline, tasks, settings)
        finally:
            containers.close()
            pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _signals_to(events: SimpleQueue[Future[Result] | int]) -> Iterator[None]:
    """SIGINT and SIGTERM become events of the run. The handler only queues (SimpleQueue.put
    is reentrant): no exception lands in the middle of the cleanup, and a second signal
    during it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def queue(signum: int, frame: FrameType | None) -> None:
        events.put(signum)

    previous = {number: signal.signal(number, queue) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def _schedule(pool: ThreadPoolExecutor, events: SimpleQueue[Future[Result] | int],
              containers: Containers, pipeline: Pipeline, tasks: list[Task],
              settings: RunSettings) -> list[Result]:
    names = {t.name for t in tasks}
    results: dict[str, Result] = {}
    pending = list(tasks)
    running: dict[Future[Result], str] = {}
    while pending or running:
        for task in list(pending):
            upstream = [results.get(d) for d in task.depends_on if d in names]
            if any(r is not None and r.status != SUCCEEDED for r in upstream):
                results[task.name] = Result(task.name, SKIPPED)
                settings.report(f"[{task.name}] skipped: an upstream task did not succeed")
                pending.remove(task)
            elif all(r is not None for r in upstream) and len(running) < settings.jobs:
                future = pool.submit(_run_task, containers, pipeline, task, settings)
                running[future] = task.name
                future.add_done_callback(events.put)
                pending.remove(task)
        if running:
            event = _next(events)
            if isinstance(event, int):
                raise Interrupted(event)
            if event in running:
                results[running.pop(event)] = event.result()
    return [results[t.name] for t in tasks]


def _next(events: SimpleQueue[Future[Result] | int]) -> Future[Result] | int:
    # Python runs signal handlers in the main thread, but a signal the kernel gives another
    # thread does not wake it: look again twice a second.
    while True:
        with contextlib.suppress(Empty):
            return events.get(timeout=0.5)


def _run_task(containers: Containers, pipeline: Pipeline, task: Task, settings: RunSettings
              ) -> Result:
    settings.report(f"[{task.name}] start: {' '.join(task.command)}")
    started = time.monotonic()
    try:
        container = containers.create(**_options(pipeline, task, settings))
    except requests.RequestException as exc:
        return _not_started(containers, task, exc, started, settings)
    if container is None:
        return Result(task.name, FAILED)
    try:
        return _started(containers, container, task, started, settings)
    except requests.RequestException:
        if containers.closed:  # interrupted: the container went away under the task
            return Result(task.name, FAILED)
        raise
    finally:
        containers.remove(container)


def _options(pipeline: Pipeline, task: Task, settings: RunSettings) -> dict[str, Any]:
    return dict(
        image=settings.image, command=list(task.command),
        environment=dict(settings.environments[task.name]),
        mem_limit=int(parse_quantity(task.resources.memory)),
        nano_cpus=int(parse_quantity(task.resources.cpu) * 1_000_000_000),
        # a Mount, not a "source:target" string: a folder whose path holds ':' stays one path
        mounts=[Mount(WORKSPACE, str(settings.workspace), type="bind", read_only=False)],
        labels={MANAGED_BY: MANAGER, PIPELINE_LABEL: pipeline.metadata.name,
                TASK_LABEL: task.name},
        security_opt=["no-new-privileges"], cap_drop=["ALL"])


def _started(containers: Containers, container: Any, task: Task, started: float,
             settings: RunSettings) -> Result:
    try:
        container.start()
    except requests.RequestException as exc:
        return _not_started(containers, task, exc, started, settings)
    streamer = threading.Thread(target=_stream, args=(container, task.name, settings.report),
                                daemon=True)
    streamer.start()
    code, status = _wait(container, task)
    streamer.join(timeout=10)
    seconds = time.monotonic() - started
    if not containers.closed:
        settings.report(f"[{task.name}] {status} after {seconds:.1f}s"
                        + (f" (exit code {code})" if code not in (None, 0) else ""))
    return Result(task.name, status, seconds, code)


def _wait(container: Any, task: Task) -> tuple[int | None, RunStatus]:
    try:
        answer = container.wait(timeout=parse_duration(task.timeout))
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        # the docker SDK's wait(timeout=...) ends in a read timeout of the HTTP request
        with contextlib.suppress(requests.RequestException):  # it may have just ended
            container.kill()
        return None, TIMED_OUT
    code = int(answer.get("StatusCode", 1))
    return code, SUCCEEDED if code == 0 else FAILED


def _not_started(containers: Containers, task: Task, exc: requests.RequestException,
                 started: float, settings: RunSettings) -> Result:
    if not containers.closed:
        explanation = str(getattr(exc, "explanation", None) or exc)
        why = (f"the command {task.command[0]!r} is not in the image"
               if _NOT_IN_IMAGE.search(explanation) else explanation)
        settings.report(f"[{task.name}] cannot start: {why}")
    return Result(task.name, FAILED, time.monotonic() - started)


def _stream(container: Any, name: str, report: Callable[[str], None]) -> None:
    buffer = b""
    try:
        for chunk in container.logs(stream=True, follow=True):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                report(f"[{name}] {line.decode('utf-8', 'replace')}")
    except (requests.RequestException, urllib3.exceptions.HTTPError):
        pass  # the container was removed (an interrupted run): its result tells the rest
    if buffer:
        report(f"[{name}] {buffer.decode('utf-8', 'replace')}")


def summary(results: list[Result]) -> str:
    rows = [("task", "status", "duration", "exit code")] + [
        (r.task, r.status, f"{r.seconds:.1f}s" if r.status != SKIPPED else "-",
         "-" if r.exit_code is None else str(r.exit_code)) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                   .rstrip() + "\n" for row in rows)

"""Deterministic generator of a monorepo of valid pipelines (test data / benchmark input).

``generate(root, n)`` writes ``root/pipelines/p0000/pipeline.yaml`` ... ``p{n-1:04d}`` with, next to
each spec, a pinned ``requirements.txt`` and the python scripts its task commands name. Content
varies with the index only (no randomness), so two runs produce byte-identical trees.

The YAML is written as plain text, not ``yaml.dump``: it should look like what a person writes
(comments, flow mappings, quoted version strings), since that is what the validator reads in real
repos. Every value is a trusted constant or derived from the index.
"""

from __future__ import annotations

import pathlib

TASK_NAMES = ("extract", "clean", "load", "report", "publish")
# publish re-uses report.py, so a pipeline has at most 4 scripts (<= 6 files in all).
TASK_SCRIPTS = {
    "extract": "extract.py",
    "clean": "clean.py",
    "load": "load.py",
    "report": "report.py",
    "publish": "report.py",
}
TASK_ARGS = {
    "extract": "--since yesterday",
    "clean": "--day today",
    "load": "--table staging.events",
    "report": "--out /workspace/report.html",
    "publish": "--publish --out /workspace/report.html",
}
REQUIREMENTS = (
    "pandas==2.2.3",
    "numpy==2.1.3",
    "requests==2.32.3",
    "sqlalchemy==2.0.36",
    "psycopg2-binary==2.9.10",
    "pyarrow==18.1.0",
)
COST_CENTRES = ("finance", "epi", "ops", "research", "marketing", "platform", "health")
SUBJECTS = ("sales", "cases", "events", "stock", "claims", "visits", "orders", "sensors")


def generate(root: pathlib.Path, n: int) -> list[pathlib.Path]:
    """Write ``n`` valid pipelines under ``root/pipelines``; return their pipeline.yaml, sorted."""
    paths: list[pathlib.Path] = []
    for i in range(n):
        directory = root / "pipelines" / f"p{i:04d}"
        directory.mkdir(parents=True, exist_ok=True)
        tasks = _task_names(i)
        _write(directory / "pipeline.yaml", _pipeline_yaml(i, tasks))
        _write(directory / "requirements.txt", _requirements(i))
        for script in sorted({TASK_SCRIPTS[t] for t in tasks}):
            _write(directory / script, _script(i, script))
        paths.append(directory / "pipeline.yaml")
    return sorted(paths)


def _write(path: pathlib.Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def _task_names(i: int) -> list[str]:
    count = 1 + (i * 3) % 5  # 1..5 tasks, every count within any 5 consecutive indices
    return list(TASK_NAMES[:count])


def _depends_on(i: int, tasks: list[str]) -> dict[str, list[str]]:
    """A DAG: a chain on even indices, a fan-out from the first task (fan-in at the last) on odd."""
    deps: dict[str, list[str]] = {}
    for j, name in enumerate(tasks[1:], start=1):
        if i % 2 == 0:
            deps[name] = [tasks[j - 1]]
        elif j == len(tasks) - 1 and j >= 3:
            deps[name] = tasks[1:j]
        else:
            deps[name] = [tasks[0]]
    return deps


def _pipeline_yaml(i: int, tasks: list[str]) -> str:
    subject = SUBJECTS[i % len(SUBJECTS)]
    lines = [
        "# yaml-language-server: $schema=../../schemas/pipeline.schema.json",
        f"# Pipeline {i}: {subject} ETL.",
        "# Generated test data (tests/support/monorepo.py): edit the generator, not this file.",
        "# Checked in CI with `pipelinectl validate`.",
        "",
        "apiVersion: pipelinectl/v1",
        "kind: Pipeline",
        "metadata:",
        f"  name: p{i:04d}-etl",
        "  team: default",
        f"  description: Daily {subject} extract, clean and load (pipeline {i})",
        f"  owner: data-team-{i % 10}@example.org",
        f"  labels: {{cost-centre: {COST_CENTRES[i % len(COST_CENTRES)]}}}",
        "",
        "# The image: the platform maps python 3.12 to its base image, deps go in a layer.",
        "image:",
        "  language: python",
        '  version: "3.12"                  # quoted: 3.12 unquoted would be a float',
        "  dependencies: requirements.txt   # pinned, one name==version a line",
    ]
    if i % 4 == 0:
        lines.append("  system_packages: [libpq5]        # for psycopg2")
    lines += ["", *_schedule(i), *_engine(i, tasks), *_defaults(i), "", *_tasks(i, tasks)]
    lines += _notifications(i, tasks)
    return "\n".join(lines) + "\n"


def _schedule(i: int) -> list[str]:
    if i % 3 == 0:
        lines = [
            "schedule:",
            '  cron: "0 7 * * 1-5"              # weekdays at 07:00 local time',
            "  timezone: Europe/London",
            "  concurrency: forbid",
        ]
        if i % 6 == 3:
            lines += ["  suspend: false", "  starting_deadline: 1h"]
        return lines
    return [f'schedule: "{(i * 7) % 60} {(i * 5) % 24} * * *"   # daily, UTC']


def _engine(i: int, tasks: list[str]) -> list[str]:
    if len(tasks) > 1 and i % 2 == 0:
        return ["", "engine: airflow"]
    if len(tasks) > 1:
        return ["", "# engine omitted: auto picks airflow for several tasks"]
    return ["", "# engine omitted: auto picks a CronJob for a single task"]


def _defaults(i: int) -> list[str]:
    """Flow style on even indices, block style on odd ones (both are common by hand)."""
    if i % 2 == 0:
        body = [
            "  resources: {cpu: 500m, memory: 1Gi}",
            "  retries: 1",
            "  retry_delay: 5m",
            "  timeout: 1h",
            "  env: {TZ: Europe/London}",
            "  secrets: [warehouse-db]         # existing k8s Secret, exposed as env",
        ]
    else:
        body = [
            "  resources:",
            "    cpu: 500m",
            "    memory: 1Gi",
            "  retries: 1",
            "  retry_delay: 5m",
            "  timeout: 1h",
            "  env:",
            "    TZ: Europe/London",
            "    LOG_LEVEL: info",
            "  secrets:",
            "    - warehouse-db                # existing k8s Secret, exposed as env",
        ]
    return ["", "# Applied to every task unless the task overrides it.", "defaults:", *body]


def _tasks(i: int, tasks: list[str]) -> list[str]:
    deps = _depends_on(i, tasks)
    lines = [f"# {len(tasks)} task(s); depends_on makes the DAG.", "tasks:"]
    for j, name in enumerate(tasks):
        script = TASK_SCRIPTS[name]
        lines.append(f"  - name: {name}")
        if (i + j) % 2 == 0:
            lines.append(f"    command: [python, {script}]")
        else:
            lines.append(f'    command: "python {script} {TASK_ARGS[name]}"')
        if name in deps:
            lines.append(f"    depends_on: [{', '.join(deps[name])}]")
        if name == "load" and i % 5 == 0:
            lines.append('    resources: {cpu: "1", memory: 2Gi}')
        if name == "extract" and i % 7 == 0:
            lines += ["    retries: 3          # the source API is flaky", "    timeout: 30m"]
    return lines


def _notifications(i: int, tasks: list[str]) -> list[str]:
    if len(tasks) > 1 and i % 4 == 0:  # explicit airflow engine (even index, several tasks)
        return [
            "",
            "notifications:",
            f"  on_failure: [data-team-{i % 10}@example.org]",
            "  on_success: []",
        ]
    return []


def _requirements(i: int) -> str:
    count = 2 + i % (len(REQUIREMENTS) - 1)
    return "\n".join(REQUIREMENTS[:count]) + "\n"


def _script(i: int, script: str) -> str:
    step = script.removesuffix(".py")
    return (
        f'"""{step} step of pipeline {i} (generated)."""\n'
        "import sys\n\n\n"
        "def main(argv: list[str]) -> int:\n"
        f'    print("{step}", *argv)\n'
        "    return 0\n\n\n"
        'if __name__ == "__main__":\n'
        "    sys.exit(main(sys.argv[1:]))\n"
    )

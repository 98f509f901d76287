"""A spec of a few kilobytes that renders to megabytes is refused by validate, located, before
anything is rendered; one that may or may not fit is rendered and measured."""

from __future__ import annotations

from pathlib import Path

from tests.support.repo import write

HEAD = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: amp, team: default}}
image: {{language: python, version: "3.12"}}
engine: {engine}
defaults:
  env:
"""
HINT = ("  hint: every task carries its own copy of defaults.env and its command: move large "
        "values into a file in the image or a Secret, or split the pipeline\n")


def spec(engine: str, value: int, aliases: int, tasks: int) -> str:
    lines = [HEAD.format(engine=engine).rstrip("\n"), f"    A0: &big {'x' * value}"]
    lines += [f"    A{i}: *big" for i in range(1, aliases)]
    lines.append("tasks:")
    for index in range(tasks):
        lines += [f"  - name: t{index}", "    command: [python, -c, pass]"]
        if index:
            lines.append(f"    depends_on: [t{index - 1}]")
    return "\n".join(lines) + "\n"


def test_an_aliased_env_over_a_chain_of_tasks_is_refused_unrendered(run, tmp_path: Path) -> None:
    """The security review's case: a 38 KB spec that rendered to a 96 MB CronJob in 48 s."""
    source = write(tmp_path / "pipeline.yaml", spec("cronjob", 32 * 1024, 30, 100))
    assert source.stat().st_size < 48 * 1024
    result = run("validate", cwd=tmp_path)
    assert (result.code, result.out) == (1, (
        "pipeline.yaml:38:1: tasks: the pipeline renders to a CronJob of at least 93.8 MiB; "
        "Kubernetes stores at most 1.5 MiB per object\n" + HINT +
        "1 problem in 1 of 1 pipeline file\n"))


def test_a_pipeline_near_the_limit_is_rendered_and_measured(run, tmp_path: Path) -> None:
    # 60 tasks of 17 KiB env: 1,045,320 bytes of task text, just under the DAG limit; the
    # real DAG file, with each task's structure around it, is over 1.05 MiB: over it.
    write(tmp_path / "pipeline.yaml", spec("airflow", 17 * 1024, 1, 60))
    result = run("validate", cwd=tmp_path)
    assert result.code == 1
    assert result.out == (
        "pipeline.yaml:9:1: tasks: the pipeline renders to a DAG file of 1.1 MiB; the limit "
        "for a DAG file is 1 MiB\n" + HINT + "1 problem in 1 of 1 pipeline file\n")
    write(tmp_path / "pipeline.yaml", spec("airflow", 4 * 1024, 1, 60))
    assert run("validate", cwd=tmp_path).code == 0  # rendered, measured, fits

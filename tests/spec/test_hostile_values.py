"""Issue 13's remaining spec findings, end to end: the largest values validate passes render
without overflow, dependency files that break a JSON reader are located problems, origin URLs
lose their credentials, and a platform path outside the working directory is shown as given."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipelinectl.checkout import strip_credentials
from pipelinectl.render import airflow, cronjob
from pipelinectl.spec import model as spec
from pipelinectl.spec import yamlio
from tests.render.test_cronjob import target
from tests.support.repo import VALID_SPEC, valid_pipeline, write


def _pipeline(text: str) -> spec.Pipeline:
    built, problems = spec.build(yamlio.load_bytes(text.encode(), "p.yaml"))
    assert problems == []
    return built


def _chain(count: int) -> str:
    head = VALID_SPEC.split("tasks:")[0].replace('schedule: "0 7 * * *"', 'schedule:\n'
                                                 '  cron: "0 7 * * *"\n'
                                                 '  starting_deadline: 30d')
    body = "".join(f"  - {{name: t{i}, command: x{f', depends_on: [t{i - 1}]' if i else ''}}}\n"
                   for i in range(count))
    return (head + "defaults:\n  resources: {cpu: \"1024\", memory: 16Ti}\n  timeout: 30d\n"
            "  retry_delay: 30d\n  retries: 10\ntasks:\n" + body)


def test_the_largest_values_validate_passes_render_without_overflow(run, tmp_path: Path
                                                                     ) -> None:
    text = _chain(100).replace("engine: auto", "")
    folder = valid_pipeline(tmp_path / "p", text.replace("command: x", "command: [python, "
                                                         "fetch.py]")).parent
    result = run("validate", str(folder), cwd=tmp_path)
    assert (result.code, result.out) == (0, "1 pipeline file valid\n"), result.out
    chain = _pipeline(text.replace("tasks:\n", "engine: cronjob\ntasks:\n"))
    job = cronjob.render(chain, target(chain))
    assert job["spec"]["startingDeadlineSeconds"] == 30 * 86400
    deadline = job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert deadline == 100 * 30 * 86400 < 2**31
    dag = _pipeline(text.replace("tasks:\n", "engine: airflow\ntasks:\n"))
    source = airflow.render(dag, airflow.AirflowTarget(target(dag)))
    airflow.check_generated(source)
    assert "inf" not in source and "e+" not in source
    literal = next(node.value for node in ast.parse(source).body
                   if isinstance(node, ast.AnnAssign) and node.value is not None)
    task = ast.literal_eval(literal)["tasks"][0]
    assert (task["cpus"], task["memory_bytes"]) == (1024.0, 16 * 2**40)
    assert task["timeout_seconds"] == task["retry_delay_seconds"] == 30 * 86400


R_SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata:
  name: cases-daily
  team: default
image:
  language: r
  version: "4.4"
  dependencies: renv.lock
tasks:
  - name: fetch
    command: [Rscript, fetch.R]
"""


@pytest.mark.parametrize("lock, report", [
    ('{"Packages": ' + "[" * 50_000, "p/renv.lock:1:77: renv.lock nests deeper than 64 levels"),
    ('{"R": {},\n "Packages": {"x": ' + "9" * 5000 + "}}",
     "p/renv.lock:2:20: renv.lock holds a number too long to read"),
    (b'{"Packages": {}}\n\xff', "p/renv.lock:2:1: the dependency file is not valid UTF-8 "
                                "(byte 0xff)"),
])
def test_renv_lock_beyond_a_json_reader_is_a_located_problem(run, tmp_path: Path,
                                                             lock: str | bytes,
                                                             report: str) -> None:
    write(tmp_path / "p" / "pipeline.yaml", R_SPEC)
    write(tmp_path / "p" / "fetch.R", "cat(1)\n")
    path = tmp_path / "p" / "renv.lock"
    if isinstance(lock, bytes):
        path.write_bytes(lock)
    else:
        path.write_text(lock)
    result = run("validate", "p", cwd=tmp_path)
    assert result.code == 1
    assert result.out.splitlines()[0] == report
    assert result.out.splitlines()[1].startswith("  hint: ")


@pytest.mark.parametrize("url, shown", [
    ("https://gitlab.example.com/g/r.git?private_token=glpat-abc",
     "https://gitlab.example.com/g/r.git"),
    ("https://gitlab.example.com/g/r.git#token=abc", "https://gitlab.example.com/g/r.git"),
    ("https://u:t@gitlab.example.com:8443/g/r.git?x=1#y", "https://gitlab.example.com:8443/g/r.git"),
    ("https://ghp_abc@github.com/o/r", "https://github.com/o/r"),
    ("user:token@gitlab.example.com:g/r.git", "gitlab.example.com:g/r.git"),
    ("user:to@ken@gitlab.example.com:g/r.git", "gitlab.example.com:g/r.git"),
    ("git@gitlab.example.com:g/r.git", "git@gitlab.example.com:g/r.git"),
    ("http://[::1", "http://[::1"),
    ("http://u:p@[::1]:80/r?q", "http://[::1]:80/r"),
    ("/srv/git/r.git", "/srv/git/r.git"),
])
def test_origin_urls_keep_scheme_host_port_and_path(url: str, shown: str) -> None:
    assert strip_credentials(url) == shown


def test_a_platform_file_outside_the_working_directory_is_named_as_given(run,
                                                                          tmp_path: Path
                                                                          ) -> None:
    valid_pipeline(tmp_path / "p")
    (tmp_path / "work").mkdir()
    missing = str(tmp_path / "elsewhere" / "platform.yaml")
    result = run("validate", "../p", "--platform", missing, cwd=tmp_path / "work")
    assert result.code == 1
    assert result.out.startswith(f"{missing}: cannot read file")
    result = run("validate", "../p", "--platform", "../elsewhere/platform.yaml",
                 cwd=tmp_path / "work")
    assert result.out.startswith("../elsewhere/platform.yaml: cannot read file")
    result = run("validate", "p", "--platform", str(tmp_path / "platform.yaml"), cwd=tmp_path)
    assert result.out.startswith("platform.yaml: cannot read file")

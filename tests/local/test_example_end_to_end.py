"""The R example end to end on the local platform, as the quickstart does it: deploy (DAG file
to a folder), `run` its three tasks in docker and check the report, then run the delivered
Docker-runner DAG for real with `airflow dags test`.

The example's base image (rocker/r-ver) is out of reach here: a stand-in from Debian with
r-base-core plays it, the same one examples/quickstart.sh builds in that case.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelinectl.spec import platform
from tests.support.repo import REPO, git, write
from tests.support.services import DOCKER, HOST, PREFIX

STANDIN = "pipelinectl-local/r:debian-bookworm"
PYTHON_STANDIN = "pipelinectl-local/python:debian-bookworm"


def standin(name: str, packages: str) -> str:
    """Byte for byte the quickstart's stand-in, so either build reuses the other's layers."""
    dockerfile = ("FROM pipelinectl-test/debian:bookworm\nRUN apt-get update -qq && "
                  "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                  f"--no-install-recommends {packages} >/dev/null && "
                  "rm -rf /var/lib/apt/lists/*\n")
    subprocess.run([DOCKER, "build", "-q", "-t", name, "-"], input=dockerfile, text=True,
                   check=True, capture_output=True, env={**os.environ, "DOCKER_BUILDKIT": "1"})
    return name


@pytest.fixture(scope="module")
def r_base(services: None) -> str:
    return standin(STANDIN, "r-base-core")


@pytest.fixture(scope="module")
def python_base(services: None) -> str:
    return standin(PYTHON_STANDIN, "python3 python3-venv")


@pytest.fixture
def deployed(r_base: str, run, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    shutil.copytree(REPO / "examples" / "covid-cases-r", repo / "covid-cases-r")
    write(repo / "platform.yaml", platform.builtin_path().read_text()
          .replace("registry: 127.0.0.1:5000", f"registry: {HOST}/{PREFIX}/example")
          .replace('"4.4": rocker/r-ver:4.4.2', f'"4.4": {r_base}'))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "example")
    result = run("deploy", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert result.code == 0, result.err
    return repo


def test_run_produces_the_report(deployed: Path, run) -> None:
    result = run("run", "covid-cases-r", "--platform", str(deployed / "platform.yaml"),
                 cwd=deployed)
    assert result.code == 0, result.err
    assert "[report] report: 5 regions, 8 weeks, 126 confirmed cases\n" in result.err
    workspace = deployed / ".pipelinectl" / "runs" / "covid-cases-r" / "workspace"
    weekly = (workspace / "weekly_by_region.csv").read_text().splitlines()
    assert weekly[:2] == ['"iso_week","region","confirmed"', '"2026-W02","Central",3']
    assert len(weekly) == 41  # 5 regions x 8 weeks, and the header
    html = (workspace / "report.html").read_text()
    assert "<html" in html and "126" in html


def test_the_delivered_dag_runs_in_airflow(deployed: Path, airflow_python: str,
                                           tmp_path: Path) -> None:
    dags = deployed / ".pipelinectl" / "airflow" / "dags"
    assert (dags / "default" / "default__covid-cases-r.py").is_file()
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    airflow = [airflow_python, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    try:
        done = subprocess.run([*airflow, "dags", "test", "default__covid-cases-r",
                               "2026-03-02"], env=env, capture_output=True, text=True,
                              timeout=900)
    finally:
        volumes = subprocess.run([DOCKER, "volume", "ls", "-q", "--filter",
                                  "name=pipelinectl-default__covid-cases-r-"],
                                 capture_output=True, text=True, check=False).stdout.split()
        if volumes:
            subprocess.run([DOCKER, "volume", "rm", *volumes], capture_output=True, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "report: 5 regions, 8 weeks, 126 confirmed cases" in output
    assert "state=success" in output


@pytest.mark.parametrize(("example", "expected"), [
    ("python-etl", "[etl] "),
    ("monorepo/pipelines/nightly-extract-py", "[load] "),
    ("monorepo/pipelines/weekly-summary-r", "[summary] "),
])
def test_every_example_runs_in_its_image(r_base: str, python_base: str, run,
                                         tmp_path: Path, example: str, expected: str) -> None:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    shutil.copytree(REPO / "examples" / example, repo / "pipeline")
    write(repo / "platform.yaml", platform.builtin_path().read_text()
          .replace("registry: 127.0.0.1:5000", f"registry: {HOST}/{PREFIX}/examples")
          .replace('"4.4": rocker/r-ver:4.4.2', f'"4.4": {r_base}')
          .replace('"3.12": python:3.12-slim', f'"3.12": {python_base}'))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "example")
    result = run("run", "pipeline", "--platform", str(repo / "platform.yaml"), cwd=repo)
    assert result.code == 0, result.err
    assert expected in result.err
    statuses = [line.split()[1] for line in result.out.splitlines()[1:-1]]
    assert statuses and set(statuses) == {"succeeded"}

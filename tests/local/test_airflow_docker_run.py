"""A Docker-runner DAG runs for real: `airflow dags test` against the local dockerd.

The docker-run fixture's image (FROM scratch + a static busybox) is built with the local
daemon, pushed to the registry on 127.0.0.1:5000 and referenced by digest, as deploys do.
Its two tasks share /workspace through the run's Docker volume.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from pipelinectl.render import airflow, cronjob
from pipelinectl.spec import platform
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import validate_files
from tests.support.repo import REPO

FIXTURE = REPO / "tests" / "fixtures" / "valid" / "docker-run"
DOCKER = "/usr/bin/docker"
IMAGE = "127.0.0.1:5000/default/docker-run"


def services_ready() -> bool:
    try:
        urllib.request.urlopen("http://127.0.0.1:5000/v2/", timeout=5).close()
    except OSError:
        return False
    info = subprocess.run([DOCKER, "info"], capture_output=True, check=False) \
        if os.path.exists(DOCKER) else None
    return info is not None and info.returncode == 0 and os.path.exists("/bin/busybox")


@pytest.fixture(scope="module")
def image_digest(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not services_ready():
        assert not os.environ.get("CI"), "CI must start dockerd and the registry (.ci/run)"
        pytest.skip("needs dockerd and a registry on 127.0.0.1:5000: bash tests/services.sh")
    context = tmp_path_factory.mktemp("context")
    shutil.copy(FIXTURE / "Dockerfile", context / "Dockerfile")
    shutil.copy("/bin/busybox", context / "busybox")
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    subprocess.run([DOCKER, "build", "-q", "-t", f"{IMAGE}:test", str(context)], check=True,
                   env=env, capture_output=True)
    subprocess.run([DOCKER, "push", f"{IMAGE}:test"], check=True, capture_output=True)
    digest = subprocess.run([DOCKER, "inspect", "--format", "{{index .RepoDigests 0}}",
                             f"{IMAGE}:test"], check=True, capture_output=True, text=True)
    return digest.stdout.strip()


def test_docker_runner_dag_runs_for_real(image_digest: str, airflow_python: str,
                                         tmp_path: Path) -> None:
    report = validate_files(find_pipelines([str(FIXTURE)], REPO), platform.load(None), None,
                            REPO)
    pipeline = report.pipelines[0]
    where = airflow.AirflowTarget(
        cronjob.Target("default", "default", image_digest, "0" * 40), runner="docker")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "docker_run.py").write_text(airflow.render(pipeline, where), encoding="utf-8")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    run = [airflow_python, "-m", "airflow"]
    subprocess.run([*run, "db", "migrate"], env=env, check=True, capture_output=True)
    try:
        done = subprocess.run([*run, "dags", "test", "default__docker-run", "2026-01-02"],
                              env=env, capture_output=True, text=True, timeout=600)
    finally:
        _remove_run_volumes()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    # The read task printed what the write task left in /workspace: the env value exactly as
    # written (no Jinja, no shell), the run id and the writer's task name.
    assert "read: hello {{ ds }} $(id) run=manual__" in output
    assert " task=write" in output
    assert "state=success" in output
    # the param's default, and the run's logical date, in UTC
    assert " region=all date=2026-01-02T00:00:00+00:00" in output


def _dags_test(image_digest: str, airflow_python: str, tmp_path: Path,
               conf: str) -> subprocess.CompletedProcess[str]:
    """`airflow dags test` of the docker-run DAG with a run conf."""
    report = validate_files(find_pipelines([str(FIXTURE)], REPO), platform.load(None), None,
                            REPO)
    where = airflow.AirflowTarget(
        cronjob.Target("default", "default", image_digest, "0" * 40), runner="docker")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "docker_run.py").write_text(airflow.render(report.pipelines[0], where),
                                        encoding="utf-8")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    run = [airflow_python, "-m", "airflow"]
    subprocess.run([*run, "db", "migrate"], env=env, check=True, capture_output=True)
    try:
        return subprocess.run([*run, "dags", "test", "default__docker-run", "2026-01-02",
                               "-c", conf], env=env, capture_output=True, text=True,
                              timeout=600)
    finally:
        _remove_run_volumes()


def test_a_run_conf_gives_the_tasks_its_params(image_digest: str, airflow_python: str,
                                               tmp_path: Path) -> None:
    done = _dags_test(image_digest, airflow_python, tmp_path, '{"region": "north"}')
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert " region=north date=2026-01-02T00:00:00+00:00" in output


def test_a_value_outside_enum_is_refused_by_airflow(image_digest: str, airflow_python: str,
                                                    tmp_path: Path) -> None:
    done = _dags_test(image_digest, airflow_python, tmp_path, '{"region": "east"}')
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "'east' is not one of ['all', 'north', 'south']" in output, output[-4000:]
    assert "read: " not in output  # no task ran


def test_an_unknown_conf_key_fails_the_run_before_any_container(
        image_digest: str, airflow_python: str, tmp_path: Path) -> None:
    done = _dags_test(image_digest, airflow_python, tmp_path, '{"regoin": "north"}')
    output = done.stdout + done.stderr
    assert "this run's conf is refused (unknown param 'regoin'); declared params: region" \
        in output, output[-4000:]
    assert "read: " not in output  # neither task's container ran
    assert "state=failed" in output


def _remove_run_volumes() -> None:
    names = subprocess.run([DOCKER, "volume", "ls", "-q", "--filter",
                            "name=pipelinectl-default__docker-run-"],
                           capture_output=True, text=True, check=False).stdout.split()
    if names:
        subprocess.run([DOCKER, "volume", "rm", *names], capture_output=True, check=False)

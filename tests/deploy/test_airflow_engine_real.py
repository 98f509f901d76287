"""The Airflow engine with real parts: one real Airflow 3 for the module
(tests/support/airflowserver.py: API server, scheduler, dag processor, LocalExecutor) whose
DAGs folder is the platform's DAG directory, a real build pushed to the registry on
127.0.0.1:5000, the docker task runner (the local dockerd pulls the image and runs the task),
and the fake API server holding the state objects.

`pipelinectl deploy` delivers the DAG; then, through the commands: trigger with a param and
--wait succeeds, and the task printed the param; a run whose task exits 3 fails, --wait and
status name the task and the exit code, status --check exits 1; a pause done through
Airflow's API is drift in status and plan, and deploy puts git's value back and says so; a
backfill of 3 ticks added in git is started by the deploy through Airflow's backfill API and
runs one at a time (max_parallel 1), status shows its progress, a second deploy starts none.
"""

from __future__ import annotations

import datetime
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelinectl.adapters.airflowapi import AirflowRestApi
from tests.support.airflowserver import ADMIN, ADMIN_PASSWORD, AirflowServer, airflow_server, call
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import BASE, DOCKER, HOST, PREFIX

NAME = "regions"
DAG = "default__regions"
ENVIRON = {"AIRFLOW_API_USERNAME": ADMIN, "AIRFLOW_API_PASSWORD": ADMIN_PASSWORD}
SPEC = f"""\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: {NAME}, team: default}}
engine: airflow
image: {{dockerfile: Dockerfile}}
schedule: "0 7 * * *"
params:
  region: {{default: all, enum: [all, north, south]}}
tasks:
  - name: count
    command: [sh, count.sh]
    timeout: 5m
"""
SCRIPT = """\
echo "counting region=$PIPELINECTL_PARAM_REGION date=$PIPELINECTL_LOGICAL_DATE"
if [ "$PIPELINECTL_PARAM_REGION" = south ]; then echo "no data for south"; exit 3; fi
"""
BACKFILL = """\
backfills:
  - id: q1-north
    from: "2026-01-01"
    to: "2026-01-03"
    params: {region: north}
"""
PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  default: {{namespace: default}}
airflow:
  dags:
    directory: {dags}
  task_runner: docker
  api:
    url: {url}
    username_env: AIRFLOW_API_USERNAME
    password_env: AIRFLOW_API_PASSWORD
"""


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeKube, Path]]:
    server = FakeKube()
    server.start()
    config = server.kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")
    server.add_namespace("default")
    yield server, config
    server.stop()


@pytest.fixture(scope="module")
def airflow(services: None, airflow_python: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    tmp = tmp_path_factory.mktemp("airflow")
    dags = tmp / "dags"
    dags.mkdir()
    with airflow_server(airflow_python, dags, tmp) as server:
        yield server
    _remove_run_volumes()


@pytest.fixture(scope="module")
def repo(airflow: AirflowServer, kube: tuple[FakeKube, Path],
         tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("repo") / "repo"
    git(folder.parent, "init", "-q", "-b", "main", str(folder))
    write(folder / NAME / "pipeline.yaml", SPEC)
    write(folder / NAME / "Dockerfile",
          f"FROM {BASE}\nWORKDIR /app\nCOPY count.sh /app/\nUSER 10001\n")
    write(folder / NAME / "count.sh", SCRIPT)
    dags = Path(airflow.env["AIRFLOW__CORE__DAGS_FOLDER"])
    write(folder / "platform.yaml", PLATFORM.format(
        registry=f"{HOST}/{PREFIX}/airflow-engine", dags=dags, url=airflow.base))
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "regions")
    return folder


@pytest.fixture
def env(repo: Path, kube: tuple[FakeKube, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube[1]))
    monkeypatch.setenv("CI_PROJECT_PATH", "epi/regions")
    monkeypatch.setenv("GITLAB_USER_LOGIN", "ada")
    for key, value in ENVIRON.items():
        monkeypatch.setenv(key, value)


def pipelinectl(run, repo: Path, *args: str):
    return run(*args, "--platform", str(repo / "platform.yaml"), cwd=repo)


def api(airflow: AirflowServer) -> AirflowRestApi:
    return AirflowRestApi(airflow.base, "AIRFLOW_API_USERNAME", "AIRFLOW_API_PASSWORD",
                          ENVIRON)


@pytest.fixture
def deployed(env: None, run, repo: Path, airflow: AirflowServer) -> Path:
    """Deployed once for the module; the DAG parsed by Airflow."""
    client = api(airflow)
    if client.dag(DAG) is None:
        result = pipelinectl(run, repo, "deploy")
        assert result.code == 0, result.err
        deadline = time.monotonic() + 120
        while client.dag(DAG) is None:
            assert time.monotonic() < deadline, "Airflow did not parse the deployed DAG"
            time.sleep(1)
    return repo


def test_trigger_with_a_param_and_wait(deployed: Path, run, airflow: AirflowServer) -> None:
    result = pipelinectl(run, deployed, "trigger", NAME, "--param", "region=north",
                         "--logical-date", "2026-03-31", "--wait", "--timeout", "4m")
    assert result.code == 0, result.out + result.err
    first, note, done = result.out.splitlines()
    run_id = done.removeprefix("DAG run ").removesuffix(" succeeded")
    assert run_id.startswith("manual__") and done == f"DAG run {run_id} succeeded"
    assert first == (f"started {NAME}: DAG run {run_id} of DAG {DAG} in Airflow at "
                     f"{airflow.base} (logical date 2026-03-31T00:00:00+00:00, conf "
                     "{region=north})")
    assert note == "note: triggered by ada with pipelinectl trigger"
    status, body = call(airflow.base, "GET", f"/api/v2/dags/{DAG}/dagRuns/"
                        f"{urllib.parse.quote(run_id, safe='')}", airflow.login())
    assert status == 200 and body["note"] == "triggered by ada with pipelinectl trigger"
    assert body["conf"] == {"region": "north"}
    log = api(airflow).task_log(DAG, run_id, "count", 1, lines=200)
    # the param and the logical date reached the container
    assert any("counting region=north date=2026-03-31T00:00:00+00:00" in line
               for line in log), log


def test_a_failed_task_in_trigger_wait_and_status(deployed: Path, run) -> None:
    result = pipelinectl(run, deployed, "trigger", NAME, "--param", "region=south", "--wait",
                         "--timeout", "4m")
    assert result.code == 1
    done = result.out.splitlines()[-1]
    run_id = done.removeprefix("DAG run ").split(" ")[0]
    assert done == f"DAG run {run_id} failed: task count: exit code 3"
    status = pipelinectl(run, deployed, "status", "--check")
    assert status.code == 1
    lines = status.out.splitlines()
    [line] = [x for x in lines if x.startswith(f"  run {run_id}: ")]
    assert line.startswith(f"  run {run_id}: failed after ")
    assert line.endswith("): task count: exit code 3")
    assert f"  check: the latest finished run {run_id} failed: task count: exit code 3" \
        in lines
    assert lines[-1] == f"check: 1 of 1 failing: {NAME}"


def test_a_pause_in_airflow_is_drift_and_deploy_restores_it(deployed: Path, run,
                                                            airflow: AirflowServer) -> None:
    status, _ = call(airflow.base, "PATCH", f"/api/v2/dags/{DAG}", airflow.login(),
                     {"is_paused": True})
    assert status == 200
    shown = pipelinectl(run, deployed, "status").out.splitlines()
    [drift] = [x for x in shown if x.startswith("  drift: ")]
    assert drift.startswith("  drift: paused by hand in Airflow (git says running), seen at ")
    assert "  next run: paused (in Airflow)" in shown
    plan = pipelinectl(run, deployed, "plan").out.splitlines()
    assert plan[0] == f"{NAME} (DAG {DAG}):"
    assert plan[1].startswith("  resumed: the DAG was paused by hand in Airflow (git says "
                              "running), seen at ")
    note = pipelinectl(run, deployed, "plan", "--format", "markdown").out
    assert f"**{NAME} (DAG {DAG})**\n\n- `resumed: the DAG was paused by hand in Airflow (git " \
           "says running), seen at " in note
    assert "<details>" not in note  # the file is unchanged: no diff to show
    result = pipelinectl(run, deployed, "deploy")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == \
        f"{NAME}: resumed: the DAG was paused by hand in Airflow; git says running"
    assert api(airflow).dag(DAG).is_paused is False  # type: ignore[union-attr]
    assert not [x for x in pipelinectl(run, deployed, "status").out.splitlines()
                if x.startswith("  drift: ")]
    assert pipelinectl(run, deployed, "plan").out.endswith("No changes.\n")


def test_a_backfill_of_3_ticks_runs_one_at_a_time(deployed: Path, run,
                                                  airflow: AirflowServer) -> None:
    write(deployed / NAME / "pipeline.yaml", SPEC + BACKFILL)
    git(deployed, "commit", "-qam", "backfill")
    result = pipelinectl(run, deployed, "deploy")
    assert result.code == 0, result.err
    started = result.out.splitlines()[-1]
    assert started.startswith(f"{NAME}: backfill q1-north: started 3 runs in Airflow "
                              "(backfill "), result.out
    assert started.endswith("), at most 1 at once")
    number = int(started.split("(backfill ")[1].split(")")[0])
    client = api(airflow)
    span = (datetime.datetime(2026, 1, 1, 7, tzinfo=datetime.UTC),
            datetime.datetime(2026, 1, 3, 7, tzinfo=datetime.UTC))
    most, deadline = 0, time.monotonic() + 240
    while True:
        running, _ = client.count_runs(DAG, "backfill", ("running",), *span)
        done, _ = client.count_runs(DAG, "backfill", ("success",), *span)
        most = max(most, running)
        if done == 3 and client.backfill(number).completed_at is not None:
            break
        assert time.monotonic() < deadline, f"the backfill did not finish: {done} of 3 done"
        time.sleep(0.5)
    assert most == 1  # max_parallel 1: Airflow ran them one at a time
    status = pipelinectl(run, deployed, "status").out.splitlines()
    assert "  backfill q1-north: 3 of 3 done, 0 running, failed: none, finished" in status, \
        status
    again = pipelinectl(run, deployed, "deploy")  # an id runs once
    assert "backfill" not in again.out, again.out


def _remove_run_volumes() -> None:
    import subprocess

    names = subprocess.run([DOCKER, "volume", "ls", "-q", "--filter",
                            f"name=pipelinectl-{DAG}-"],
                           capture_output=True, text=True, check=False).stdout.split()
    if names:
        subprocess.run([DOCKER, "volume", "rm", *names], capture_output=True, check=False)

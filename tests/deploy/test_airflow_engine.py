"""The Airflow engine in trigger, status, plan and deploy, against a fake AirflowApi (a small
class implementing the port, counting its calls): the requests made (a constant number per
pipeline, however many runs Airflow keeps), the messages, and every bad input making nothing.
The state objects are in the fake API server, deployed by the real engine; the DAG file goes
to a folder. Real Airflow: tests/deploy/test_airflow_engine_real.py."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import tests.support.deploying as core
from pipelinectl import wiring
from pipelinectl.adapters.git import GitHistory
from pipelinectl.deploy import dagruns, engine
from pipelinectl.deploy.ports import (
    AirflowApi,
    AirflowBackfill,
    AirflowDag,
    AirflowRun,
    AirflowTaskInstance,
)
from pipelinectl.errors import UserError
from pipelinectl.render.desired import dag_places
from pipelinectl.spec import platform
from tests.support.fakekube import FakeKube
from tests.support.repo import git, valid_pipeline

UTC = datetime.UTC
NAME = "cases"
DAG = "default__cases"
URL = "http://airflow.test:8080"
SPEC = f"""\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: {NAME}, team: default}}
engine: airflow
image: {{language: python, version: "3.12", dependencies: requirements.txt}}
schedule: "0 7 * * *"
params:
  region: {{default: all, enum: [all, north, south]}}
tasks:
  - name: fetch
    command: [python, fetch.py]
    timeout: 10m
  - name: report
    command: [python, fetch.py, --report]
    depends_on: [fetch]
    timeout: 5m
"""
API = """\
  api:
    url: http://airflow.test:8080
    username_env: AIRFLOW_API_USERNAME
    password_env: AIRFLOW_API_PASSWORD
"""


def at(day: int, hour: int = 7) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, tzinfo=UTC)


class FakeAirflow:
    """The AirflowApi port in memory: DAGs, runs (newest first), task instances and logs,
    each call recorded as (method, dag or run id)."""

    location = URL

    def __init__(self) -> None:
        self.dags: dict[str, AirflowDag] = {}
        self.kept: dict[str, list[AirflowRun]] = {}
        self.instances: dict[str, list[AirflowTaskInstance]] = {}
        self.logs: dict[tuple[str, str], list[str]] = {}
        self.states: list[str] = []  # what run() answers, in turn (--wait)
        self.calls: list[tuple[str, str]] = []
        self.triggered: list[dict[str, Any]] = []
        self.down: UserError | None = None

    def _call(self, method: str, what: str) -> None:
        self.calls.append((method, what))
        if self.down is not None:
            raise self.down

    def dag(self, dag_id: str) -> AirflowDag | None:
        self._call("dag", dag_id)
        return self.dags.get(dag_id)

    def set_paused(self, dag_id: str, paused: bool) -> AirflowDag:
        self._call("set_paused", dag_id)
        self.dags[dag_id] = replace(self.dags[dag_id], is_paused=paused)
        return self.dags[dag_id]

    def runs(self, dag_id: str, limit: int = 5, run_type: str | None = None
             ) -> list[AirflowRun]:
        self._call("runs", dag_id)
        return self.kept.get(dag_id, [])[:limit]

    def run(self, dag_id: str, run_id: str) -> AirflowRun:
        self._call("run", run_id)
        [_started] = [r for r in self.triggered if r["run_id"] == run_id]
        return AirflowRun(dag_id, run_id, self.states.pop(0), "manual", None, at(1), None, {})

    def task_instances(self, dag_id: str, run_id: str) -> list[AirflowTaskInstance]:
        self._call("task_instances", run_id)
        return self.instances.get(run_id, [])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int,
                 map_index: int = -1, lines: int = 20) -> list[str]:
        self._call("task_log", f"{run_id}/{task_id}/{try_number}")
        return self.logs.get((run_id, task_id), [])[-lines:]

    def trigger(self, dag_id: str, conf: Mapping[str, Any],
                logical_date: datetime.datetime | None = None,
                run_id: str | None = None, note: str | None = None) -> AirflowRun:
        self._call("trigger", dag_id)
        assert run_id is not None
        self.triggered.append({"dag_id": dag_id, "conf": dict(conf), "run_id": run_id,
                               "logical_date": logical_date, "note": note})
        return AirflowRun(dag_id, run_id, "queued", "manual", logical_date, None, None, conf)

    def create_backfill(self, *args: Any, **kwargs: Any) -> AirflowBackfill:
        raise AssertionError("no backfill here")

    def backfill(self, backfill_id: int) -> AirflowBackfill:
        raise AssertionError("no backfill here")

    def backfills(self, dag_id: str) -> list[AirflowBackfill]:
        raise AssertionError("no backfill here")

    def cancel_backfill(self, backfill_id: int) -> AirflowBackfill:
        raise AssertionError("no backfill here")


def instance(task: str, state: str, try_number: int = 1, end: int = 1) -> AirflowTaskInstance:
    return AirflowTaskInstance(task, -1, state, try_number, 0, at(end), at(end, 8), None)


@pytest.fixture
def airflow() -> FakeAirflow:
    api: AirflowApi = FakeAirflow()  # mypy checks that the fake implements the port
    assert isinstance(api, FakeAirflow)
    return api


@pytest.fixture
def repo(run, git_repo: Path, fake: FakeKube, tmp_path: Path, airflow: FakeAirflow,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pipeline deployed (its state in the fake API server, its DAG file in a folder),
    on a platform with airflow.api whose client is `airflow`."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    text = platform.builtin_path().read_text().replace(
        "kubernetes:\n  directory: .pipelinectl/kubernetes\n", "")
    text = text.replace("  task_runner: docker\n", "  task_runner: docker\n" + API)
    (tmp_path / "platform.yaml").write_text(text)
    monkeypatch.setenv("PIPELINECTL_PLATFORM", str(tmp_path / "platform.yaml"))
    monkeypatch.setenv("GITLAB_USER_LOGIN", "ada")
    monkeypatch.setattr(wiring, "airflow_api",
                        lambda config, environ: airflow if config.airflow.api else None)
    valid_pipeline(git_repo / NAME, SPEC)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "cases")
    deploy(git_repo, tmp_path, platform.load(str(tmp_path / "platform.yaml")))
    airflow.dags[DAG] = AirflowDag(DAG, False, at(24))
    return git_repo


def deploy(repo: Path, tmp_path: Path, config: platform.Platform) -> None:
    kube = core.context(repo, tmp_path / "kubeconfig").cluster
    with wiring.delivery(config, repo, {}) as delivery:
        ctx = engine.DeployContext(kube, GitHistory(repo), git(repo, "rev-parse", "HEAD"),
                                   "production", "epi/covid", "2026-11-20T10:00:00Z",
                                   delivery=delivery, dag_folders=dag_places(config)[1])
        engine.run(core.desired_of(repo, config), ctx, True)


# -- trigger ---------------------------------------------------------------------------------

def test_trigger_starts_a_dag_run_with_the_params_as_conf(repo: Path, airflow: FakeAirflow,
                                                          run) -> None:
    result = run("trigger", NAME, "--param", "region=north", "--logical-date", "2026-03-31",
                 cwd=repo)
    assert result.code == 0, result.err
    [made] = airflow.triggered
    run_id = made["run_id"]
    assert run_id.startswith("manual__20") and "__pipelinectl-" in run_id
    assert made == {"dag_id": DAG, "conf": {"region": "north"}, "run_id": run_id,
                    "logical_date": datetime.datetime(2026, 3, 31, tzinfo=UTC),
                    "note": "triggered by ada with pipelinectl trigger"}
    assert airflow.calls == [("dag", DAG), ("trigger", DAG)]
    assert result.out.splitlines() == [
        f"started {NAME}: DAG run {run_id} of DAG {DAG} in Airflow at {URL} (logical date "
        "2026-03-31T00:00:00+00:00, conf {region=north})",
        "note: triggered by ada with pipelinectl trigger",
        f"follow it: {URL}/dags/{DAG}/runs/{run_id.replace(':', '%3A').replace('+', '%2B')}"]


@pytest.mark.parametrize(("argv", "error"), [
    (["--param", "region=east"], "error: --param region: 'east' is not one of its enum "
                                 "values ('all', 'north', 'south')"),
    (["--param", "regoin=north"], f"error: --param 'regoin': {NAME} has no such param"),
    (["--param", "region"], "error: --param 'region': not NAME=VALUE"),
    (["--logical-date", "yesterday"], "error: --logical-date 'yesterday'"),
])
def test_a_bad_param_or_date_asks_airflow_nothing(repo: Path, airflow: FakeAirflow, run,
                                                  argv: list[str], error: str) -> None:
    result = run("trigger", NAME, *argv, cwd=repo)
    assert result.code == 1
    assert result.err.startswith(error), result.err
    assert airflow.calls == []


def test_a_dag_airflow_does_not_know_is_not_triggered(repo: Path, airflow: FakeAirflow,
                                                      run) -> None:
    del airflow.dags[DAG]
    result = run("trigger", NAME, cwd=repo)
    assert result.code == 1
    assert result.err == (
        f"error: {NAME}: Airflow at {URL} has no DAG {DAG}: nothing started\n"
        "  hint: Airflow knows the DAG once its dag processor has parsed the deployed file: "
        "check that it is deployed and has no import errors (pipelinectl status)\n")
    assert airflow.calls == [("dag", DAG)] and airflow.triggered == []


PREVIEW_DAG = "default__cases__mr7"


def test_trigger_mr_starts_a_run_of_the_paused_preview_dag_and_says_it_waits(
        repo: Path, airflow: FakeAirflow, fake: FakeKube, run, tmp_path: Path) -> None:
    """A preview's DAG is paused, and Airflow 3 keeps a paused DAG's runs queued: the run is
    made, and the output says so; --wait, which would wait for nothing, is refused first."""
    path = tmp_path / "platform.yaml"
    path.write_text(path.read_text() +
                    'previews: {namespace: "{namespace}-preview", expire_after: 2d}\n')
    fake.add_namespace("default-preview")
    view = platform.load(str(path)).in_previews("production")
    kube = core.context(repo, tmp_path / "kubeconfig").cluster
    with wiring.delivery(view, repo, {}) as delivery:
        ctx = engine.DeployContext(kube, GitHistory(repo), git(repo, "rev-parse", "HEAD"),
                                   "preview-mr7", "epi/covid", "2026-11-20T10:00:00Z",
                                   delivery=delivery, dag_folders=dag_places(view)[1],
                                   guard=False)
        engine.run(core.desired_of(repo, view, preview=7), ctx, False)
    airflow.dags[PREVIEW_DAG] = AirflowDag(PREVIEW_DAG, True)

    waited = run("trigger", NAME, "--mr", "7", "--wait", cwd=repo)
    assert waited.code == 1
    assert waited.err.startswith(f"error: {NAME}-mr7: DAG {PREVIEW_DAG} is paused, and "
                                 "Airflow 3 keeps a run of a paused DAG queued, so --wait "
                                 "would wait for nothing: nothing started\n")
    assert airflow.triggered == []

    result = run("trigger", NAME, "--mr", "7", "--param", "region=south", cwd=repo)
    assert result.code == 0, result.err
    [made] = airflow.triggered
    assert (made["dag_id"], made["conf"]) == (PREVIEW_DAG, {"region": "south"})
    lines = result.out.splitlines()
    assert lines[0].startswith(f"started {NAME}-mr7: DAG run manual__")
    assert lines[2] == (f"paused: DAG {PREVIEW_DAG} is paused (a preview's DAG always is), "
                        "and Airflow keeps this run queued until the DAG is unpaused (the "
                        "toggle in the Airflow UI; a schedule it has then starts too)")
    assert DAG not in [what for _, what in airflow.calls]  # production's DAG: not asked

    airflow.calls.clear()
    missing = run("trigger", NAME, "--mr", "8", cwd=repo)
    assert missing.code == 1
    assert missing.err.startswith("error: merge request 8 has no preview of cases (no "
                                  "cases-mr8 in namespace default-preview): nothing started")
    assert airflow.calls == [] and len(airflow.triggered) == 1


def test_without_airflow_api_trigger_says_how_to_enable_it(repo: Path, airflow: FakeAirflow,
                                                           run, tmp_path: Path) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text(path.read_text().replace(API, ""))
    result = run("trigger", NAME, cwd=repo)
    assert result.code == 1
    assert result.err == (
        f"error: {NAME} uses the airflow engine: trigger starts its runs through Airflow's "
        "REST API, and the platform has no airflow.api: nothing started\n"
        "  hint: the platform team sets airflow.api (see docs/how-to/airflow-api.md); "
        "meanwhile trigger it in the Airflow UI, with the same params as conf\n")
    assert airflow.calls == []


def test_wait_follows_the_run_and_names_the_failed_task(repo: Path, airflow: FakeAirflow,
                                                        run, monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr("pipelinectl.deploy.dagtrigger.POLL_SECONDS", 0)
    airflow.states = ["queued", "running", "failed"]
    original = airflow.trigger

    def trigger(*args: Any, **kwargs: Any) -> AirflowRun:
        made = original(*args, **kwargs)
        airflow.instances[made.run_id] = [instance("report", "upstream_failed", 0, 2),
                                          instance("fetch", "failed", 2, 1)]
        airflow.logs[(made.run_id, "fetch")] = [
            "Starting docker container from image 127.0.0.1:5000/default/cases@sha256:1",
            "fetch: no rows for region north",
            "Task failed with exception",
            "airflow.providers.docker.exceptions.DockerContainerFailedException: Docker "
            "container failed: {'StatusCode': 3}"]
        return made

    monkeypatch.setattr(airflow, "trigger", trigger)
    result = run("trigger", NAME, "--wait", cwd=repo)
    assert result.code == 1
    [made] = airflow.triggered
    assert result.out.splitlines()[-1] == f"DAG run {made['run_id']} failed: task fetch: " \
                                          "exit code 3"
    assert [c[0] for c in airflow.calls] == ["dag", "trigger", "run", "run", "run",
                                             "task_instances", "task_log"]
    assert airflow.calls[-1] == ("task_log", f"{made['run_id']}/fetch/2")


def test_wait_succeeds_with_exit_0(repo: Path, airflow: FakeAirflow, run,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelinectl.deploy.dagtrigger.POLL_SECONDS", 0)
    airflow.states = ["running", "success"]
    result = run("trigger", NAME, "--wait", cwd=repo)
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == f"DAG run {airflow.triggered[0]['run_id']} succeeded"


# -- status ----------------------------------------------------------------------------------

def kept_runs(count: int, failed: set[int]) -> list[AirflowRun]:
    """`count` scheduled daily runs, newest first (day 24 back), those of `failed` failed."""
    found = []
    for back in range(count):
        day = at(24) - datetime.timedelta(days=back)
        found.append(AirflowRun(DAG, f"scheduled__{day.isoformat()}",
                                "failed" if back in failed else "success", "scheduled", day,
                                day, day + datetime.timedelta(seconds=95), {}))
    return found


def test_status_reads_a_constant_number_of_requests(repo: Path, airflow: FakeAirflow,
                                                    run, monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    monkeypatch.setattr(dagruns, "SHOWN", 5)
    airflow.kept[DAG] = kept_runs(100, failed={0, 3, 40})
    newest, older = airflow.kept[DAG][0].run_id, airflow.kept[DAG][3].run_id
    airflow.instances[newest] = [instance("fetch", "success"), instance("report", "failed")]
    airflow.instances[older] = [instance("fetch", "failed"), instance("report",
                                                                       "upstream_failed")]
    airflow.logs[(newest, "report")] = [
        "[base] report: writing", "Pod phase: Failed, reason: None",
        "Container 'base': state='TERMINATED', reason='OOMKilled', exit_code=137, "
        "message='None'", "Pod cases-report-x1 returned a failure."]
    airflow.logs[(older, "fetch")] = ["Timeout, PID: 4242",
                                      "airflow.sdk.exceptions.AirflowTaskTimeout"]
    result = run("status", "--check", cwd=repo)
    assert result.code == 1
    # the DAG, 5 runs, and for each of the 2 failed among them its tasks and one log
    assert airflow.calls == [("dag", DAG), ("runs", DAG), ("task_instances", newest),
                             ("task_log", f"{newest}/report/1"),
                             ("task_instances", older), ("task_log", f"{older}/fetch/1")]
    lines = result.out.splitlines()
    assert lines[lines.index("  next run: 2026-11-24T07:00:00Z (0 7 * * * UTC)") + 1:] == [
        f"  run {newest}: failed after 1m 35s (logical date 2026-11-24T07:00:00Z, started "
        "2026-11-24T07:00:00Z): task report: OOMKilled (exit code 137)",
        "  run scheduled__2026-11-23T07:00:00+00:00: succeeded in 1m 35s (logical date "
        "2026-11-23T07:00:00Z, started 2026-11-23T07:00:00Z)",
        "  run scheduled__2026-11-22T07:00:00+00:00: succeeded in 1m 35s (logical date "
        "2026-11-22T07:00:00Z, started 2026-11-22T07:00:00Z)",
        f"  run {older}: failed after 1m 35s (logical date 2026-11-21T07:00:00Z, started "
        "2026-11-21T07:00:00Z): task fetch: DeadlineExceeded (ran longer than its timeout)",
        "  run scheduled__2026-11-20T07:00:00+00:00: succeeded in 1m 35s (logical date "
        "2026-11-20T07:00:00Z, started 2026-11-20T07:00:00Z)",
        f"  check: the latest finished run {newest} failed: task report: OOMKilled (exit "
        "code 137)",
        "  check: overdue: no run for the tick of 2026-11-25T07:00:00Z (the last scheduled "
        "run was for 2026-11-24T07:00:00Z), more than one interval (1d) late",
        f"check: 1 of 1 failing: {NAME}"]


def test_status_json_and_pause_drift_in_airflow(repo: Path, airflow: FakeAirflow,
                                                run) -> None:
    airflow.dags[DAG] = AirflowDag(DAG, True)
    result = run("status", "--check", "--format", "json", cwd=repo)
    assert result.code == 0, result.out  # paused: nothing is due; no run failed
    [found] = json.loads(result.out)["pipelines"]
    assert found["engine"] == "airflow" and found["runs"] == [] and found["runs_note"] is None
    assert found["paused"] == {"git": False, "live": True}
    assert found["next_run"] == "paused (in Airflow)"
    [drift] = found["drift"]
    assert (drift["field"], drift["git"], drift["live"]) == ("is_paused", False, True)
    assert drift["message"].startswith("paused by hand in Airflow (git says running), seen at ")
    text = run("status", cwd=repo).out.splitlines()
    assert next(x for x in text if x.startswith("  drift: ")).startswith(
        "  drift: paused by hand in Airflow (git says running), seen at ")
    assert (f"  start a run: pipelinectl trigger {NAME} (its run stays queued while the DAG "
            "is paused: unpause it in Airflow)") in text
    assert "  no runs yet" in text


def test_a_dag_airflow_has_not_parsed_is_not_drift(repo: Path, airflow: FakeAirflow,
                                                   run) -> None:
    del airflow.dags[DAG]
    result = run("status", "--check", cwd=repo)
    assert result.code == 0
    assert result.out.splitlines()[-3:] == [
        f"  runs: not in Airflow yet (DAG {DAG}: its dag processor has not parsed the "
        "deployed file)", "  check: ok", "check: ok (1 pipeline)"]
    assert airflow.calls == [("dag", DAG)]


def test_without_airflow_api_status_says_how_to_enable_it(repo: Path, airflow: FakeAirflow,
                                                          run, tmp_path: Path) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text(path.read_text().replace(API, ""))
    result = run("status", cwd=repo)
    assert result.out.splitlines()[-1] == (
        f"  runs: in Airflow, DAG {DAG}; status reads its runs and pause there once the "
        "platform sets airflow.api (see docs/how-to/airflow-api.md)")
    assert airflow.calls == []


def test_an_unreachable_airflow_fails_the_check(repo: Path, airflow: FakeAirflow,
                                                run) -> None:
    airflow.down = UserError(f"cannot reach Airflow's API at {URL}: Connection refused")
    result = run("status", "--check", cwd=repo)
    assert result.code == 1
    assert result.out.splitlines()[-3:] == [
        f"  runs: unknown: cannot reach Airflow's API at {URL}: Connection refused",
        f"  check: its runs are unknown: cannot reach Airflow's API at {URL}: Connection "
        "refused", f"check: 1 of 1 failing: {NAME}"]


# -- deploy: git's pause put back ------------------------------------------------------------

def test_restore_pause_says_what_it_did(airflow: FakeAirflow) -> None:
    airflow.dags[DAG] = AirflowDag(DAG, True)
    assert dagruns.restore_pause(airflow, DAG, NAME, False, False) == \
        f"{NAME}: resumed: the DAG was paused by hand in Airflow; git says running"
    assert airflow.dags[DAG].is_paused is False
    assert dagruns.restore_pause(airflow, DAG, NAME, False, False) is None  # nothing to do
    # git changed the pause: Airflow does not read it from a DAG it knows
    assert dagruns.restore_pause(airflow, DAG, NAME, True, False) == \
        f"{NAME}: paused the DAG in Airflow, as git says"
    airflow.dags[DAG] = AirflowDag(DAG, False)
    assert dagruns.restore_pause(airflow, DAG, NAME, True, True) == \
        f"{NAME}: paused: the DAG was resumed by hand in Airflow; git says paused"
    del airflow.dags[DAG]  # not parsed yet: a new DAG takes its pause from its file
    assert dagruns.restore_pause(airflow, DAG, NAME, True, True) is None
    assert [c[0] for c in airflow.calls].count("set_paused") == 3


def test_a_recorded_pause_is_not_drift() -> None:
    """A preview or an environment with `schedules: suspended` records the pause it deploys:
    a paused DAG there is what git says."""
    assert dagruns.pause_drift(True, AirflowDag(DAG, True)) is None
    assert dagruns.pause_drift(None, AirflowDag(DAG, True)) is None  # a state before pauses
    assert dagruns.pause_drift(False, None) is None
    assert dagruns.pause_drift(True, AirflowDag(DAG, False)) is not None

"""The airflow engine's backfills (deploy/airflowbackfills.py) against a fake AirflowApi that
keeps backfills: the deploy starts one through Airflow's backfill API with the entry's ticks,
max_parallel and params, records its id, never starts it twice (also with the state lost: a
running backfill of the same dates is adopted), cancels it when the entry is removed; a DAG
Airflow has not read yet is started by the next deploy; status reads progress with a constant
number of requests; plan says what will start. Real Airflow: tests/deploy/
test_airflow_engine_real.py (a backfill of 3 ticks, one run at a time)."""

# ruff: noqa: F811 (the fixtures airflow and repo, imported from test_airflow_engine)

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import tests.support.deploying as core
from pipelinectl.adapters.git import GitHistory
from pipelinectl.commands import deploy as deploy_command
from pipelinectl.deploy import airflowbackfills, engine, state
from pipelinectl.deploy.ports import AirflowBackfill, AirflowRun
from pipelinectl.errors import UserError
from pipelinectl.render.desired import dag_places
from pipelinectl.spec import platform
from pipelinectl.spec.validation import load_pipelines
from tests.deploy.test_airflow_engine import (  # noqa: F401 (fixtures)
    DAG,
    NAME,
    SPEC,
    FakeAirflow,
    airflow,
    repo,
)
from tests.support.fakekube import FakeKube
from tests.support.repo import git

UTC = datetime.UTC
Q1 = """\
backfills:
  - id: fix-q1
    from: "2026-01-01"
    to: "2026-01-03"
    params: {region: north}
"""


def at(day: int) -> datetime.datetime:
    return datetime.datetime(2026, 1, day, 7, tzinfo=UTC)


class KeepsBackfills(FakeAirflow):
    """The fake Airflow with backfills and the runs they make (by logical date)."""

    def __init__(self) -> None:
        super().__init__()
        self.made: dict[int, AirflowBackfill] = {}
        self.created: list[dict[str, Any]] = []
        self.states: list[str] = []
        self.backfill_runs: dict[datetime.datetime, str] = {}  # logical date -> state

    def create_backfill(self, dag_id: str, from_date: datetime.datetime,
                        to_date: datetime.datetime, max_active_runs: int,
                        conf: Mapping[str, Any], reprocess_behavior: str = "none"
                        ) -> AirflowBackfill:
        self._call("create_backfill", dag_id)
        self.created.append({"from": from_date, "to": to_date, "max": max_active_runs,
                             "conf": dict(conf), "reprocess": reprocess_behavior})
        made = AirflowBackfill(7 + len(self.made), dag_id, from_date, to_date, max_active_runs,
                               reprocess_behavior, False, dict(conf), None)  # type: ignore[arg-type]
        self.made[made.id] = made
        return made

    def backfill(self, backfill_id: int) -> AirflowBackfill:
        self._call("backfill", str(backfill_id))
        return self.made[backfill_id]

    def backfills(self, dag_id: str) -> list[AirflowBackfill]:
        self._call("backfills", dag_id)
        return sorted(self.made.values(), key=lambda b: -b.id)

    def cancel_backfill(self, backfill_id: int) -> AirflowBackfill:
        self._call("cancel_backfill", str(backfill_id))
        self.made[backfill_id] = replace(self.made[backfill_id],
                                         completed_at=at(28), is_paused=True)
        return self.made[backfill_id]

    def count_runs(self, dag_id: str, run_type: str, states: tuple[str, ...],
                   logical_from: datetime.datetime, logical_to: datetime.datetime,
                   limit: int = 1) -> tuple[int, list[AirflowRun]]:
        self._call("count_runs", ",".join(states))
        found = [AirflowRun(dag_id, f"backfill__{day.isoformat()}", run_state, run_type, day,
                            day, None, {})
                 for day, run_state in sorted(self.backfill_runs.items())
                 if run_state in states and logical_from <= day <= logical_to]
        return len(found), found[:limit]


@pytest.fixture
def keeper(airflow: FakeAirflow, monkeypatch: pytest.MonkeyPatch) -> KeepsBackfills:
    """`airflow` (the fixture `repo` deployed with), swapped for one that keeps backfills."""
    kept = KeepsBackfills()
    kept.dags = airflow.dags
    from pipelinectl import wiring
    monkeypatch.setattr(wiring, "airflow_api",
                        lambda config, environ: kept if config.airflow.api else None)
    return kept


def config_of(tmp_path: Path) -> platform.Platform:
    return platform.load(str(tmp_path / "platform.yaml"))


def deploy(repo: Path, tmp_path: Path, api: KeepsBackfills, fake: FakeKube,
           spec: str) -> list[str]:
    """Commit `spec`, deploy it as the deploy command does (the engine, then Airflow's
    backfills): what the backfill step said."""
    (repo / NAME / "pipeline.yaml").write_text(spec)
    git(repo, "commit", "-qam", "spec", "--allow-empty")
    config = config_of(tmp_path)
    kube = core.context(repo, tmp_path / "kubeconfig").cluster
    from pipelinectl import wiring
    with wiring.delivery(config, repo, {}) as delivery:
        ctx = engine.DeployContext(kube, GitHistory(repo), git(repo, "rev-parse", "HEAD"),
                                   "production", "epi/covid", "2026-11-20T10:00:00Z",
                                   delivery=delivery, dag_folders=dag_places(config)[1])
        outcomes = engine.run(core.desired_of(repo, config), ctx, True)
    return airflowbackfills.apply(api, kube, {("default", NAME): DAG}, outcomes,
                                  "2026-11-20T10:00:01Z")


def recorded(fake: FakeKube) -> dict[str, state.Backfill]:
    return core.recorded(fake, NAME).backfills


def test_a_deploy_starts_the_backfill_in_airflow_once(repo: Path, keeper: KeepsBackfills,
                                                      fake: FakeKube, tmp_path: Path) -> None:
    said = deploy(repo, tmp_path, keeper, fake, SPEC + Q1)
    assert said == [f"{NAME}: backfill fix-q1: started 3 runs in Airflow (backfill 7), at most "
                    "1 at once"]
    assert keeper.created == [{"from": at(1), "to": at(3), "max": 1,
                               "conf": {"region": "north"}, "reprocess": "completed"}]
    assert recorded(fake) == {"fix-q1": state.Backfill("airflow-backfill-7", 3,
                                                       "2026-11-20T10:00:01Z")}
    keeper.calls.clear()
    assert deploy(repo, tmp_path, keeper, fake, SPEC + Q1 + "# again\n") == []
    assert keeper.calls == [] and len(keeper.made) == 1


def test_a_dag_airflow_has_not_read_is_started_by_the_next_deploy(
        repo: Path, keeper: KeepsBackfills, fake: FakeKube, tmp_path: Path) -> None:
    known = keeper.dags.pop(DAG)
    assert deploy(repo, tmp_path, keeper, fake, SPEC + Q1) == [
        f"{NAME}: backfill fix-q1: not started: Airflow has not read the DAG {DAG} yet; the "
        "next deploy starts it"]
    assert recorded(fake) == {} and keeper.created == []
    keeper.dags[DAG] = known
    assert deploy(repo, tmp_path, keeper, fake, SPEC + Q1 + "# again\n") == [
        f"{NAME}: backfill fix-q1: started 3 runs in Airflow (backfill 7), at most 1 at once"]
    assert list(recorded(fake)) == ["fix-q1"]


def test_a_running_backfill_of_the_same_dates_is_adopted(repo: Path, keeper: KeepsBackfills,
                                                         fake: FakeKube, tmp_path: Path
                                                         ) -> None:
    keeper.create_backfill(DAG, at(1), at(3), 1, {"region": "north"})  # a lost state's
    keeper.created.clear()
    assert deploy(repo, tmp_path, keeper, fake, SPEC + Q1) == [
        f"{NAME}: backfill fix-q1: already running in Airflow (backfill 7): recorded, not "
        "started again"]
    assert keeper.created == [] and recorded(fake)["fix-q1"].job == "airflow-backfill-7"
    # a finished one of the same dates is not: a new id is a new run of them
    keeper.made[7] = replace(keeper.made[7], completed_at=at(20))
    assert deploy(repo, tmp_path, keeper, fake, SPEC + Q1.replace("fix-q1", "fix-q1b")) == [
        f"{NAME}: backfill fix-q1b: started 3 runs in Airflow (backfill 8), at most 1 at once",
        f"{NAME}: backfill fix-q1: removed, it had finished: 0 of 3 done"]


def test_removing_the_entry_cancels_it_and_keeps_what_finished(
        repo: Path, keeper: KeepsBackfills, fake: FakeKube, tmp_path: Path) -> None:
    deploy(repo, tmp_path, keeper, fake, SPEC + Q1)
    keeper.backfill_runs = {at(1): "success", at(2): "running"}
    assert deploy(repo, tmp_path, keeper, fake, SPEC) == [
        f"{NAME}: backfill fix-q1: stopped (Airflow backfill 7 cancelled), 1 of 3 done"]
    assert ("cancel_backfill", "7") in keeper.calls
    assert recorded(fake) == {}
    keeper.calls.clear()
    assert deploy(repo, tmp_path, keeper, fake, SPEC + "# again\n") == []
    assert keeper.calls == []


def test_a_finished_backfill_is_not_cancelled(repo: Path, keeper: KeepsBackfills,
                                              fake: FakeKube, tmp_path: Path) -> None:
    deploy(repo, tmp_path, keeper, fake, SPEC + Q1)
    keeper.made[7] = replace(keeper.made[7], completed_at=at(20))
    keeper.backfill_runs = {at(1): "success", at(2): "success", at(3): "failed"}
    assert deploy(repo, tmp_path, keeper, fake, SPEC) == [
        f"{NAME}: backfill fix-q1: removed, it had finished: 2 of 3 done"]
    assert ("cancel_backfill", "7") not in keeper.calls


def test_status_shows_progress_with_a_constant_number_of_requests(
        repo: Path, keeper: KeepsBackfills, fake: FakeKube, tmp_path: Path, run) -> None:
    deploy(repo, tmp_path, keeper, fake, SPEC + Q1)
    keeper.backfill_runs = {at(1): "success", at(2): "failed", at(3): "running",
                            at(9): "failed"}  # outside its dates: another backfill's
    keeper.calls.clear()
    result = run("status", cwd=repo)
    assert result.code == 0, result.err
    assert "  backfill fix-q1: 1 of 3 done, 1 running, failed: 2026-01-02T07:00:00+00:00" \
        in result.out.splitlines(), result.out
    assert [c for c in keeper.calls if c[0] in ("backfill", "count_runs")] == [
        ("backfill", "7"), ("count_runs", "success"), ("count_runs", "queued,running"),
        ("count_runs", "failed")]


def test_plan_says_what_the_deploy_will_start(repo: Path, keeper: KeepsBackfills,
                                              fake: FakeKube, tmp_path: Path, run) -> None:
    (repo / NAME / "pipeline.yaml").write_text(SPEC + Q1)
    git(repo, "commit", "-qam", "q1")
    result = run("plan", cwd=repo)
    assert "  backfill fix-q1: will start 3 runs (2026-01-01T07:00:00+00:00 .. " \
           "2026-01-03T07:00:00+00:00), at most 1 at once" in result.out.splitlines(), \
        result.out


def test_without_airflow_api_a_deploy_with_backfills_stops_before_any_work(
        repo: Path, tmp_path: Path) -> None:
    config = config_of(tmp_path)
    config = replace(config, airflow=replace(config.airflow, api=None))
    (repo / NAME / "pipeline.yaml").write_text(SPEC + Q1)
    [pipeline] = load_pipelines([repo / NAME / "pipeline.yaml"], config, None, repo)
    with pytest.raises(UserError) as refused:
        deploy_command._refuse_airflow_backfills(config, [pipeline])
    assert refused.value.message == (
        f"{NAME}: backfills of the airflow engine are started through Airflow's REST API, "
        "and the platform sets no airflow.api: nothing deployed")
    deploy_command._refuse_airflow_backfills(config_of(tmp_path), [pipeline])  # with it: fine


def test_status_check_fails_when_airflow_cannot_say_a_backfills_progress(
        repo: Path, keeper: KeepsBackfills, fake: FakeKube, tmp_path: Path, run,
        monkeypatch: pytest.MonkeyPatch) -> None:
    deploy(repo, tmp_path, keeper, fake, SPEC + Q1)

    def refused(*args: Any, **kwargs: Any) -> AirflowBackfill:
        raise UserError("Airflow at http://airflow.test:8080 has no backfill 7")

    monkeypatch.setattr(keeper, "backfill", refused)
    result = run("status", "--check", cwd=repo)
    assert result.code == 1, result.out
    assert "  check: its backfills are unknown: Airflow at http://airflow.test:8080 has no " \
           "backfill 7" in result.out.splitlines(), result.out

"""The state record of a deploy: round trip through its ConfigMap, history, what to prune."""

from __future__ import annotations

import json

import pytest

from pipelinectl.deploy import state
from pipelinectl.deploy.state import Deploy, Item, State, StateError

A = Item("batch/v1", "CronJob", "team-a", "etl")
B = Item("batch/v1", "CronJob", "team-a", "etl-old")


def deploy(revision: str, *inventory: Item, forced: bool = False) -> Deploy:
    return Deploy(revision, "sha256:spec", f"r/team-a/etl@sha256:{'1' * 64}", "production",
                  "2026-11-23T10:00:00Z", forced, inventory)


def test_round_trip_through_the_configmap() -> None:
    recorded = state.recorded(None, "etl", "team-a", "epi/covid",
                              deploy("a" * 40, A, B, forced=True))
    configmap = state.to_configmap(recorded, "team-a")
    assert configmap["metadata"] == {
        "name": "pipelinectl-state-etl", "namespace": "team-a",
        "labels": {"app.kubernetes.io/managed-by": "pipelinectl",
                   "pipelinectl.io/pipeline": "etl", "pipelinectl.io/team": "team-a",
                   "pipelinectl.io/state": "true", "pipelinectl.io/environment": "production"}}
    assert state.from_configmap(configmap) == recorded
    assert json.loads(configmap["data"]["state.json"])["current"]["inventory"] == [
        ["batch/v1", "CronJob", "team-a", "etl"], ["batch/v1", "CronJob", "team-a", "etl-old"]]


def test_history_is_newest_first_and_bounded() -> None:
    current: State | None = None
    for number in range(25):
        current = state.recorded(current, "etl", "team-a", "epi/covid", deploy(f"{number:040d}", A))
    assert current is not None
    assert len(current.history) == state.HISTORY_LIMIT == 20
    assert current.history[0] == current.current
    assert [d.revision for d in current.history][:2] == [f"{24:040d}", f"{23:040d}"]
    assert current.history[-1].revision == f"{5:040d}"


def test_prune_is_what_the_new_render_no_longer_has() -> None:
    before = state.recorded(None, "etl", "team-a", "epi/covid", deploy("a" * 40, A, B))
    assert state.to_prune(before, [A]) == [B]
    assert state.to_prune(before, [A, B]) == []
    assert state.to_prune(None, [A]) == []


@pytest.mark.parametrize(("data", "message"), [
    ({}, "state object pipelinectl-state-etl cannot be read (KeyError: 'state.json')"),
    ({"state.json": "{"}, "state object pipelinectl-state-etl cannot be read (JSONDecodeError: "
                          "Expecting property name enclosed in double quotes: line 1 column 2 "
                          "(char 1))"),
    ({"state.json": '{"format": 9}'}, "state object pipelinectl-state-etl has format 9, this "
                                      "pipelinectl reads format 1"),
])
def test_a_state_object_not_written_by_us_is_an_error(data: dict[str, str], message: str) -> None:
    with pytest.raises(StateError) as failed:
        state.from_configmap({"metadata": {"name": "pipelinectl-state-etl"}, "data": data})
    assert str(failed.value) == message
    assert failed.value.hint == ("inspect it with kubectl -n ? get configmap "
                                 "pipelinectl-state-etl -o yaml; delete it to start over (the "
                                 "next deploy records a new one); see "
                                 "docs/reference/state.md#when-a-state-object-is-wrong")

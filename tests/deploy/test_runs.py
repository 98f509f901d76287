"""Run health, pure: Jobs and Pods as the controllers leave them -> the exact status line of
each failure reason (deploy/jobruns.py, deploy/runs.py), the verdict of `status --check`, and
pause drift (deploy/drift.py)."""

from __future__ import annotations

import datetime

import pytest

from pipelinectl.deploy import drift, jobruns, runs
from tests.support.fakeruns import exited, job, pod, running, waiting

NOW = datetime.datetime(2026, 11, 23, 8, 0, tzinfo=datetime.UTC)
TICK = "2026-11-23T07:00:00Z"
START = "2026-11-23T07:00:02Z"
END = "2026-11-23T07:00:47Z"
HEAD = "(logical date 2026-11-23T07:00:00Z, started 2026-11-23T07:00:02Z)"


def line_of(job_obj: dict, *pods: dict) -> str:  # type: ignore[type-arg]
    return runs.line(jobruns.run_of(job_obj, list(pods)), NOW)


def test_succeeded() -> None:
    assert line_of(job("etl", "etl-1", TICK, "succeeded", START, "2026-11-23T07:01:05Z")) == \
        f"run etl-1: succeeded in 1m 3s {HEAD}"


def test_oomkilled_names_the_task_and_its_memory_limit() -> None:
    """A chain: fetch is an init container, report the main one; fetch ran out of memory."""
    failed = job("etl", "etl-2", TICK, "failed", START, END, "BackoffLimitExceeded")
    shown = pod("etl", "etl-2", "Failed", [waiting("report", "PodInitializing")],
                init=[exited("fetch", 137, "OOMKilled")])
    assert line_of(failed, shown) == (f"run etl-2: failed after 45s {HEAD}: task fetch: "
                                      "OOMKilled (exit code 137, memory limit 1Gi)")


def test_exit_code_after_retries() -> None:
    failed = job("etl", "etl-3", TICK, "failed", START, END, "BackoffLimitExceeded", failed=3)
    shown = pod("etl", "etl-3", "Failed", [exited("report", 3)],
                init=[exited("fetch", 0)])
    assert line_of(failed, shown) == \
        f"run etl-3: failed after 45s {HEAD}: task report: exit code 3 (3 attempts)"


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull"])
def test_image_pull_keeps_a_run_pending_and_says_why(reason: str) -> None:
    stuck = job("etl", "etl-4", TICK, "running", START)
    shown = pod("etl", "etl-4", "Pending", [waiting("report", reason)])
    assert line_of(stuck, shown) == (f"run etl-4: pending {HEAD}: task report: {reason} "
                                     "(the image cannot be pulled)")


def test_image_pull_that_ran_into_the_deadline_names_the_image() -> None:
    failed = job("etl", "etl-5", TICK, "failed", START, "2026-11-23T08:00:02Z",
                 "DeadlineExceeded")
    shown = pod("etl", "etl-5", "Pending", [waiting("report", "ImagePullBackOff")])
    assert line_of(failed, shown).endswith(
        ": task report: ImagePullBackOff (the image cannot be pulled)")


def test_deadline_exceeded_without_pods() -> None:
    """The Job controller deletes a Job's active Pods when its deadline passes."""
    failed = job("etl", "etl-6", TICK, "failed", START, "2026-11-23T08:00:02Z",
                 "DeadlineExceeded")
    assert line_of(failed) == (f"run etl-6: failed after 1h {HEAD}: DeadlineExceeded (ran "
                               "longer than its timeout of 1h)")


def test_deadline_exceeded_names_the_task_that_was_running() -> None:
    failed = job("etl", "etl-7", TICK, "failed", START, "2026-11-23T08:00:02Z",
                 "DeadlineExceeded", deadline=1800)
    shown = pod("etl", "etl-7", "Running", [running("report")], init=[exited("fetch", 0)])
    assert line_of(failed, shown).endswith(
        ": task report: DeadlineExceeded (ran longer than its timeout of 30m)")


def test_backoff_limit_without_pods() -> None:
    failed = job("etl", "etl-8", TICK, "failed", START, END, "BackoffLimitExceeded", failed=2)
    assert line_of(failed) == \
        f"run etl-8: failed after 45s {HEAD}: BackoffLimitExceeded (failed 2 times)"


def test_evicted() -> None:
    failed = job("etl", "etl-9", TICK, "failed", START, END, "BackoffLimitExceeded")
    shown = pod("etl", "etl-9", "Failed", [exited("report", 137)], reason="Evicted",
                message="The node was low on resource: memory.")
    assert line_of(failed, shown) == (f"run etl-9: failed after 45s {HEAD}: task report: "
                                      "Evicted (The node was low on resource: memory.)")


def test_runs_by_hand() -> None:
    with_date = job("etl", "etl-manual-1", None, "running", START,
                    manual_date="2026-01-01T00:00:00Z")
    shown = pod("etl", "etl-manual-1", "Running", [running("report")])
    assert line_of(with_date, shown) == ("run etl-manual-1: running for 59m 58s (logical date "
                                         "2026-01-01T00:00:00Z, started 2026-11-23T07:00:02Z)")
    assert line_of(job("etl", "etl-manual-2", None, "running")) == \
        "run etl-manual-2: pending (by hand)"


def test_by_pipeline_lists_once_and_matches_pods_by_job() -> None:
    jobs = [job("a", "a-1", TICK, "failed", START, END, "BackoffLimitExceeded"),
            job("b", "b-1", TICK, "succeeded", START, END)]
    pods = [pod("a", "a-1", "Failed", [exited("main", 2)]),
            pod("b", "b-1", "Succeeded", [exited("main", 0)])]
    found = jobruns.by_pipeline(jobs, pods)
    assert sorted(found) == ["a", "b"]
    failure = found["a"][0].failure
    assert failure == runs.Failure("Error", "main", 2)
    assert found["b"][0].failure is None


def test_hostile_fields_are_ignored_not_trusted() -> None:
    odd = {"metadata": {"name": "x", "labels": {"pipelinectl.io/pipeline": "etl"},
                        "annotations": {jobruns.CRONJOB_SCHEDULED_ANNOTATION: ["no"]}},
           "status": {"conditions": "broken", "startTime": 7, "failed": True}}
    found = jobruns.run_of(odd, [{"status": {"containerStatuses": [None, {"state": 3}]}}])
    assert (found.state, found.logical_date, found.started) == ("pending", None, None)


def at(text: str) -> datetime.datetime:
    found = runs.parse_time(text)
    assert found is not None
    return found


DAILY = runs.Schedule("0 7 * * *", "UTC", 0, at("2026-11-01T00:00:00Z"))


def scheduled(name: str, tick: str, state: str) -> runs.Run:
    return runs.Run(name, state, at(tick), "schedule", at(tick), at(tick), at(tick))  # type: ignore[arg-type]


def test_check_fails_when_the_latest_finished_run_failed() -> None:
    found = [scheduled("etl-3", "2026-11-23T07:00:00Z", "running"),
             runs.Run("etl-2", "failed", at("2026-11-22T07:00:00Z"), "schedule",
                      at("2026-11-22T07:00:00Z"),
                      failure=runs.Failure("OOMKilled", "fetch", 137, "exit code 137")),
             scheduled("etl-1", "2026-11-21T07:00:00Z", "succeeded")]
    assert runs.problems(found, DAILY, None, NOW) == [
        "the latest finished run etl-2 failed: task fetch: OOMKilled (exit code 137)"]
    healthy = [scheduled("etl-2", "2026-11-22T07:00:00Z", "succeeded"), found[2]]
    assert runs.problems(healthy, DAILY, None, NOW) == []


def test_check_overdue_by_more_than_one_interval() -> None:
    old = [scheduled("etl-1", "2026-11-20T07:00:00Z", "succeeded")]
    assert runs.problems(old, DAILY, None, NOW) == [
        "overdue: no run for the tick of 2026-11-21T07:00:00Z (the last scheduled run was "
        "for 2026-11-20T07:00:00Z), more than one interval (1d) late"]
    # the CronJob's lastScheduleTime counts too: its Jobs may be cleaned up already
    assert runs.problems(old, DAILY, at("2026-11-23T07:00:00Z"), NOW) == []
    recent = [scheduled("etl-2", "2026-11-22T07:00:00Z", "succeeded")]
    assert runs.problems(recent, DAILY, None, NOW) == []


def test_check_allows_the_starting_deadline() -> None:
    now = at("2026-11-23T07:30:00Z")
    last = [scheduled("etl-1", "2026-11-21T07:00:00Z", "succeeded")]
    assert runs.problems(last, DAILY, None, now) == [
        "overdue: no run for the tick of 2026-11-22T07:00:00Z (the last scheduled run was "
        "for 2026-11-21T07:00:00Z), more than one interval (1d) late"]
    patient = runs.Schedule("0 7 * * *", "UTC", 3600, DAILY.since)
    assert runs.problems(last, patient, None, now) == []


def test_no_runs_yet_counts_from_the_creation() -> None:
    assert runs.problems([], DAILY, None, at("2026-11-01T12:00:00Z")) == []
    assert runs.problems([], DAILY, None, NOW)[0].startswith(
        "overdue: no run for the tick of 2026-11-01T07:00:00Z (no scheduled run yet)")
    assert runs.problems([], None, None, NOW) == []  # paused or unscheduled: nothing is due


CRON = {"kind": "CronJob", "spec": {"suspend": True}, "metadata": {"managedFields": [
    {"manager": "pipelinectl", "operation": "Apply", "time": "2026-11-23T10:00:00Z",
     "fieldsV1": {"f:spec": {"f:suspend": {}, "f:schedule": {}}}},
    {"manager": "kubectl-patch", "operation": "Update", "time": "2026-11-23T09:12:00Z",
     "fieldsV1": {"f:spec": {"f:suspend": {}}}}]}}


def test_pause_drift_both_ways() -> None:
    paused = drift.of_pause(False, CRON)
    assert paused is not None and paused.describe("2026-11-23T11:00:00Z") == \
        "paused by hand (git says running), at 2026-11-23T09:12:00Z by kubectl-patch"
    resumed = drift.of_pause(True, {"spec": {"suspend": False}})
    assert resumed is not None and resumed.describe("2026-11-23T11:00:00Z") == \
        "resumed by hand (git says paused), seen at 2026-11-23T11:00:00Z"
    assert drift.of_pause(True, CRON) is None  # a preview, `schedules: suspended`: as recorded
    assert drift.of_pause(None, CRON) is None  # a state from before pauses were recorded


def test_deploy_says_what_it_restores() -> None:
    assert drift.restored("cases", False, False, True, True) == \
        "cases: resumed: the live CronJob was suspended by hand; git says running"
    assert drift.restored("cases", True, True, False, True) == \
        "cases: paused: the live CronJob was resumed by hand; git says paused"
    assert drift.restored("cases", None, False, True, True) is not None  # an older state
    assert drift.restored("cases", None, False, True, False) is None  # git changed it
    assert drift.restored("cases", False, True, True, False) is None  # git pauses it now

"""deploy/dagruns.py's pure parts: why a task failed, from the end of its log as Airflow 3 and
its operators write it (the excerpts are the operators' own message formats: the
KubernetesPodOperator's container states and pod phase, the DockerOperator's exception,
Airflow's task timeout, subprocess and bash failures), and DAG runs as `Run` records."""

from __future__ import annotations

import datetime

import pytest

from pipelinectl.deploy import dagruns
from pipelinectl.deploy.ports import AirflowRun, AirflowTaskInstance
from pipelinectl.deploy.runs import Failure

UTC = datetime.UTC
T0 = datetime.datetime(2026, 11, 24, 7, tzinfo=UTC)

KPO_EXIT = [
    "Pod phase: Failed, reason: None",
    "Container 'base': state='TERMINATED', reason='Error', exit_code=3, message='None'",
    "Pod cases-fetch-8x2kq returned a failure.",
]
KPO_OOM = [
    "Pod phase: Failed, reason: None",
    "Container 'base': state='TERMINATED', reason='OOMKilled', exit_code=137, message='None'",
    "Pod cases-fetch-8x2kq returned a failure.",
]
KPO_EVICTED = [
    "Pod phase: Failed, reason: Evicted",
    "Pod cases-fetch-8x2kq returned a failure.",
    "The node was low on resource: memory. Container base was using 3Gi, exit_code=137",
]
KPO_PULL = [
    "Container 'base': state='WAITING', reason='ImagePullBackOff', message='Back-off "
    "pulling image \"registry.example.org/epi/cases@sha256:1\"'",
    "Pod took too long to start. More than 120s. Check the pod events in kubernetes.",
]
KPO_ERR_PULL = ["Pod Event: Failed - Failed to pull image \"x\": rpc error: ErrImagePull"]
KPO_LAUNCH = ["airflow.providers.cncf.kubernetes.utils.pod_manager.PodLaunchTimeoutException: "
              "Pod took too long to be scheduled on the cluster, giving up. More than 120s."]
DOCKER_EXIT = [
    "Starting docker container from image 127.0.0.1:5000/default/cases@sha256:1",
    "fetch: no rows",
    "airflow.providers.docker.exceptions.DockerContainerFailedException: Docker container "
    "failed: {'StatusCode': 3}",
]
DOCKER_PULL = ["docker.errors.NotFound: 404 Client Error for http+docker://localhost/v1.47/"
               "images/create?tag=x: Not Found (\"manifest unknown\")"]
TIMEOUT = ["Timeout, PID: 4242", "airflow.sdk.exceptions.AirflowTaskTimeout"]
SUBPROCESS = ["subprocess.CalledProcessError: Command '['Rscript', 'fit.R']' returned "
              "non-zero exit status 2."]
BASH = ["airflow.exceptions.AirflowException: Bash command failed. The command returned a "
        "non-zero exit code 1."]


@pytest.mark.parametrize(("log", "expected"), [
    (KPO_EXIT, Failure("Error", None, 3)),
    (KPO_OOM, Failure("OOMKilled", None, 137, "exit code 137")),
    (KPO_EVICTED, Failure("Evicted", None, None, "the pod was evicted from its node")),
    (KPO_PULL, Failure("ImagePullBackOff", None, None, "the image cannot be pulled")),
    (KPO_ERR_PULL, Failure("ErrImagePull", None, None, "the image cannot be pulled")),
    (KPO_LAUNCH, Failure("DeadlineExceeded", None, None, "its pod did not start in time")),
    (DOCKER_EXIT, Failure("Error", None, 3)),
    (DOCKER_PULL, Failure("ErrImagePull", None, None, "the image cannot be pulled")),
    (TIMEOUT, Failure("DeadlineExceeded", None, None, "ran longer than its timeout")),
    (SUBPROCESS, Failure("Error", None, 2)),
    (BASH, Failure("Error", None, 1)),
    (["all good", "exit code 0"], None),
    ([], None),
])
def test_the_reason_a_log_gives(log: list[str], expected: Failure | None) -> None:
    assert dagruns.reason(log) == expected


def instance(task: str, state: str | None, end: int, map_index: int = -1
             ) -> AirflowTaskInstance:
    return AirflowTaskInstance(task, map_index, state, 1, 0, None,
                               T0 + datetime.timedelta(minutes=end), None)


def test_the_failed_task_is_the_first_that_failed() -> None:
    tasks = [instance("report", "upstream_failed", 9), instance("fit", "failed", 5),
             instance("fetch", "success", 1), instance("plot", "failed", 7)]
    assert dagruns.failed_task(tasks) == tasks[1]
    assert dagruns.failed_task([instance("a", "success", 1),
                                instance("b", "upstream_failed", 2)]).task_id == "b"  # type: ignore[union-attr]
    assert dagruns.failed_task([instance("a", "success", 1)]) is None


def test_a_failure_names_the_task_and_falls_back_to_the_last_error_line() -> None:
    fit = instance("fit", "failed", 5, map_index=2)
    assert dagruns.failure_of(fit, DOCKER_EXIT).describe() == "task fit[2]: exit code 3"
    hostile = ["ValueError: " + "x" * 300]
    assert dagruns.failure_of(fit, hostile) == Failure("failed", "fit[2]", None,
                                                       "ValueError: " + "x" * 188 + "...")
    assert dagruns.failure_of(None, []).describe() == \
        "failed (no task failed: see the run in Airflow)"


def test_an_exit_code_is_the_last_non_zero_one() -> None:
    assert dagruns.reason(["exit code 4", "exit_code=0", "returned non-zero exit status 5",
                           "exit code 0"]) == Failure("Error", None, 5)
    assert dagruns.reason(["exit code 99999999999"]) is None  # not a process's exit code


def test_dag_runs_as_run_records() -> None:
    done = AirflowRun("d", "scheduled__x", "failed", "scheduled", T0, T0,
                      T0 + datetime.timedelta(seconds=30), {})
    why = Failure("Error", "fit", 3)
    assert dagruns.run_of(done, why).failure == why
    assert dagruns.run_of(done, why).trigger == "schedule"
    queued = AirflowRun("d", "manual__x", "queued", "manual", None, None, None, {})
    found = dagruns.run_of(queued, why)
    assert (found.state, found.trigger, found.failure) == ("pending", "manual", None)
    odd = AirflowRun("d", "backfill__x", "\x1b[2Jweird", "backfill", T0, None, None, {})
    assert dagruns.run_of(odd).state == "pending"

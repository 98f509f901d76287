"""Run by a real Airflow 3's Python: drive its DAG bundles the way its components do, and
describe what its metadata database holds afterwards.

    python bundle_probe.py process OUT.json            the dag processor: refresh every bundle
                                                       and parse each DAG file once
    python bundle_probe.py trigger DAG_ID RUN OUT.json   a manual run of the DAG (its latest
                                                       version, with its task instances)
    python bundle_probe.py worker DAG_ID RUN OUT.json    what a worker starts for each task of
                                                       that run

`process` is the loop of `airflow dag-processor --num-runs 1` (DagFileProcessorManager), run in
this process: a bundle it has not seen yet is refreshed on its first pass, whatever its
refresh_interval. `worker` takes each task instance as the scheduler hands it to an executor
(ExecuteTask.make: the bundle at the run's bundle version, the DAG file's path in it) and
starts it as the worker's task runner does (task_runner.parse: the bundle checked out at that
version, the DAG file parsed from it), up to the operator it would execute.

Each command writes its findings and the state of the database (DAG versions, bundles, DAGs,
import errors, runs) to OUT.json: Airflow logs to stdout. AIRFLOW_HOME and the
[dag_processor] settings come from the environment; the database must exist (`airflow db
migrate`).
"""

import json
import sys


def versions(session):
    """Per DAG, its versions in order: bundle version, schedule and source code of each."""
    from airflow.models.dag_version import DagVersion
    from airflow.models.dagcode import DagCode
    from airflow.models.serialized_dag import SerializedDagModel
    from sqlalchemy import select

    found = {}
    query = select(DagVersion).order_by(DagVersion.dag_id, DagVersion.version_number)
    for version in session.scalars(query):
        serialized = session.scalar(select(SerializedDagModel).where(
            SerializedDagModel.dag_version_id == version.id))
        code = session.scalar(select(DagCode.source_code).where(
            DagCode.dag_version_id == version.id))
        found.setdefault(version.dag_id, []).append({
            "number": version.version_number, "id": str(version.id),
            "bundle": version.bundle_name, "bundle_version": version.bundle_version,
            "schedule": serialized.dag.timetable.summary if serialized else None,
            "code": code})
    return found


def state(session):
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.models.errors import ParseImportError
    from sqlalchemy import select

    return {
        "versions": versions(session),
        "bundles": {b.name: b.version for b in session.scalars(select(DagBundleModel))},
        "dags": {d.dag_id: {"bundle": d.bundle_name, "file": d.relative_fileloc,
                            "stale": d.is_stale}
                 for d in session.scalars(select(DagModel))},
        "import_errors": {f"{e.bundle_name}:{e.filename}": e.stacktrace
                          for e in session.scalars(select(ParseImportError))},
        "runs": {f"{r.dag_id}/{r.run_id}": {
            "bundle_version": r.bundle_version,
            "task_versions": sorted({str(ti.dag_version_id) for ti in r.task_instances})}
            for r in session.scalars(select(DagRun))},
    }


def process():
    from airflow.dag_processing.manager import DagFileProcessorManager

    DagFileProcessorManager(max_runs=1).run()
    return {}


def trigger(dag_id, run_id):
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    run = trigger_dag(dag_id, run_id=run_id, triggered_by=DagRunTriggeredByType.CLI)
    return {"run_id": run.run_id}


def worker(dag_id, run_id, session):
    import structlog
    from airflow.executors.workloads import ExecuteTask
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.api.datamodels._generated import TIRunContext
    from airflow.sdk.execution_time.comms import StartupDetails
    from airflow.sdk.execution_time.task_runner import parse
    from sqlalchemy import select

    tasks = {}
    query = select(TaskInstance).where(TaskInstance.dag_id == dag_id,
                                       TaskInstance.run_id == run_id)
    for ti in session.scalars(query):
        workload = ExecuteTask.make(ti)
        what = StartupDetails.model_construct(
            ti=workload.ti, dag_rel_path=str(workload.dag_rel_path),
            bundle_info=workload.bundle_info, start_date=None, sentry_integration="",
            ti_context=TIRunContext.model_construct(max_tries=ti.max_tries))
        started = parse(what, structlog.get_logger("bundle_probe"))
        tasks[ti.task_id] = {"bundle": workload.bundle_info.name,
                             "bundle_version": workload.bundle_info.version,
                             "file": str(workload.dag_rel_path),
                             "dag_version": str(ti.dag_version_id),
                             "image": started.task.image}
    return {"tasks": tasks}


def main():
    from airflow.utils.session import create_session

    command, *args = sys.argv[1:]
    out = args.pop()
    if command == "process":
        found = process()
    elif command == "trigger":
        found = trigger(*args)
    elif command != "worker":
        sys.exit(f"unknown command {command!r}")
    with create_session() as session:
        if command == "worker":
            found = worker(*args, session)
        found["state"] = state(session)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(found, handle, default=str, ensure_ascii=False)


if __name__ == "__main__":
    main()

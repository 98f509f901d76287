"""Run by a real Airflow's Python: load a DAG folder and describe what Airflow made of it.

    python airflow_probe.py DAG_FOLDER OUT.json

Writes import errors and, per DAG and task, the attributes the tests assert (Airflow logs to
stdout, so the result goes to a file). For every task it also renders the template fields
with the DAG's own Jinja environment and records the values after rendering, and what Jinja
would have made of each value had it been a template.
"""

import copy
import json
import sys

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag

CONTEXT = {"ds": "2026-01-02", "run_id": "manual__probe", "var": {"value": {}},
           "macros": None, "conn": None, "params": {}}


def env_of(task):
    if hasattr(task, "env_vars"):
        return [[e.name, e.value] for e in task.env_vars]
    return [list(item) for item in task.environment.items()]


def command_of(task):
    return list(task.cmds) if hasattr(task, "cmds") else list(task.command)


def rendered(task, dag):
    env = dag.get_template_env()
    task.render_template_fields(dict(CONTEXT, dag=dag, task=task), jinja_env=env)
    as_templates = {}
    for value in command_of(task) + [v for _, v in env_of(task)]:
        try:
            as_templates[value] = env.from_string(value).render(**CONTEXT) != value
        except Exception:  # a value that is not even a valid template
            as_templates[value] = True
    return {"command": command_of(task), "env": env_of(task),
            "template_fields": list(task.template_fields), "would_change": as_templates}


def describe_task(task, dag):
    info = {
        "type": type(task).__name__,
        "base": type(task).__mro__[1].__name__,
        "upstream": sorted(task.upstream_task_ids),
        "retries": task.retries,
        "retry_delay": task.retry_delay.total_seconds(),
        "timeout": task.execution_timeout.total_seconds(),
        "owner": task.owner,
        "command": command_of(task),
        "env": env_of(task),
        "image": task.image,
    }
    if hasattr(task, "env_vars"):
        info.update(
            namespace=task.namespace,
            service_account=task.service_account_name,
            secrets=[e.secret_ref.name for e in task.env_from],
            requests=task.container_resources.requests,
            limits=task.container_resources.limits,
            labels=task.labels,
            run_as_non_root=task.security_context.run_as_non_root,
            allow_privilege_escalation=
            task.container_security_context.allow_privilege_escalation,
            on_finish_action=str(getattr(task.on_finish_action, "value", task.on_finish_action)),
            reattach_on_restart=task.reattach_on_restart,
            get_logs=task.get_logs,
        )
    else:
        info.update(mem_limit=task.mem_limit, cpus=task.cpus)
    info["rendered"] = rendered(task, dag)
    return info


def _notifiers(callbacks):
    if not callbacks:
        return []
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    return [{"type": type(c).__name__, "to": c.to, "subject": c.subject,
             "template_fields": list(c.template_fields)} for c in callbacks]


def _module_of(dag):
    return sys.modules[type(dag.tasks[0]).__module__]


def _zone_name(zone):
    if zone is None:
        return None
    return getattr(zone, "name", None) or str(zone)


def describe(dag):
    timetable = dag.timetable
    return {
        # The SDK timetable (Airflow 3) says expression/timezone; the core one, _expression.
        "cron": getattr(timetable, "expression", getattr(timetable, "_expression", None)),
        "timezone": _zone_name(getattr(timetable, "timezone",
                                       getattr(timetable, "_timezone", None))),
        "schedule_none": type(timetable).__name__ == "NullTimetable",
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "paused_upon_creation": dag.is_paused_upon_creation,
        "tags": sorted(dag.tags),
        "on_failure": _notifiers(dag.on_failure_callback),
        "on_success": _notifiers(dag.on_success_callback),
        "workspace_volume": _module_of(dag)._workspace_volume("manual__2026-01-02T03:04:05+00:00"),
        "tasks": {task.task_id: describe_task(task, dag) for task in dag.tasks},
        "params": _params(dag),
    }


def _params(dag):
    """Each declared Param: its default and JSON schema, and what Airflow's own validation
    makes of a few values (the trigger form and the REST API validate the same way)."""
    found = {}
    for name in dag.params:
        param = dag.params.get_param(name)
        checks = {}
        for value in [param.value, "east", 7]:
            try:
                copy.deepcopy(param).resolve(value)  # resolve keeps the value it is given
                checks[repr(value)] = "ok"
            except Exception as exc:  # ParamValidationError
                checks[repr(value)] = type(exc).__name__
        found[name] = {"default": param.value, "schema": param.schema,
                       "description": param.description, "checks": checks}
    return found


def main():
    bag = DagBag(dag_folder=sys.argv[1])
    out = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()},
           "dags": {dag_id: describe(dag) for dag_id, dag in bag.dags.items()}}
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        json.dump(out, handle, default=str, ensure_ascii=False)


if __name__ == "__main__":
    main()

"""`pipelinectl trigger`: start one run of a deployed pipeline now (docs/how-to/trigger.md).

- cronjob engine: a Job from the live CronJob's jobTemplate (deploy/trigger.py);
- the local platform (its "cluster" is a folder): the tasks run in docker as `run` runs them,
  with the deployed image, and the run is recorded as a Job object in that folder, which
  `status` lists with the cluster's runs;
- airflow engine: a DAG run through Airflow's REST API (the platform's airflow.api), the
  params as its conf (deploy/dagtrigger.py); on a folder platform without airflow.api, in
  docker as above.

Every input is checked before anything is created: the pipeline's name, --param,
--logical-date, and that the pipeline is deployed in the environment.
"""

from __future__ import annotations

import dataclasses
import datetime
import getpass
import secrets
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelinectl import files, textsafe, wiring
from pipelinectl.deploy import dagtrigger, state
from pipelinectl.deploy import trigger as manual
from pipelinectl.deploy.ports import AirflowApi, Cluster
from pipelinectl.deploy.state import State
from pipelinectl.errors import EXIT_OK, EXIT_USER, UserError, did_you_mean
from pipelinectl.render import ownership
from pipelinectl.render.airflow import dag_id
from pipelinectl.spec import previews, runvalues
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Platform
from pipelinectl.spec.text import show
from pipelinectl.units import duration_problem, parse_duration
from pipelinectl.vocabulary import (
    ENV_PARAM_PREFIX,
    INSTANTIATE_ANNOTATION,
    RUNS_DIR,
    TRIGGER_LABEL,
    TRIGGER_MANUAL,
    TRIGGERED_BY_ANNOTATION,
)

# Who started a run: the CI user (GitLab, GitHub), else the local account.
WHO_VARIABLES = ("GITLAB_USER_LOGIN", "GITHUB_ACTOR")
WAIT_MARGIN = 300  # --wait without --timeout: the Job's own deadline and five minutes
AIRFLOW_GUIDE = "docs/how-to/airflow-api.md"


@dataclass(frozen=True)
class Args:
    pipeline: str
    param: list[str] | None = None
    logical_date: str | None = None
    environment: str | None = None
    wait: bool = False
    timeout: str | None = None
    secrets_dir: str | None = None
    repo_id: str | None = None
    platform: str | None = None
    mr: str | None = None  # a merge request: run its preview


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    loaded = wiring.load([], args.platform, args.repo_id, environ, cwd)
    named(loaded.pipelines, args.pipeline)  # an unknown name first, before any other check
    timeout = _timeout(args.timeout)
    env_name = wiring.environment(loaded.config, args.environment, environ, loaded.root)
    number = None if args.mr is None else _preview_of(loaded.config, args.mr)
    inside = loaded.in_environment(env_name)
    pipeline = named(inside.pipelines, args.pipeline)
    asked = pipeline.metadata.name
    values = runvalues.parse_params(pipeline, args.param or [])
    if number is None:
        loaded = inside
    else:  # the preview, as `preview deploy` made it from the environment it goes into
        loaded = dataclasses.replace(inside, config=loaded.config.in_previews(env_name))
        pipeline = previews.as_preview(pipeline, number)
    given = {name for name, _, _ in (item.partition("=") for item in args.param or [])}
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    logical = runvalues.parse_logical_date(args.logical_date) or now.isoformat()
    local = loaded.config.kubernetes_directory is not None
    airflow = pipeline.resolved_engine == "airflow" and (
        not local or loaded.config.airflow.api is not None)
    api = wiring.airflow_api(loaded.config, environ) if airflow else None
    if airflow and api is None:
        raise UserError(f"{pipeline.metadata.name} uses the airflow engine: trigger starts its "
                        "runs through Airflow's REST API, and the platform has no airflow.api: "
                        "nothing started",
                        hint=f"the platform team sets airflow.api (see {AIRFLOW_GUIDE}); "
                             "meanwhile trigger it in the Airflow UI, with the same params as "
                             "conf")
    cluster = wiring.cluster(loaded.config, loaded.root, environ)
    [(_, namespace, record)] = state.of_pipelines(cluster, loaded.config, [pipeline])
    if number is not None:
        if record is None or record.preview != number:
            raise UserError(f"merge request {number} has no preview of {asked} "
                            f"(no {pipeline.metadata.name} in namespace {namespace}): nothing "
                            "started",
                            hint="`pipelinectl preview deploy` makes it, on the merge request; "
                                 f"pipelinectl status --mr {number} shows what it holds")
    elif record is None or record.current.environment != env_name:
        where = "" if record is None else \
            f" (namespace {namespace} holds its {textsafe.inline(record.current.environment)} " \
            "deploy)"
        raise UserError(f"{pipeline.metadata.name} is not deployed in environment {env_name} "
                        f"(namespace {namespace}){where}: nothing started",
                        hint="deploy it there first; pipelinectl status shows what is deployed")
    env = runvalues.run_env(pipeline, values, logical)
    who = triggered_by(environ)
    if api is not None:
        conf = {name: values[name] for name in given if name in values}
        return _airflow(api, pipeline, conf, logical, who, now, args.wait, timeout)
    if local:
        return _local(loaded, pipeline, cluster, namespace, record, env, who, now, args,
                      environ)
    env = _deployed_params(cluster, pipeline, namespace, env, given)
    started = manual.start(cluster, pipeline, namespace, env, who, now)
    _say_started(pipeline, started.name, namespace, env)
    if not args.wait:
        sys.stdout.write(f"follow it: kubectl -n {namespace} logs -f job/{started.name}\n")
        return EXIT_OK
    limit = timeout if timeout is not None else \
        started.job["spec"].get("activeDeadlineSeconds", 0) + WAIT_MARGIN
    outcome = manual.wait(cluster, started, limit)
    return _said(started.name, outcome, cluster.get("Job", namespace, started.name) or {})


def _preview_of(config: Platform, option: str) -> int:
    """--mr N, checked: the platform has previews, and N is a merge request's number."""
    if config.previews is None:
        raise UserError("--mr: the platform has no previews",
                        hint="see docs/how-to/previews.md")
    return previews.number(option, {})


def named(pipelines: list[Pipeline], name: str) -> Pipeline:
    found = [p for p in pipelines if p.metadata.name == name or
             f"{p.metadata.team}/{p.metadata.name}" == name]
    if len(found) == 1:
        return found[0]
    if found:
        raise UserError(f"several teams have a pipeline {show(name)}: "
                        f"{', '.join(p.metadata.team for p in found)}",
                        hint=f"name it as TEAM/NAME, e.g. {found[0].metadata.team}/{name}")
    known = sorted(p.metadata.name for p in pipelines)
    raise UserError(f"no pipeline named {show(name)} in this repository",
                    hint=did_you_mean(name, known) or
                    (f"its pipelines: {', '.join(known)}" if known else "it has none"))


def triggered_by(environ: Mapping[str, str]) -> str:
    """Who started the run, as an annotation value may hold it (printable, bounded)."""
    who = next((environ[v] for v in WHO_VARIABLES if environ.get(v)), None)
    if who is None:
        try:
            who = getpass.getuser()
        except (OSError, KeyError):
            who = "unknown"
    clean = "".join(c for c in who if c.isprintable())
    return clean[: manual.MAX_WHO] or "unknown"


def _timeout(text: str | None) -> int | None:
    if text is None:
        return None
    problem = duration_problem(text)
    if problem:
        raise UserError(f"--timeout {show(text)}: {problem[0]}", hint=problem[1])
    return parse_duration(text)


def _deployed_params(cluster: Cluster, pipeline: Pipeline, namespace: str,
                     env: dict[str, str], given: set[str]) -> dict[str, str]:
    """The run's values that the deployed CronJob knows: a param given on the command line
    that the deploy does not have yet is refused (its tasks would not expect it)."""
    cron = cluster.get("CronJob", namespace, pipeline.metadata.name) or {}
    pod = ((cron.get("spec") or {}).get("jobTemplate") or {}).get("spec", {}).get(
        "template", {}).get("spec", {})
    known = {item.get("name") for c in (pod.get("containers") or []) for item in
             (c.get("env") or [])}
    missing = sorted(p.name for p in pipeline.params if p.name in given and
                     p.env_name not in known)
    if missing and cron:
        raise UserError(f"--param {', '.join(missing)}: the deployed {pipeline.metadata.name} "
                        "has no such param yet: nothing started",
                        hint="deploy the pipeline.yaml that declares it first")
    return {key: value for key, value in env.items()
            if key in known or not key.startswith(ENV_PARAM_PREFIX)}


def _say_started(pipeline: Pipeline, name: str, namespace: str, env: Mapping[str, str]) -> None:
    shown = ", ".join(f"{key}={textsafe.inline(value)}" for key, value in env.items())
    sys.stdout.write(f"started {pipeline.metadata.name}: Job {name} in namespace {namespace}"
                     f" ({shown})\n")


def _said(name: str, outcome: str, job: Mapping[str, Any]) -> int:
    if outcome == "succeeded":
        sys.stdout.write(f"Job {name} succeeded\n")
        return EXIT_OK
    reason = manual.failure_reason(job) if outcome == "failed" else ""
    sys.stdout.write(f"Job {name} {outcome}" +
                     (f": {textsafe.inline(reason)}" if reason else "") + "\n")
    return EXIT_USER


# -- the airflow engine: a DAG run through Airflow's REST API ----------------------------------

def _airflow(api: AirflowApi, pipeline: Pipeline, conf: dict[str, str], logical: str,
             who: str, now: datetime.datetime, wait: bool, timeout: int | None) -> int:
    dag = dag_id(pipeline)
    moment = datetime.datetime.fromisoformat(logical)
    started = dagtrigger.start(api, dag, pipeline.metadata.name, conf, moment, now,
                               secrets.token_hex(2), who, wait)
    shown = ", ".join(f"{key}={textsafe.inline(value)}" for key, value in conf.items())
    sys.stdout.write(f"started {pipeline.metadata.name}: DAG run "
                     f"{textsafe.inline(started.run_id)} of DAG {dag} in Airflow at "
                     f"{api.location} (logical date {logical}, conf {{{shown}}})\n"
                     f"note: {textsafe.inline(dagtrigger.note(who))}\n")
    if started.paused:
        sys.stdout.write(dagtrigger.queued_while_paused(dag, pipeline.preview is not None) +
                         "\n")
    if not wait:
        sys.stdout.write(f"follow it: {api.location}/dags/{urllib.parse.quote(dag)}/runs/"
                         f"{urllib.parse.quote(started.run_id, safe='')}\n")
        return EXIT_OK
    limit = timeout if timeout is not None else WAIT_MARGIN + sum(
        parse_duration(task.timeout) for task in pipeline.ordered_tasks())
    outcome = dagtrigger.wait(api, dag, started.run_id, limit)
    said = {"success": "succeeded", "failed": "failed"}.get(outcome.state, outcome.state)
    why = f": {textsafe.inline(outcome.failure.describe())}" if outcome.failure else ""
    sys.stdout.write(f"DAG run {textsafe.inline(started.run_id)} {said}{why}\n")
    return EXIT_OK if outcome.state == "success" else EXIT_USER


# -- the local platform: docker, recorded in the platform's folder ------------------------------

def _local(loaded: wiring.Loaded, pipeline: Pipeline, cluster: Cluster, namespace: str,
           record: State, env: dict[str, str], who: str, now: datetime.datetime,
           args: Args, environ: Mapping[str, str]) -> int:
    from pipelinectl.local import inputs, runner

    if record.current.spec_digest != ownership.spec_digest(pipeline):
        raise UserError(f"{pipeline.metadata.name}: the checkout's pipeline.yaml is not the "
                        f"deployed one (environment {record.current.environment}): nothing "
                        "started", hint="deploy it first, or try the checkout with "
                                        "pipelinectl run")
    tasks = pipeline.ordered_tasks()
    found = inputs.read_secrets(Path(args.secrets_dir) if args.secrets_dir else None,
                                {s for t in tasks for s in t.secrets})
    name = manual.job_name(pipeline.metadata.name, now, secrets.token_hex(2))
    revision = wiring.revisions(loaded.root, [pipeline])[pipeline.file]
    environments = inputs.environments(pipeline, tasks, found, {}, name, revision, env)
    docker = wiring.docker_client(environ)
    image = record.current.image
    _have_image(docker, image)
    workspace = files.real_dir(loaded.root, f"{RUNS_DIR}/{pipeline.metadata.name}/{name}",
                               mode=0o777)
    job = _record(cluster, pipeline, namespace, name, env, who, now, image)
    _say_started(pipeline, name, namespace, env)
    settings = runner.RunSettings(image, workspace, environments, 2, wiring.progress)
    results: list[runner.Result] = []
    try:
        results = runner.run(docker, pipeline, tasks, settings)
    finally:
        _finish(cluster, job, results)
    sys.stdout.write(runner.summary(results))
    sys.stdout.write(f"workspace: {workspace}\n")
    return EXIT_OK if all(r.status == runner.SUCCEEDED for r in results) else EXIT_USER


def _have_image(docker: Any, image: str) -> None:
    import docker as docker_sdk
    import requests

    try:
        docker.images.get(image)
        return
    except docker_sdk.errors.ImageNotFound:
        pass
    except requests.RequestException as exc:
        raise UserError(f"cannot reach the Docker daemon: {exc}",
                        hint="start it, or set DOCKER_HOST") from None
    try:
        docker.api.pull(image)
    except (docker_sdk.errors.APIError, requests.RequestException) as exc:
        raise UserError(f"cannot pull the deployed image {textsafe.inline(image)}: "
                        f"{textsafe.inline(str(exc))}",
                        hint="is the platform's registry running?") from None


def _record(cluster: Cluster, pipeline: Pipeline, namespace: str, name: str,
            env: Mapping[str, str], who: str, now: datetime.datetime,
            image: str, marks: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The run as a Job object in the platform's folder, before any container starts;
    `marks`: its trigger labels (default: a manual run)."""
    labels = {**ownership.labels_of(pipeline), **(marks or {TRIGGER_LABEL: TRIGGER_MANUAL})}
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "annotations": {INSTANTIATE_ANNOTATION: "manual",
                                     TRIGGERED_BY_ANNOTATION: who}},
        "spec": {"template": {"metadata": {"labels": labels}, "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": task.name, "image": image,
                            "env": [{"name": k, "value": v} for k, v in env.items()]}
                           for task in pipeline.ordered_tasks()]}}},
        "status": {"startTime": _stamp(now), "active": 1},
    }
    created = cluster.create(job)
    if created is None:
        raise UserError(f"a run named {name} is already recorded", hint="trigger again")
    return created


def _finish(cluster: Cluster, job: dict[str, Any], results: list[Any]) -> None:
    """The run's outcome on its record: Complete, or Failed with the first task that did not
    succeed (no results: the run was interrupted)."""
    now = _stamp(datetime.datetime.now(datetime.UTC))
    failed = next((r for r in results if r.status != "succeeded"), None)
    ok = bool(results) and failed is None
    condition = {"type": "Complete" if ok else "Failed", "status": "True",
                 "lastTransitionTime": now}
    if failed is not None:
        code = f" (exit code {failed.exit_code})" if failed.exit_code else ""
        condition["reason"] = f"task {failed.task} {failed.status}{code}"
    elif not ok:
        condition["reason"] = "interrupted"
    job["status"] = {"startTime": job["status"]["startTime"], "completionTime": now,
                     "conditions": [condition], ("succeeded" if ok else "failed"): 1}
    if cluster.replace(job) is None:
        wiring.progress(f"warning: the record of run {job['metadata']['name']} changed "
                        "meanwhile: its outcome was not written")


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

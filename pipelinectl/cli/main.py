"""Command-line entry point: argument parsing and dispatch only.

This is the one place that turns errors into exit codes: 0 ok, 1 user error or failed check,
2 usage, 3 internal error. Each command is a module of pipelinectl.commands with a frozen
`Args` dataclass (its typed arguments) and `run(args, environ, cwd) -> int`, imported only
when it runs: `pipelinectl --help` loads no validation code.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import os
import secrets
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipelinectl import __version__
from pipelinectl.cli import options
from pipelinectl.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, PipelinectlError

ISSUE_TRACKER = "the pipelinectl issue tracker"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipelinectl",
        description="Validate, build and deploy R and Python data pipelines from git.",
        epilog="Documentation: docs/ in the pipelinectl repository (mkdocs serve); start with "
               "docs/tutorials/first-r-pipeline.md; every option in "
               "docs/reference/commands.md.")
    parser.add_argument("--version", action="version", version=f"pipelinectl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_validate, _schema, _init, _build, _render, _deploy, _preview, _plan, _run,
                _trigger, _platform, _status, _history, _gc):
        add(sub)
    return parser


Subparsers = Any  # argparse's _SubParsersAction is private


def _validate(sub: Subparsers) -> None:
    command = sub.add_parser(
        "validate", help="check pipeline.yaml files (all of the repo when no PATH is given)",
        description="Check pipeline.yaml files against the schema, the rules of the spec and "
                    "the platform policy. Reports every problem as FILE:LINE:COL.")
    options.paths(command)
    options.report_format(command)
    options.output_file(command, "also write the report in --format to FILE (stdout gets "
                                 "text)")
    options.jobs(command, "check files in N processes (default: the CPU count, at most 8; "
                          "used from 300 files up)")
    options.repo_id(command)
    options.platform(command)


def _schema(sub: Subparsers) -> None:
    command = sub.add_parser("schema", help="print the JSON Schema of pipeline.yaml or the "
                                            "platform config")
    command.add_argument("which", nargs="?", choices=("pipeline", "platform"),
                         default="pipeline", help="which schema (default: pipeline)")


def _init(sub: Subparsers) -> None:
    command = sub.add_parser("init", help="scaffold a new pipeline that validates clean")
    command.add_argument("directory", nargs="?", default=".", metavar="DIR",
                         help="folder for the pipeline (default: the current folder)")
    command.add_argument("--language", required=True, choices=("r", "python"),
                         help="language of the scripts")
    command.add_argument("--name", help="pipeline name (default: from the folder name)")
    command.add_argument("--team", help="owning team (default: the platform's only team)")
    command.add_argument("--schema-url", metavar="URL",
                         help="schema location for the editor modeline (default: a copy "
                              "written to .pipelinectl/pipeline.schema.json at the repo root)")
    options.platform(command)


def _build(sub: Subparsers) -> None:
    command = sub.add_parser(
        "build", help="build and push the images of pipelines whose inputs changed",
        description="Build each pipeline's image from base-images/ (or its Dockerfile) with "
                    "BuildKit, tagged by the content digest of its inputs and by the git "
                    "commit, and push it. An image whose content tag is already in the "
                    "registry is not built again; each build says which inputs changed.")
    options.paths(command)
    command.add_argument("--push", action=argparse.BooleanOptionalAction, default=True,
                         help="push to the platform's registry, which also decides what to "
                              "build (default); --no-push builds into the local Docker daemon "
                              "only, deciding by its images, and never contacts the registry")
    options.repo_id(command)
    options.platform(command)


def _render(sub: Subparsers) -> None:
    command = sub.add_parser(
        "render", help="write the CronJob manifests and Airflow DAG files of pipelines",
        description="Render each pipeline to a Kubernetes CronJob manifest (cronjob engine) "
                    "or an Airflow DAG file (airflow engine), into a stable layout: "
                    "kubernetes/<namespace>/<pipeline>.yaml and "
                    "airflow/<team>/<team>__<pipeline>.py. Images are referenced by the "
                    "digest `build` pushed for the pipeline's current inputs.")
    options.paths(command, "the repo; then files of pipelines that no longer exist are "
                           "removed")
    options.render_output(command)
    command.add_argument("--image-placeholder", action="store_true",
                         help="reference images by a zero digest (sha256:000...) instead of "
                              "asking the registry: for a look at the output before a build; "
                              "such files cannot run")
    options.environment(command, options.ENVIRONMENT_DEFAULT)
    options.repo_id(command)
    options.platform(command)


def _deploy(sub: Subparsers) -> None:
    command = sub.add_parser(
        "deploy", help="build, render and apply pipelines to their team's namespace",
        description="What CI runs on the deploying branch: validate, build or reuse each "
                    "image, render, check everything before the first write (namespace, "
                    "Secrets, permissions, names, the commit descends from the deployed one), "
                    "apply with server-side apply, prune what the pipeline no longer "
                    "declares, and record the deploy in a state object per pipeline.")
    options.paths(command, "the repo; then pipelines this repository deployed and no longer "
                           "has are removed")
    command.add_argument("--force", action="store_true",
                         help="deploy even if the commit does not descend from the deployed "
                              "one (recorded in the history)")
    options.repo_id(command)
    options.platform(command)


def _preview(sub: Subparsers) -> None:
    preview = sub.add_parser(
        "preview", help="a throw-away deployment per merge request: deploy, delete, prune",
        description="Merge-request previews (the platform's `previews`): the merge "
                    "request's commit deployed to each team's preview namespace, as the "
                    "environment it goes into runs it, names suffixed -mr<N>, schedules "
                    "suspended. Nothing else is ever touched.")
    actions = preview.add_subparsers(dest="action", metavar="ACTION", required=True)
    texts = {
        "deploy": "build and deploy the merge request's commit as its preview",
        "delete": "remove one preview: objects, DAG files, state",
        "prune": "remove this repository's previews deployed longer ago than "
                 "previews.expire_after"}
    for name, text in texts.items():
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] +
                                    ".")
        options.paths(action)
        if name != "prune":
            options.merge_request(action, "the merge request (default: "
                                          "CI_MERGE_REQUEST_IID, or the pull request of "
                                          "GITHUB_REF)")
        options.repo_id(action)
        options.platform(action)


def _plan(sub: Subparsers) -> None:
    command = sub.add_parser(
        "plan", help="what a deploy would change, in words, then as a diff",
        description="Show what `deploy` would change: in words first (schedule, tasks, "
                    "image rebuilds and why, objects created or deleted), then the diff of "
                    "the rendered objects. Against --against DIR (the `render` output of the "
                    "target branch; no cluster needed), else against what is deployed "
                    "(KUBECONFIG). Builds, pushes and writes nothing.")
    options.paths(command)
    command.add_argument("--against", metavar="DIR",
                         help="compare with this `pipelinectl render` output instead of the "
                              "cluster")
    options.plan_format(command)
    options.output_file(command, "also write the plan to FILE")
    options.environment(command, options.ENVIRONMENT_DEFAULT)
    options.repo_id(command)
    options.platform(command)


def _run(sub: Subparsers) -> None:
    command = sub.add_parser(
        "run", help="run a pipeline's tasks locally in docker, as in production",
        description="Build (or reuse) the pipeline's image with the local Docker daemon and "
                    "run its tasks in dependency order as containers: same image, command, "
                    "env and Secrets, the spec's memory and CPU as limits, its timeouts, and "
                    "a shared /workspace kept at .pipelinectl/runs/<pipeline>/workspace. "
                    "Exit 1 if a task fails.")
    command.add_argument("path", nargs="?", metavar="PATH",
                         help="the pipeline.yaml or its folder (default: the current folder)")
    command.add_argument("--task", action="append", metavar="T",
                         help="run only this task (repeatable); upstream outputs are taken "
                              "from the workspace of an earlier run")
    command.add_argument("--env-file", metavar="F",
                         help="extra KEY=VALUE environment for every task")
    options.run_values(command)
    command.add_argument("--secrets-dir", metavar="D",
                         help="Secrets the tasks name: D/<secret>/<KEY> files (values are "
                              "never printed)")
    command.add_argument("--include-untracked", action="store_true",
                         help="also put files git does not track yet (but does not ignore) "
                              "in the image; deploy never does, and ignored files such as "
                              ".env never enter an image")
    options.environment(command, "none: the pipeline as written, without an overlay")
    options.jobs(command, "independent tasks run at once (default 2)", default=2)
    options.platform(command)


def _trigger(sub: Subparsers) -> None:
    command = sub.add_parser(
        "trigger", help="start one run of a deployed pipeline now, with params",
        description="Start one run of a pipeline deployed in an environment now. cronjob "
                    "engine: a Job made from the live CronJob (as kubectl create job "
                    "--from=cronjob does), labelled pipelinectl.io/trigger=manual and "
                    "annotated with who started it; the local platform: the tasks run in "
                    "docker with the deployed image, recorded for status. Every task gets "
                    "the run's params and PIPELINECTL_LOGICAL_DATE (default: now). airflow "
                    "engine: a DAG run through Airflow's REST API (the platform's "
                    "airflow.api), the params as its conf. With --mr N, the preview of "
                    "merge request N instead. Nothing is started on a bad input.")
    command.add_argument("pipeline", metavar="PIPELINE",
                         help="the pipeline's name (metadata.name; TEAM/NAME when several "
                              "teams use it)")
    options.run_values(command)
    options.environment(command, options.ENVIRONMENT_DEFAULT)
    options.merge_request(command, "run the preview of merge request N (its <name>-mr<N> "
                                   "CronJob, or DAG <team>__<name>__mr<N>) instead")
    command.add_argument("--wait", action="store_true",
                         help="follow the run to its end: exit 0 if it succeeded, 1 if not "
                              "(the local platform always waits)")
    command.add_argument("--timeout", metavar="DURATION",
                         help="with --wait: give up after this long, exit 1 (default: the "
                              "Job's deadline and 5m)")
    command.add_argument("--secrets-dir", metavar="D",
                         help="the local platform: Secrets the tasks name, as for run")
    options.repo_id(command)
    options.platform(command)


def _platform(sub: Subparsers) -> None:
    admin = sub.add_parser("platform", help="for the platform team: per-team cluster set-up, "
                                            "Airflow chart values",
                           description="Commands for the platform team.")
    actions = admin.add_subparsers(dest="action", metavar="ACTION", required=True)
    manifests = actions.add_parser(
        "manifests", help="Namespace, service accounts, deployer Role, quota and limits of "
                          "a team",
        description="Print (or write to DIR/<team>.yaml) what a platform admin applies once "
                    "per team: the Namespace, the task pods' ServiceAccount (no API rights), "
                    "a deployer ServiceAccount with a Role limited to what deploy, plan, "
                    "status and history do, a LimitRange and a ResourceQuota.")
    manifests.add_argument("--team", action="append", metavar="T",
                           help="only this team (repeatable; default: every team)")
    options.output_dir(manifests, "write DIR/<team>.yaml (and DIR/_airflow.yaml) instead of "
                                  "printing")
    options.airflow_namespace(manifests)
    options.worker_service_account(manifests)
    options.platform(manifests)
    values = actions.add_parser(
        "airflow-values", help="values for the Apache Airflow Helm chart",
        description="Print (or write to FILE) values for the official Apache Airflow Helm "
                    "chart: how DAG files reach Airflow (git-sync or a ConfigMap sidecar), "
                    "the workers' ServiceAccount that `platform manifests` grants rights "
                    "to, and the in-cluster Kubernetes connection.")
    options.output_file(values, "write FILE (replaced atomically) instead of printing")
    options.worker_service_account(values)
    values.add_argument("--no-git-sync", dest="git_sync", action="store_false",
                        help="airflow.dags.git: leave dags.gitSync out, for an Airflow 3 chart "
                             "that reads the DAG bundles only (they are always in the values)")
    values.add_argument("--git-conn-id", metavar="ID", default="git_default",
                        help="airflow.dags.git: the Airflow git connection the DAG bundles "
                             "fetch with, holding any credentials (default git_default)")
    values.add_argument("--environment", metavar="ENV",
                        help="the values of this environment's DAG delivery (its "
                             "airflow.dags), for the Airflow that serves it (default: the "
                             "platform's airflow.dags)")
    options.platform(values)


def _status(sub: Subparsers) -> None:
    text = ("what is deployed, the next run, pause drift and the last runs of each "
            "pipeline")
    command = _reader(sub, "status", text)
    command.add_argument("--check", action="store_true",
                         help="exit 1 when a pipeline's latest finished run failed or a "
                              "scheduled run is overdue (for a scheduled CI job or a "
                              "monitor); says why per pipeline")
    command.add_argument("--format", choices=("text", "json"), default="text",
                         help="text (default) or json: one document for machines "
                              "(docs/reference/commands.md#pipelinectl-status)")


def _history(sub: Subparsers) -> None:
    _reader(sub, "history", "the last deploys of each pipeline, newest first")


def _reader(sub: Subparsers, name: str, text: str) -> Any:
    command = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] +
                             ", read from its state object in the cluster.")
    options.paths(command)
    options.environment(command, options.ENVIRONMENT_DEFAULT)
    options.merge_request(command, "the preview of merge request N (in the environment it "
                                   "goes into) instead")
    options.repo_id(command)
    options.platform(command)
    return command


def _gc(sub: Subparsers) -> None:
    command = sub.add_parser(
        "gc", help="delete the registry's images that no deploy can still need (dry run "
                   "unless --apply)",
        description="Decide, per image of every team's pipeline repositories, keep or "
                    "delete, and why: kept is every image a live object, a delivered DAG or "
                    "a deploy history of any environment or preview names, every image made "
                    "within retention.keep_days (and the last hour), and each pipeline's "
                    "newest image not deployed yet. Deletes by digest with --apply; an "
                    "environment it cannot read makes it delete nothing.")
    command.add_argument("--apply", action="store_true",
                         help="delete (default: only print what would be deleted)")
    command.add_argument("--environment", action="append", metavar="ENV=KUBECONFIG",
                         help="read environment ENV's cluster with this kubeconfig "
                              "(repeatable; default: $KUBECONFIG for every environment)")
    options.platform(command)


def _dispatch(namespace: argparse.Namespace) -> int:
    # Imported on demand: `validate` must not pay for the docker and git clients.
    module = importlib.import_module(f"pipelinectl.commands.{namespace.command}")
    fields = dataclasses.fields(module.Args)
    args = module.Args(**{f.name: getattr(namespace, f.name) for f in fields
                          if hasattr(namespace, f.name)})
    with _workflow_commands_off(namespace):
        code: int = module.run(args, os.environ, Path.cwd())
    return code


@contextlib.contextmanager
def _workflow_commands_off(namespace: argparse.Namespace) -> Iterator[None]:
    """In a GitHub Actions job, GitHub runs `::command::` lines of the log: everything a
    command prints (spec values among it) is wrapped in ::stop-commands:: with a token no
    input can know, unless the output is meant to be annotations (validate --format github)."""
    if os.environ.get("GITHUB_ACTIONS") != "true" or \
            getattr(namespace, "format", None) == "github":
        yield
        return
    token = secrets.token_hex(16)
    sys.stdout.write(f"::stop-commands::{token}\n")
    sys.stdout.flush()
    try:
        yield
    finally:
        sys.stdout.write(f"::{token}::\n")
        sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also one that lands while an error is being printed
        with contextlib.suppress(KeyboardInterrupt, OSError):
            sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        namespace = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _dispatch(namespace)
    except PipelinectlError as exc:
        sys.stderr.write(exc.render() + "\n")
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the one place that catches everything
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    if os.environ.get("PIPELINECTL_DEBUG"):
        traceback.print_exc()
    sys.stderr.write(
        f"internal error: {type(exc).__name__}: {exc}\n"
        f"  this is a bug in pipelinectl {__version__}; please report it to {ISSUE_TRACKER} "
        "with the command you ran (set PIPELINECTL_DEBUG=1 for a traceback; "
        "docs/reference/exit-codes.md)\n")
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

"""Command-line entry point: argument parsing and dispatch only.

This is the one place that turns errors into exit codes: 0 ok, 1 user error or failed check,
2 usage, 3 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pipelinectl import __version__
from pipelinectl.errors import EXIT_INTERNAL, EXIT_USAGE, PipelinectlError
from pipelinectl.spec import output

Command = Callable[[argparse.Namespace, Mapping[str, str], Path], int]
ISSUES_URL = "the pipelinectl issue tracker"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _dns_label(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a DNS-1123 label (a namespace name)")
    return text


def _service_account(text: str) -> str:
    label = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    if len(text) > 253 or not re.fullmatch(rf"{label}(\.{label})*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid ServiceAccount name")
    return text


def _worker_account_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--worker-service-account", metavar="NAME", type=_service_account,
                        default="airflow-worker",
                        help="ServiceAccount of the Airflow workers (default airflow-worker)")


def _platform_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform", metavar="FILE",
        help="platform config file; default $PIPELINECTL_PLATFORM, else the built-in local "
             "platform (also: --platform local)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipelinectl",
        description="Validate, build and deploy R and Python data pipelines from git.")
    parser.add_argument("--version", action="version", version=f"pipelinectl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    validate = sub.add_parser(
        "validate", help="check pipeline.yaml files (all of the repo when no PATH is given)",
        description="Check pipeline.yaml files against the schema, the rules of the spec and "
                    "the platform policy. Reports every problem as FILE:LINE:COL.")
    validate.add_argument("paths", nargs="*", metavar="PATH",
                          help="pipeline.yaml files or folders to search (default: the repo)")
    validate.add_argument("--format", choices=output.FORMATS, default="text",
                          help="text (default), json, github (workflow annotations) or gitlab "
                               "(Code Quality report)")
    validate.add_argument("--output", "-o", metavar="FILE",
                          help="also write the report in --format to FILE (stdout gets text)")
    validate.add_argument("--jobs", "-j", type=_positive_int, metavar="N",
                          help="check files in N processes (default: the CPU count, at most "
                               "8; used from 300 files up)")
    validate.add_argument("--repo-id", metavar="PROJECT",
                          help="CI project path checked against the team's repos; default "
                               "$CI_PROJECT_PATH or $GITHUB_REPOSITORY")
    _platform_option(validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of pipeline.yaml or the "
                                           "platform config")
    schema.add_argument("which", nargs="?", choices=("pipeline", "platform"),
                        default="pipeline", help="which schema (default: pipeline)")

    init = sub.add_parser("init", help="scaffold a new pipeline that validates clean")
    init.add_argument("directory", nargs="?", default=".", metavar="DIR",
                      help="folder for the pipeline (default: the current folder)")
    init.add_argument("--language", required=True, choices=("r", "python"),
                      help="language of the scripts")
    init.add_argument("--name", help="pipeline name (default: from the folder name)")
    init.add_argument("--team", help="owning team (default: the platform's only team)")
    init.add_argument("--schema-url", metavar="URL",
                      help="schema location for the editor modeline (default: a copy written "
                           "to .pipelinectl/pipeline.schema.json at the repo root)")
    _platform_option(init)

    build = sub.add_parser(
        "build", help="build and push the images of pipelines whose inputs changed",
        description="Build each pipeline's image from base-images/ (or its Dockerfile) with "
                    "BuildKit, tagged by the content digest of its inputs and by the git "
                    "commit, and push it. An image whose content tag is already in the "
                    "registry is not built again; each build says which inputs changed.")
    build.add_argument("paths", nargs="*", metavar="PATH",
                       help="pipeline.yaml files or folders to search (default: the repo)")
    build.add_argument("--push", action=argparse.BooleanOptionalAction, default=True,
                       help="push to the platform's registry, which also decides what to "
                            "build (default); --no-push builds into the local Docker daemon "
                            "only, deciding by its images, and never contacts the registry")
    build.add_argument("--repo-id", metavar="PROJECT",
                       help="CI project path checked against the team's repos; default "
                            "$CI_PROJECT_PATH or $GITHUB_REPOSITORY")
    _platform_option(build)

    render = sub.add_parser(
        "render", help="write the CronJob manifests and Airflow DAG files of pipelines",
        description="Render each pipeline to a Kubernetes CronJob manifest (cronjob engine) "
                    "or an Airflow DAG file (airflow engine), into a stable layout: "
                    "kubernetes/<namespace>/<pipeline>.yaml and "
                    "airflow/<team>/<team>__<pipeline>.py. Images are referenced by the "
                    "digest `build` pushed for the pipeline's current inputs.")
    render.add_argument("paths", nargs="*", metavar="PATH",
                        help="pipeline.yaml files or folders to search (default: the repo; "
                             "then files of pipelines that no longer exist are removed)")
    render.add_argument("--output", "-o", metavar="DIR",
                        help=f"output folder (default: {'.pipelinectl/render'} at the "
                             "repository root)")
    render.add_argument("--image-placeholder", action="store_true",
                        help="reference images by a zero digest (sha256:000...) instead of "
                             "asking the registry: for a look at the output before a build; "
                             "such files cannot run")
    render.add_argument("--repo-id", metavar="PROJECT",
                        help="CI project path checked against the team's repos; default "
                             "$CI_PROJECT_PATH or $GITHUB_REPOSITORY")
    _platform_option(render)

    deploy = sub.add_parser(
        "deploy", help="build, render and apply pipelines to their team's namespace",
        description="What CI runs on the deploying branch: validate, build or reuse each "
                    "image, render, check everything before the first write (namespace, "
                    "Secrets, permissions, names, the commit descends from the deployed one), "
                    "apply with server-side apply, prune what the pipeline no longer "
                    "declares, and record the deploy in a state object per pipeline.")
    deploy.add_argument("paths", nargs="*", metavar="PATH",
                        help="pipeline.yaml files or folders (default: the repo; then "
                             "pipelines this repository deployed and no longer has are "
                             "removed)")
    deploy.add_argument("--force", action="store_true",
                        help="deploy even if the commit does not descend from the deployed "
                             "one (recorded in the history)")
    deploy.add_argument("--repo-id", metavar="PROJECT",
                        help="CI project path checked against the team's repos; default "
                             "$CI_PROJECT_PATH or $GITHUB_REPOSITORY")
    _platform_option(deploy)

    plan = sub.add_parser(
        "plan", help="what a deploy would change, in words, then as a diff",
        description="Show what `deploy` would change: in words first (schedule, tasks, "
                    "image rebuilds and why, objects created or deleted), then the diff of "
                    "the rendered objects. Against --against DIR (the `render` output of the "
                    "target branch; no cluster needed), else against what is deployed "
                    "(KUBECONFIG). Builds, pushes and writes nothing.")
    plan.add_argument("paths", nargs="*", metavar="PATH",
                      help="pipeline.yaml files or folders (default: the repo)")
    plan.add_argument("--against", metavar="DIR",
                      help="compare with this `pipelinectl render` output instead of the "
                           "cluster")
    plan.add_argument("--format", choices=("text", "markdown"), default="text",
                      help="text (default) or markdown (merge-request notes, job summaries)")
    plan.add_argument("--output", "-o", metavar="FILE",
                      help="also write the plan to FILE")
    plan.add_argument("--repo-id", metavar="PROJECT",
                      help="CI project path checked against the team's repos")
    _platform_option(plan)

    run = sub.add_parser(
        "run", help="run a pipeline's tasks locally in docker, as in production",
        description="Build (or reuse) the pipeline's image with the local Docker daemon and "
                    "run its tasks in dependency order as containers: same image, command, "
                    "env and Secrets, the spec's memory and CPU as limits, its timeouts, and "
                    "a shared /workspace kept at .pipelinectl/runs/<pipeline>/workspace. "
                    "Exit 1 if a task fails.")
    run.add_argument("path", nargs="?", metavar="PATH",
                     help="the pipeline.yaml or its folder (default: the current folder)")
    run.add_argument("--task", action="append", metavar="T",
                     help="run only this task (repeatable); upstream outputs are taken from "
                          "the workspace of an earlier run")
    run.add_argument("--env-file", metavar="F", help="extra KEY=VALUE environment for every "
                                                     "task")
    run.add_argument("--secrets-dir", metavar="D",
                     help="Secrets the tasks name: D/<secret>/<KEY> files (values are never "
                          "printed)")
    run.add_argument("--jobs", "-j", type=_positive_int, default=2, metavar="N",
                     help="independent tasks run at once (default 2)")
    _platform_option(run)

    admin = sub.add_parser("platform", help="for the platform team: per-team cluster set-up, "
                                "Airflow chart values",
                           description="Commands for the platform team.")
    admin_sub = admin.add_subparsers(dest="action", metavar="ACTION", required=True)
    team_manifests = admin_sub.add_parser(
        "manifests", help="Namespace, service accounts, deployer Role, quota and limits of "
                          "a team",
        description="Print (or write to DIR/<team>.yaml) what a platform admin applies once "
                    "per team: the Namespace, the task pods' ServiceAccount (no API rights), "
                    "a deployer ServiceAccount with a Role limited to what deploy, plan, "
                    "status and history do, a LimitRange and a ResourceQuota.")
    team_manifests.add_argument("--team", action="append", metavar="T",
                                help="only this team (repeatable; default: every team)")
    team_manifests.add_argument("--output", "-o", metavar="DIR",
                                help="write DIR/<team>.yaml (and DIR/_airflow.yaml) instead "
                                     "of printing")
    team_manifests.add_argument("--airflow-namespace", metavar="NS", type=_dns_label,
                                help="namespace Airflow runs in (default: the "
                                     "airflow.dags.configmap namespace, else airflow)")
    _worker_account_option(team_manifests)
    _platform_option(team_manifests)
    values = admin_sub.add_parser(
        "airflow-values", help="values for the Apache Airflow Helm chart",
        description="Print (or write to FILE) values for the official Apache Airflow Helm "
                    "chart: how DAG files reach Airflow (git-sync or a ConfigMap sidecar), "
                    "the workers' ServiceAccount that `platform manifests` grants rights "
                    "to, and the in-cluster Kubernetes connection.")
    values.add_argument("--output", "-o", metavar="FILE",
                        help="write FILE (replaced atomically) instead of printing")
    _worker_account_option(values)
    _platform_option(values)

    for name, text in (("status", "what is deployed, the next run and the last runs of each "
                                  "pipeline"),
                       ("history", "the last deploys of each pipeline, newest first")):
        command = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] +
                                 ", read from its state object in the cluster.")
        command.add_argument("paths", nargs="*", metavar="PATH",
                             help="pipeline.yaml files or folders (default: the repo)")
        command.add_argument("--repo-id", metavar="PROJECT",
                             help="CI project path checked against the team's repos")
        _platform_option(command)
    return parser


def _command(name: str) -> Command:
    # Imported on demand: `validate` must not pay for the docker and git clients.
    module = importlib.import_module(f"pipelinectl.commands.{name}")
    run: Command = module.run
    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _command(args.command)(args, os.environ, Path.cwd())
    except PipelinectlError as exc:
        sys.stderr.write(exc.render() + "\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the one place that catches everything
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    if os.environ.get("PIPELINECTL_DEBUG"):
        traceback.print_exc()
    sys.stderr.write(
        f"internal error: {type(exc).__name__}: {exc}\n"
        f"  this is a bug in pipelinectl {__version__}; please report it to {ISSUES_URL} "
        "with the command you ran (set PIPELINECTL_DEBUG=1 for a traceback)\n")
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

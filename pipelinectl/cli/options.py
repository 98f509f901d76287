"""Every command-line option, defined once (as pip does in cli/cmdoptions.py): a command's
parser is built from these, so an option means and says the same everywhere."""

from __future__ import annotations

import argparse
import re

from pipelinectl.vocabulary import RENDER_DIR, REPORT_FORMATS

PLAN_FORMATS = ("text", "markdown")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def dns_label(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a DNS-1123 label (a namespace name)")
    return text


def service_account(text: str) -> str:
    label = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    if len(text) > 253 or not re.fullmatch(rf"{label}(\.{label})*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid ServiceAccount name")
    return text


def paths(parser: argparse.ArgumentParser, default: str = "the repo") -> None:
    """PATH...: what the command acts on; `default` says what no PATH means."""
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help=f"pipeline.yaml files or folders to search (default: {default})")


def repo_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo-id", metavar="PROJECT",
                        help="CI project path checked against the team's repos; default "
                             "$CI_PROJECT_PATH or $GITHUB_REPOSITORY")


def environment(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--environment", metavar="ENV",
                        help=f"the platform environment to show (default: {default})")


ENVIRONMENT_DEFAULT = ("the environment of the branch a merge request goes into, else of "
                       "the current branch, else the first")


def merge_request(parser: argparse.ArgumentParser, help_text: str) -> None:
    """--mr N: a merge request's preview (preview, status, history, trigger)."""
    parser.add_argument("--mr", metavar="N", help=help_text)


def platform(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform", metavar="FILE",
        help="platform config file; default $PIPELINECTL_PLATFORM, else the built-in local "
             "platform (also: --platform local)")


def report_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=REPORT_FORMATS, default="text",
                        help="text (default), json, github (workflow annotations) or gitlab "
                             "(Code Quality report)")


def plan_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=PLAN_FORMATS, default="text",
                        help="text (default) or markdown (merge-request notes, job summaries)")


def output_file(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--output", "-o", metavar="FILE", help=help_text)


def output_dir(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--output", "-o", metavar="DIR", help=help_text)


def jobs(parser: argparse.ArgumentParser, help_text: str, default: int | None = None) -> None:
    parser.add_argument("--jobs", "-j", type=positive_int, default=default, metavar="N",
                        help=help_text)


def render_output(parser: argparse.ArgumentParser) -> None:
    output_dir(parser, f"output folder (default: {RENDER_DIR} at the repository root)")


def worker_service_account(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--worker-service-account", metavar="NAME", type=service_account,
                        default="airflow-worker",
                        help="ServiceAccount of the Airflow workers (default airflow-worker)")


def airflow_namespace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--airflow-namespace", metavar="NS", type=dns_label,
                        help="namespace Airflow runs in (default: the "
                             "airflow.dags.configmap namespace, else airflow)")


def run_values(parser: argparse.ArgumentParser) -> None:
    """--param and --logical-date: what one run is started with (run, trigger)."""
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="a value of one of the pipeline's params for this run "
                             "(repeatable; tasks get PIPELINECTL_PARAM_<NAME>; the others keep "
                             "their default)")
    parser.add_argument("--logical-date", metavar="DATE",
                        help="the run's logical date, given to tasks as "
                             "PIPELINECTL_LOGICAL_DATE in UTC (2026-03-31, or "
                             "2026-03-31T06:00:00Z; no offset means UTC)")

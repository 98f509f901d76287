"""`pipelinectl platform manifests` (what the platform admin applies once per team, and once
for Airflow) and `pipelinectl platform airflow-values` (values for the Airflow Helm chart)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipelinectl import files, wiring
from pipelinectl.admin import airflowrbac, airflowvalues, manifests
from pipelinectl.errors import EXIT_OK, UserError, did_you_mean
from pipelinectl.spec import platform
from pipelinectl.yamlout import dump_all

AIRFLOW_FILE = "_airflow.yaml"  # never a team's file: a team name is a DNS label


@dataclass(frozen=True)
class Args:
    action: Literal["manifests", "airflow-values"]
    output: str | None
    worker_service_account: str
    platform: str | None
    team: list[str] | None = None  # manifests only
    airflow_namespace: str | None = None  # manifests only
    git_sync: bool = True  # airflow-values only
    git_conn_id: str = "git_default"  # airflow-values only
    environment: str | None = None  # airflow-values only: that environment's delivery


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    config = wiring.load_platform(args.platform, environ)
    if args.action == "airflow-values":
        return _airflow_values(args, config)
    return _manifests(args, config)


def _manifests(args: Args, config: platform.Platform) -> int:
    teams = sorted(config.teams)
    chosen = args.team or teams
    for team in chosen:
        if team not in config.teams:
            raise UserError(f"no team {team!r} in {config.file}",
                            hint=did_you_mean(team, teams) or f"its teams: {', '.join(teams)}")
    accounts = airflowrbac.AirflowAccounts(
        args.airflow_namespace or airflowrbac.default_namespace(config),
        args.worker_service_account)
    views = _namespace_views(config)
    files = [(f"{team}.yaml", [doc for view in views
                               for doc in manifests.team_manifests(view, team) +
                               airflowrbac.team_objects(view, team, accounts)])
             for team in chosen]
    shared = [] if args.team else _unique(
        [doc for view in views for doc in airflowrbac.platform_objects(view, accounts)])
    if shared:
        files.append((AIRFLOW_FILE, shared))
    for name, documents in files:
        _emit(manifests.HEADER + dump_all(documents),
              Path(args.output) / name if args.output else None)
    return EXIT_OK


def _namespace_views(config: platform.Platform) -> list[platform.Platform]:
    """The platform as each environment sees it (each team's namespace there, its DAG
    delivery), then as previews do: every namespace a team deploys to."""
    views = [config.in_environment(name) for name in config.environments]
    if config.previews is not None:
        views.append(config.in_previews())
    return views


def _unique(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each object once (environments may share the Airflow-level objects)."""
    seen: set[tuple[str, str, str]] = set()
    found = []
    for doc in documents:
        meta = doc["metadata"]
        key = (doc["kind"], meta.get("namespace", ""), meta["name"])
        if key not in seen:
            seen.add(key)
            found.append(doc)
    return found


def _airflow_values(args: Args, config: platform.Platform) -> int:
    if args.environment is not None:
        if args.environment not in config.environments:
            known = list(config.environments)
            raise UserError(f"--environment {args.environment!r}: the platform has no such "
                            "environment", hint=did_you_mean(args.environment, known) or
                            f"its environments: {', '.join(known)}")
        config = config.in_environment(args.environment)
    values: dict[str, Any] = airflowvalues.values(config, args.worker_service_account,
                                                  args.git_sync, args.git_conn_id)
    _emit(airflowvalues.HEADER + dump_all([values]), Path(args.output) if args.output else None)
    return EXIT_OK


def _emit(text: str, target: Path | None) -> None:
    """Print `text`, or replace the file `target` with it atomically and print its name."""
    if target is None:
        sys.stdout.write(text)
        return
    files.write_text(target, text)
    sys.stdout.write(f"{target}\n")

"""The platform config (docs/reference/platform.md): loaded, schema-checked and typed like a
pipeline."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipelinectl import files, placeholders
from pipelinectl.errors import Collector, InvalidInput, UserError
from pipelinectl.spec import schema, yamlio
from pipelinectl.spec.model import Resources
from pipelinectl.units import quantity_problem, quantity_text

LOCAL = "local"
BUILTIN_NAME = "<built-in local platform>"
ENV_VAR = "PIPELINECTL_PLATFORM"
DEFAULT_SERVICE_ACCOUNT = "pipeline-runner"


@dataclass(frozen=True)
class Team:
    name: str
    namespace: str
    service_account: str
    repos: tuple[str, ...] | None
    max_task_resources: Resources | None


DeliveryKind = Literal["git", "configmap", "directory"]
TaskRunner = Literal["kubernetes", "docker"]


@dataclass(frozen=True)
class DagsDelivery:
    kind: DeliveryKind
    repo: str | None = None
    branch: str = "main"
    path: str = "teams/{team}"
    namespace: str = "airflow"
    directory: str | None = None


@dataclass(frozen=True)
class Airflow:
    dags: DagsDelivery
    kubernetes_conn_id: str
    task_runner: TaskRunner
    configured: bool = True  # False: the platform file has no `airflow:` (defaults only)


@dataclass(frozen=True)
class Platform:
    file: str
    source: yamlio.SourceMap
    registry: str
    base_images: Mapping[str, Mapping[str, str]]
    allowed_base_registries: tuple[str, ...]
    ca_bundle: str | None
    teams: Mapping[str, Team]
    airflow: Airflow
    environments: Mapping[str, str]  # environment -> branch
    kubernetes_directory: str | None = None  # objects as files instead of a cluster

    def base_image(self, language: str, version: str) -> str | None:
        return self.base_images.get(language, {}).get(version)

    def ca_bundle_path(self) -> str | None:
        """build.ca_bundle as a path (relative: to the platform file's folder), checked."""
        if self.ca_bundle is None:
            return None
        folder = os.path.dirname(self.file) if self.file != BUILTIN_NAME else "."
        path = os.path.join(folder, os.path.expanduser(self.ca_bundle))
        if not os.path.isfile(path):
            raise UserError(f"build.ca_bundle: {self.ca_bundle!r} is not a file",
                            location=self.source.at(("build", "ca_bundle")),
                            hint="name a PEM file of CA certificates, e.g. "
                                 "/etc/ssl/certs/ca-certificates.crt")
        return os.path.abspath(path)


def builtin_path() -> Path:
    return files.PACKAGE / "data" / "local-platform.yaml"


def resolve(option: str | None, environ: Mapping[str, str]) -> str | None:
    """Which platform file to use: --platform, else $PIPELINECTL_PLATFORM; None = built-in."""
    choice = option or environ.get(ENV_VAR) or None
    return None if choice in (None, LOCAL) else choice


def load(path: str | None) -> Platform:
    """Load and check a platform file, or the built-in local platform when `path` is None."""
    if path is None:
        doc = yamlio.load_file(str(builtin_path()), BUILTIN_NAME)
    else:
        doc = yamlio.load_file(path, shown_path(path))
    problems = schema.validate(doc, "platform")
    if problems:
        raise InvalidInput(problems)
    platform = _build(doc)
    policy_problems = check(platform)
    if policy_problems:
        raise InvalidInput(policy_problems.problems)
    return platform


def shown_path(path: str) -> str:
    """The platform file as messages name it: relative to the working directory when it is
    inside it, else as given (never ../../../../etc/platform.yaml)."""
    if not os.path.isabs(path):
        return os.path.normpath(path)
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        return path
    return path if relative == ".." or relative.startswith(".." + os.sep) else relative


def _build(doc: yamlio.Document) -> Platform:
    data = doc.data
    return Platform(
        file=doc.file,
        source=doc.source,
        registry=data["registry"],
        base_images={lang: dict(versions) for lang, versions in
                     data.get("base_images", {}).items()},
        allowed_base_registries=tuple(data.get("allowed_base_registries", ())),
        ca_bundle=data.get("build", {}).get("ca_bundle"),
        teams={name: _team(name, raw) for name, raw in data["teams"].items()},
        airflow=_airflow(data.get("airflow", {}), configured="airflow" in data),
        environments={name: env["branch"] for name, env in
                      data.get("environments", {"production": {"branch": "main"}}).items()},
        kubernetes_directory=data.get("kubernetes", {}).get("directory"),
    )


def _team(name: str, raw: dict[str, Any]) -> Team:
    caps = raw.get("max_task_resources")
    return Team(
        name=name,
        namespace=raw["namespace"],
        service_account=raw.get("service_account", DEFAULT_SERVICE_ACCOUNT),
        repos=tuple(raw["repos"]) if "repos" in raw else None,
        max_task_resources=None if caps is None else Resources(
            quantity_text(caps.get("cpu", "")), quantity_text(caps.get("memory", ""))),
    )


def _airflow(raw: dict[str, Any], configured: bool) -> Airflow:
    dags = raw.get("dags", {"directory": ".pipelinectl/airflow/dags"})
    kind, options = next(iter(dags.items()))
    if kind == "directory":
        delivery = DagsDelivery(kind, directory=options)
    else:
        delivery = DagsDelivery(kind, **{k: v for k, v in options.items()})
    return Airflow(delivery, raw.get("kubernetes_conn_id", "kubernetes_default"),
                   raw.get("task_runner", "kubernetes"), configured)


def check(platform: Platform) -> Collector:
    """What the platform schema cannot say: the team caps are real quantities, and the DAGs
    folder of git delivery is a relative folder with known placeholders only."""
    problems = Collector()
    if platform.airflow.dags.kind == "git":
        _check_git_path(platform, problems)
    for team in platform.teams.values():
        caps = team.max_task_resources
        for field in ("cpu", "memory"):
            value = getattr(caps, field) if caps else ""
            message = quantity_problem(field, value) if value else None
            if message:
                path = ("teams", team.name, "max_task_resources", field)
                problems.add(platform.source.at(path), f"{yamlio.where(path)}: {message}",
                             "e.g. cpu: \"8\" or 500m, memory: 32Gi", "quantity")
    return problems


GIT_PATH: yamlio.JsonPath = ("airflow", "dags", "git", "path")


def _check_git_path(platform: Platform, problems: Collector) -> None:
    path = platform.airflow.dags.path
    field = yamlio.where(GIT_PATH)
    where = platform.source.at(GIT_PATH)
    found = placeholders.problem(path)
    if found:
        problems.add(where, f"{field}: {found[0]} in {path!r}", found[1], "placeholder")
        return
    if not path.isprintable():
        problems.add(where, f"{field}: {path!r} contains a control character",
                     "write the folder on one line, e.g. teams/{team}", "path")
        return
    sample = posixpath.normpath(placeholders.substitute(
        path, {placeholders.TEAM: "team", placeholders.NAMESPACE: "namespace"}))
    if sample.startswith("/") or sample.split("/")[0] == "..":
        problems.add(where, f"{field}: {path!r} is not a folder inside the DAGs repository",
                     "write a relative folder, e.g. teams/{team}", "path")

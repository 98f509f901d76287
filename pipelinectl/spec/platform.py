"""The platform config (docs/reference/platform.md): loaded, schema-checked and typed like a
pipeline."""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipelinectl import files, patterns
from pipelinectl.errors import Collector, InvalidInput, UserError
from pipelinectl.spec import schema, yamlio
from pipelinectl.spec.model import Resources
from pipelinectl.units import duration_problem, quantity_problem, quantity_text

LOCAL = "local"
BUILTIN_NAME = "<built-in local platform>"
ENV_VAR = "PIPELINECTL_PLATFORM"
DEFAULT_SERVICE_ACCOUNT = "pipeline-runner"
DEFAULT_KUBERNETES_CONN_ID = "kubernetes_default"
# The FAB auth manager's own roles: each reaches every DAG (or none), so none can be a team's.
FAB_BUILTIN_ROLES = ("Admin", "Op", "User", "Viewer", "Public")


@dataclass(frozen=True)
class Team:
    name: str
    namespace: str
    service_account: str
    repos: tuple[str, ...] | None
    max_task_resources: Resources | None
    # The Airflow (FAB) role that alone, with Admin, may see and run the team's DAGs; None:
    # the DAGs carry no access control (docs/how-to/airflow-teams.md).
    airflow_role: str | None = None
    # The connection the team's KubernetesPodOperator tasks use (the platform's
    # airflow.kubernetes_conn_id unless the team names its own).
    kubernetes_conn_id: str = DEFAULT_KUBERNETES_CONN_ID


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
class AirflowApi:
    """Airflow's REST API (airflow.api): its base URL and the NAMES of the environment
    variables that hold the user and password; the values never enter the platform."""

    url: str
    username_env: str
    password_env: str


@dataclass(frozen=True)
class Airflow:
    dags: DagsDelivery
    kubernetes_conn_id: str
    task_runner: TaskRunner
    configured: bool = True  # False: the platform file has no `airflow:` (defaults only)
    api: AirflowApi | None = None  # None: no REST API (trigger, status read no runs there)


Schedules = Literal["as-declared", "suspended"]
Flavor = Literal["kubernetes", "openshift"]
RUN_AS = 10001  # the user of the images pipelinectl builds (base-images/*/Dockerfile)
DEFAULT_ENVIRONMENT = "production"
PREVIEW_NAMESPACE = "{namespace}-preview"
PREVIEW = "preview"  # the environment name previews record


@dataclass(frozen=True)
class Environment:
    """A deploy environment (docs/reference/platform.md#environments): the branch that feeds
    it, each team's namespace there, whether schedules run, whether it builds images, and its
    own DAG delivery if any."""

    name: str
    branch: str
    namespace: str = "{namespace}"  # a pattern: {namespace}, {team}
    schedules: Schedules = "as-declared"
    build: bool = True
    dags: DagsDelivery | None = None  # None: the platform's airflow.dags


@dataclass(frozen=True)
class Previews:
    namespace: str = PREVIEW_NAMESPACE
    expire_after: str = "7d"


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
    environments: Mapping[str, Environment]  # in promotion order
    kubernetes_directory: str | None = None  # objects as files instead of a cluster
    previews: Previews | None = None
    keep_days: int = 30  # retention.keep_days: pipelinectl gc keeps younger images
    flavor: Flavor = "kubernetes"  # kubernetes.flavor
    # The environment this view of the platform is for (in_environment): teams' namespaces
    # and the DAG delivery are that environment's; None: the platform as written.
    environment: Environment | None = None

    def in_environment(self, name: str) -> Platform:
        """The platform as one environment sees it: each team's namespace from the
        environment's pattern, its DAG delivery if it has one."""
        assert self.environment is None  # patterns apply to the platform's own namespaces
        env = self.environments[name]
        teams = {team.name: dataclasses.replace(team, namespace=namespace_of(env.namespace,
                                                                              team))
                 for team in self.teams.values()}
        airflow = self.airflow if env.dags is None else \
            dataclasses.replace(self.airflow, dags=env.dags)
        return dataclasses.replace(self, teams=teams, airflow=airflow, environment=env)

    def in_previews(self, base: str | None = None) -> Platform:
        """The platform as merge-request previews see it: each team's preview namespace,
        schedules suspended, images built, and the DAG delivery of environment `base` (the
        one the merge request goes into) if it has its own (docs/how-to/previews.md)."""
        assert self.previews is not None and self.environment is None  # from the platform
        dags = self.environments[base].dags if base is not None else None
        env = Environment(PREVIEW, "", self.previews.namespace, "suspended", True, dags)
        teams = {team.name: dataclasses.replace(team, namespace=namespace_of(env.namespace,
                                                                              team))
                 for team in self.teams.values()}
        airflow = self.airflow if dags is None else dataclasses.replace(self.airflow, dags=dags)
        return dataclasses.replace(self, teams=teams, airflow=airflow, environment=env)

    def environment_of_branch(self, branch: str | None) -> Environment | None:
        return next((e for e in self.environments.values() if e.branch == branch), None)

    @property
    def run_as(self) -> int | None:
        """The pods' fixed user and group, or None where the platform assigns them."""
        return None if self.flavor == "openshift" else RUN_AS

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


def namespace_of(pattern: str, team: Team) -> str:
    """A namespace pattern ({namespace}, {team}) for one team."""
    return patterns.substitute(pattern, {patterns.NAMESPACE: team.namespace,
                                             patterns.TEAM: team.name})


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
        teams={name: _team(name, raw, data.get("airflow", {})) for name, raw in
               data["teams"].items()},
        airflow=_airflow(data.get("airflow", {}), configured="airflow" in data),
        environments={name: _environment(name, env) for name, env in
                      data.get("environments", {DEFAULT_ENVIRONMENT: {"branch": "main"}})
                      .items()},
        kubernetes_directory=data.get("kubernetes", {}).get("directory"),
        previews=Previews(**data["previews"]) if "previews" in data else None,
        keep_days=data.get("retention", {}).get("keep_days", 30),
        flavor=data.get("kubernetes", {}).get("flavor", "kubernetes"),
    )


def _environment(name: str, raw: dict[str, Any]) -> Environment:
    dags = raw.get("airflow", {}).get("dags")
    return Environment(name, raw["branch"], raw.get("namespace", "{namespace}"),
                       raw.get("schedules", "as-declared"), raw.get("build", True),
                       _delivery(dags) if dags else None)


def _team(name: str, raw: dict[str, Any], airflow: dict[str, Any]) -> Team:
    caps = raw.get("max_task_resources")
    return Team(
        name=name,
        namespace=raw["namespace"],
        service_account=raw.get("service_account", DEFAULT_SERVICE_ACCOUNT),
        repos=tuple(raw["repos"]) if "repos" in raw else None,
        max_task_resources=None if caps is None else Resources(
            quantity_text(caps.get("cpu", "")), quantity_text(caps.get("memory", ""))),
        airflow_role=raw.get("airflow_role"),
        kubernetes_conn_id=raw.get("kubernetes_conn_id",
                                   airflow.get("kubernetes_conn_id", DEFAULT_KUBERNETES_CONN_ID)),
    )


def _airflow(raw: dict[str, Any], configured: bool) -> Airflow:
    delivery = _delivery(raw.get("dags", {"directory": ".pipelinectl/airflow/dags"}))
    api = raw.get("api")
    return Airflow(delivery, raw.get("kubernetes_conn_id", "kubernetes_default"),
                   raw.get("task_runner", "kubernetes"), configured,
                   None if api is None else AirflowApi(api["url"].rstrip("/"),
                                                       api["username_env"],
                                                       api["password_env"]))


def _delivery(dags: dict[str, Any]) -> DagsDelivery:
    kind: Any
    kind, options = next(iter(dags.items()))
    if kind == "directory":
        return DagsDelivery(kind, directory=options)
    return DagsDelivery(kind, **{k: v for k, v in options.items()})


def check(platform: Platform) -> Collector:
    """What the platform schema cannot say: the team caps are real quantities, a team's
    airflow_role is its own, and the DAGs folder of git delivery is a relative folder with
    the `{team}` and `{namespace}` variables only."""
    problems = Collector()
    if platform.airflow.dags.kind == "git":
        _check_git_path(platform, platform.airflow.dags.path, GIT_PATH, problems)
    _check_environments(platform, problems)
    _check_api(platform, problems)
    for team in platform.teams.values():
        _check_airflow_role(platform, team, problems)
        caps = team.max_task_resources
        for field in ("cpu", "memory"):
            value = getattr(caps, field) if caps else ""
            message = quantity_problem(field, value) if value else None
            if message:
                path = ("teams", team.name, "max_task_resources", field)
                problems.add(platform.source.at(path), f"{yamlio.where(path)}: {message}",
                             "e.g. cpu: \"8\" or 500m, memory: 32Gi", "quantity")
    return problems


def _check_airflow_role(platform: Platform, team: Team, problems: Collector) -> None:
    """A team's airflow_role is a role of its own, none of the FAB auth manager's built-in
    roles (they reach every DAG or none). The schema holds it to characters that every place
    it goes takes as they are: airflow.cfg, Helm's tpl, JSON, the DAG literal."""
    role = team.airflow_role
    if role is None:
        return
    path = ("teams", team.name, "airflow_role")
    builtin = next((name for name in FAB_BUILTIN_ROLES if name.lower() == role.lower()), None)
    if builtin is not None:
        problems.add(platform.source.at(path),
                     f"{yamlio.where(path)}: {role!r} is the auth manager's built-in role "
                     f"{builtin}, whose users reach every team's DAGs (or none)",
                     f"name a role of the team's own, e.g. team-{team.name}; see "
                     "docs/how-to/airflow-teams.md", "airflow-role")


def _check_api(platform: Platform, problems: Collector) -> None:
    """The user and the password of airflow.api come from two variables."""
    api = platform.airflow.api
    if api is not None and api.username_env == api.password_env:
        path = ("airflow", "api", "password_env")
        problems.add(platform.source.at(path),
                     f"{yamlio.where(path)}: {api.password_env} is also username_env: the "
                     "username and the password come from two variables",
                     "e.g. username_env: AIRFLOW_API_USERNAME, "
                     "password_env: AIRFLOW_API_PASSWORD", "airflow-api")


GIT_PATH: yamlio.JsonPath = ("airflow", "dags", "git", "path")


def _check_git_path(platform: Platform, path: str, at: yamlio.JsonPath,
                    problems: Collector) -> None:
    field = yamlio.where(at)
    where = platform.source.at(at)
    found = patterns.problem(path)
    if found:
        problems.add(where, f"{field}: {found[0]} in {path!r}", found[1], "placeholder")
        return
    if not path.isprintable():
        problems.add(where, f"{field}: {path!r} contains a control character",
                     "write the folder on one line, e.g. teams/{team}", "path")
        return
    sample = posixpath.normpath(patterns.substitute(
        path, {patterns.TEAM: "team", patterns.NAMESPACE: "namespace"}))
    if sample.startswith("/") or sample.split("/")[0] == "..":
        problems.add(where, f"{field}: {path!r} is not a folder inside the DAGs repository",
                     "write a relative folder, e.g. teams/{team}", "path")


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _check_environments(platform: Platform, problems: Collector) -> None:
    """One environment per branch; namespace patterns that give every team a namespace of its
    own in each environment (and in previews); a build: false environment after one that
    builds; each environment's own git DAG folder; a preview lifetime that is a duration."""
    branches: dict[str, str] = {}
    built = False
    claimed: dict[tuple[str, str], str] = {}  # (team, namespace) -> the environment
    for env in platform.environments.values():
        here = ("environments", env.name)
        first = branches.setdefault(env.branch, env.name)
        if first != env.name:
            problems.add(platform.source.at(here + ("branch",)),
                         f"environments.{env.name}.branch: branch {env.branch!r} already "
                         f"feeds environment {first}", "give each environment its own branch",
                         "environment")
        if not env.build and not built:
            problems.add(platform.source.at(here + ("build",)),
                         f"environments.{env.name}.build: false, but no environment before it "
                         "builds the images it would take",
                         "list an environment with build: true (the default) before it, "
                         "e.g. dev from main, then production from production", "environment")
        built = built or env.build
        for team, namespace in _namespaces(platform, env.namespace, here + ("namespace",),
                                           problems):
            other = claimed.setdefault((team, namespace), env.name)
            if other != env.name:
                problems.add(platform.source.at(here + ("namespace",)),
                             f"environments.{env.name}.namespace: team {team} would deploy "
                             f"to {namespace}, as in environment {other}",
                             "give each environment a namespace pattern of its own, e.g. "
                             "\"{namespace}-dev\"", "environment")
        if env.dags is not None and env.dags.kind == "git":
            _check_git_path(platform, env.dags.path, here + ("airflow", "dags", "git", "path"),
                            problems)
    if platform.previews is not None:
        at = ("previews", "namespace")
        for team, namespace in _namespaces(platform, platform.previews.namespace, at,
                                           problems):
            if (team, namespace) in claimed:
                problems.add(platform.source.at(at),
                             f"previews.namespace: team {team}'s previews would go to "
                             f"{namespace}, the namespace of environment "
                             f"{claimed[(team, namespace)]}",
                             "keep previews in namespaces of their own, e.g. "
                             "\"{namespace}-preview\"", "environment")
        problem = duration_problem(platform.previews.expire_after)
        if problem:
            problems.add(platform.source.at(("previews", "expire_after")),
                         f"previews.expire_after: {problem[0]}", problem[1], "duration")


def _namespaces(platform: Platform, pattern: str, at: yamlio.JsonPath,
                problems: Collector) -> list[tuple[str, str]]:
    """(team, namespace) for each team under `pattern`; a problem, and none, when the pattern
    names an unknown `{variable}` or gives a team a name that is not a namespace."""
    where, field = platform.source.at(at), yamlio.where(at)
    found = patterns.problem(pattern)
    if found:
        problems.add(where, f"{field}: {found[0]} in {pattern!r}", found[1], "placeholder")
        return []
    result = []
    for team in sorted(platform.teams.values(), key=lambda t: t.name):
        namespace = namespace_of(pattern, team)
        if not _DNS_LABEL.fullmatch(namespace):
            problems.add(where, f"{field}: {pattern!r} gives team {team.name} the namespace "
                                f"{namespace!r}, which is not a DNS-1123 label of at most 63 "
                                "characters",
                         "use lowercase letters, digits and '-' around the placeholders, "
                         "e.g. \"{namespace}-dev\"", "namespace")
            return []
        result.append((team.name, namespace))
    return result

"""Values for the official Apache Airflow Helm chart (chart 1.x, Airflow 3), from the platform
config (pure, deterministic): how DAG files reach Airflow, the ServiceAccount names that the
RBAC of `platform manifests` binds, and the connection KubernetesPodOperator uses.

- airflow.dags.git, Airflow 3: `config.dag_processor.dag_bundle_config_list`, a versioned
  GitDagBundle per team (subdir: the team's folder), or one for all when `path` names no
  `{team}`, tracking the branch (never a SHA), refreshed every minute, with the git
  connection `git_conn_id` for credentials (none in the values). Airflow then reads the DAGs
  from the bundles only, and keeps a DAG version per change of a DAG file.
- airflow.dags.git, Airflow 2 and charts that still use it: `dags.gitSync` follows the branch.
  Its subPath is the folder part of `path` before the first folder that holds `{team}` (every
  team's folder lies below it), or the whole path when it names no `{team}` (all teams share
  that folder). Left out with `git_sync=False` (an Airflow 3 chart without git-sync). A user
  name and password in the repository URL are never written: give git-sync credentials as a
  Secret.
- airflow.dags.configmap: a k8s-sidecar copies the ConfigMaps labelled pipelinectl.io/dag=true
  of that namespace into an emptyDir mounted at /opt/airflow/dags/pipelinectl, inside the
  chart's DAGs folder: a watching sidecar in the dag processor and the scheduler; in the
  workers (and KubernetesExecutor task pods) a one-shot init container, so that the DAG file
  is there when a task starts, then a native sidecar (Kubernetes 1.29+) that keeps watching
  and ends with the pod.
- airflow.dags.directory: nothing for Helm to do (a user error with a hint).
- task_runner kubernetes: the connection `kubernetes_conn_id`, in-cluster, through `env`: one
  per distinct id, the platform's `airflow.kubernetes_conn_id` and each team's own
  `teams.<team>.kubernetes_conn_id`.
- teams with an `airflow_role` (docs/how-to/airflow-teams.md): their DAGs carry access_control
  for that role, which only the FAB auth manager enforces, so `config.core.auth_manager` names
  it; and `config.fab.custom_roles` declares each team role, which the FAB auth manager creates
  (if missing) when it starts: what a team member needs to use Airflow, with no permission on
  the global "DAGs" resource, so that each DAG's access_control alone decides who reaches it.
  Without any airflow_role, neither is written (the chart's own auth manager setting stays).

Values from the platform file are data: dict values written by the YAML emitter. The chart
pastes a few of them where quoting does not protect them (subPath into airflow.cfg, env names
unquoted), so those are checked first; and `{{`, which Helm's `tpl` would evaluate, is refused
in the git settings.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from pipelinectl import patterns
from pipelinectl.checkout import strip_credentials
from pipelinectl.errors import UserError
from pipelinectl.render.desired import dag_folder
from pipelinectl.spec.platform import Platform
from pipelinectl.vocabulary import DAG_LABEL

SIDECAR_IMAGE = "quay.io/kiwigrid/k8s-sidecar:1.30.7"
DAGS_VOLUME = "pipelinectl-dags"
DAGS_FOLDER = "/opt/airflow/dags/pipelinectl"  # the chart's DAGs folder is /opt/airflow/dags
GIT_SYNC_PERIOD = "60s"
BUNDLE_REFRESH_SECONDS = 60  # as often as git-sync looks
BUNDLE_CLASSPATH = "airflow.providers.git.bundles.git.GitDagBundle"
DEFAULT_GIT_CONN_ID = "git_default"  # GitHook's own default connection
DEFAULT_WORKER_SERVICE_ACCOUNT = "airflow-worker"
# The chart's own names for a release called `airflow`, pinned so that RBAC can bind them.
SCHEDULER_SERVICE_ACCOUNT = "airflow-scheduler"
DAG_PROCESSOR_SERVICE_ACCOUNT = "airflow-dag-processor"
_CONN_ID = re.compile(r"[A-Za-z0-9_.-]+")
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# A team role's own permissions (FAB action, resource), from the FAB auth manager's Viewer and
# User roles (apache-airflow-providers-fab 3.10) less every permission on the global "DAGs"
# resource but its menu entry, and less what is not a DAG's (creating asset events, which
# could start another team's DAGs; backfills; human-in-the-loop details). Each left is checked
# per DAG: the FAB auth manager grants a DAG's runs, task instances, logs, code or XComs only
# with read (GET) or edit (anything else) on that DAG itself, which only access_control gives.
TEAM_ROLE_PERMISSIONS: tuple[tuple[str, str], ...] = (
    *(("can_read", resource) for resource in (
        "Asset Aliases", "Assets", "Cluster Activity", "DAG Code", "DAG Dependencies",
        "DAG Runs", "DAG Versions", "DAG Warnings", "ImportError", "Jobs", "My Password",
        "My Profile", "Pools", "Task Instances", "Task Logs", "Website", "XComs")),
    ("can_edit", "My Password"), ("can_edit", "My Profile"),
    *((action, resource) for resource in ("DAG Runs", "Task Instances")
      for action in ("can_create", "can_delete", "can_edit")),
    *(("menu_access", resource) for resource in (
        "Assets", "Browse", "Cluster Activity", "DAG Dependencies", "DAG Runs", "DAGs", "Docs",
        "Documentation", "Jobs", "Task Instances")),
)
_SENTINEL = "\x00"


HEADER = ("# Generated by `pipelinectl platform airflow-values` for the Apache Airflow chart: "
          "docs/how-to/platform-setup.md#3-give-airflow-the-dags in the pipelinectl "
          "repository.\n")  # the first line of what it prints or writes



def values(platform: Platform, worker_service_account: str, git_sync_too: bool = True,
           git_conn_id: str = DEFAULT_GIT_CONN_ID) -> dict[str, Any]:
    """The values document for `helm install -f`."""
    delivery = platform.airflow.dags
    if delivery.kind == "directory":
        raise UserError(
            f"airflow.dags is a directory ({delivery.directory!r}): there are no Helm values "
            "to generate for it",
            location=platform.source.at(("airflow", "dags", "directory")),
            hint="mount that folder as the DAGs folder of every Airflow component (for "
                 "example dags.persistence with an existing claim), or deliver DAGs with "
                 "airflow.dags.git or airflow.dags.configmap; see "
                 "docs/how-to/platform-setup.md#3-give-airflow-the-dags")
    doc: dict[str, Any] = {}
    if delivery.kind == "git":
        if git_sync_too:
            doc["dags"] = {"gitSync": git_sync(platform)}
        bundles = json.dumps(dag_bundles(platform, git_conn_id), sort_keys=True)
        doc["config"] = {"dag_processor": {"dag_bundle_config_list": bundles}}
    auth = auth_config(platform)
    if auth:
        doc["config"] = {**doc.get("config", {}), **auth}
    env = connection_env(platform)
    if env:
        doc["env"] = env
    if delivery.kind == "configmap":
        doc.update(_configmap_components(delivery.namespace, worker_service_account))
    else:
        doc["workers"] = {"serviceAccount": _account(worker_service_account)}
    return doc


def sidecar_service_accounts(worker_service_account: str) -> tuple[str, ...]:
    """The ServiceAccounts of the pods that carry the ConfigMap sidecar."""
    names = (SCHEDULER_SERVICE_ACCOUNT, DAG_PROCESSOR_SERVICE_ACCOUNT, worker_service_account)
    return tuple(dict.fromkeys(names))


def git_sync(platform: Platform) -> dict[str, Any]:
    delivery = platform.airflow.dags
    assert delivery.repo is not None  # the schema requires it
    sync = {
        "enabled": True,
        "repo": strip_credentials(delivery.repo),
        "branch": delivery.branch,  # git-sync v3
        "ref": delivery.branch,  # git-sync v4 (the chart's default image)
        "rev": "HEAD",
        "depth": 1,
        "subPath": git_sub_path(platform),
        "period": GIT_SYNC_PERIOD,
    }
    for field in ("repo", "branch", "subPath"):
        if "{{" in str(sync[field]):  # never a real URL, branch or folder
            key = {"subPath": "path"}.get(field, field)
            raise UserError(f"airflow.dags.git.{key} contains '{{{{': Helm could evaluate it "
                            "as a template", hint="name the repository, branch and folder "
                                                  "without '{{'",
                            location=platform.source.at(("airflow", "dags", "git", key)))
    return sync


def dag_bundles(platform: Platform, git_conn_id: str = DEFAULT_GIT_CONN_ID
                ) -> list[dict[str, Any]]:
    """Airflow 3's [dag_processor] dag_bundle_config_list for airflow.dags.git: a GitDagBundle
    per team over the team's own folder of the branch (a bundle's name is the team's), or one
    for all when `path` has no `{team}`; each tracks the branch. Airflow keeps a new version
    of a DAG when what it stores of it changes (the generated DAG's doc_md carries a digest
    of its PIPELINE literal, so any change of the file counts) and once a run has used the
    version before; pipelinectl commits a DAG file only when it changes."""
    delivery = platform.airflow.dags
    assert delivery.repo is not None and delivery.branch is not None
    git_sync(platform)  # the same refusals ({{, a folder Helm would evaluate)
    if not _CONN_ID.fullmatch(git_conn_id):
        raise UserError(f"--git-conn-id {git_conn_id!r} is not an Airflow connection id",
                        hint="use letters, digits, '_', '.' and '-', e.g. git_default")
    folders = {name: dag_folder(delivery, team) for name, team in platform.teams.items()}
    if len(folders) > 1 and len(set(folders.values())) == 1:  # `path` names no {team}
        folders = {"all": next(iter(folders.values()))}
    return [{"name": f"pipelinectl-{name}", "classpath": BUNDLE_CLASSPATH,
             "kwargs": {"repo_url": strip_credentials(delivery.repo),
                        "tracking_ref": delivery.branch,
                        "subdir": "" if folder == "." else folder,
                        "refresh_interval": BUNDLE_REFRESH_SECONDS,
                        "git_conn_id": git_conn_id}}
            for name, folder in sorted(folders.items())]


def git_sub_path(platform: Platform) -> str:
    """The folder git-sync exposes as the DAGs folder: `path` up to the first folder that
    names a `{team}` or `{namespace}` variable (the platform check holds `path` to a relative
    folder)."""
    marked = patterns.substitute(platform.airflow.dags.path,
                                 {name: _SENTINEL for name in patterns.NAMES})
    folders = []
    for folder in posixpath.normpath(marked).split("/"):
        if _SENTINEL in folder:
            break
        folders.append(folder)
    return "" if folders == ["."] else "/".join(folders)


def connection_env(platform: Platform) -> list[dict[str, str]]:
    """With the kubernetes task runner: the connections KubernetesPodOperator uses, in-cluster
    (the worker's ServiceAccount), as AIRFLOW_CONN_<ID> (no credentials in them): the
    platform's airflow.kubernetes_conn_id, then each other id a team names, in order."""
    airflow = platform.airflow
    if airflow.task_runner != "kubernetes":
        return []
    named: dict[str, tuple[str, ...]] = {airflow.kubernetes_conn_id: ("airflow",
                                                                      "kubernetes_conn_id")}
    for team in sorted(platform.teams.values(), key=lambda t: t.kubernetes_conn_id):
        named.setdefault(team.kubernetes_conn_id, ("teams", team.name, "kubernetes_conn_id"))
    connection = json.dumps({"conn_type": "kubernetes", "extra": {"in_cluster": True}})
    env: dict[str, str] = {}  # env name -> the connection id
    for conn_id, path in named.items():
        field = ".".join(path)
        if not _CONN_ID.fullmatch(conn_id):
            raise UserError(
                f"{field} {conn_id!r} cannot be named in an environment variable "
                "(AIRFLOW_CONN_<ID>)", location=platform.source.at(path),
                hint="use letters, digits, '_', '.' and '-', e.g. kubernetes_default")
        name = f"AIRFLOW_CONN_{conn_id.upper()}"
        if name in env:  # Airflow looks a connection up by its id in upper case
            raise UserError(f"{field} {conn_id!r} and {env[name]!r} are one connection to "
                            f"Airflow ({name})", location=platform.source.at(path),
                            hint="name each connection differently, not only in case")
        env[name] = conn_id
    return [{"name": name, "value": connection} for name in env]


def team_roles(platform: Platform) -> dict[str, list[dict[str, str]]]:
    """[fab] custom_roles: each team's airflow_role with TEAM_ROLE_PERMISSIONS (a role two
    teams share is one role)."""
    roles = sorted({team.airflow_role for team in platform.teams.values()
                    if team.airflow_role is not None})
    permissions = [{"action": action, "resource": resource}
                   for action, resource in sorted(TEAM_ROLE_PERMISSIONS)]
    return {role: permissions for role in roles}


def auth_config(platform: Platform) -> dict[str, Any]:
    """With a team's airflow_role: the `config` sections that make Airflow enforce the DAGs'
    access_control (the FAB auth manager) and create the team roles; else none."""
    roles = team_roles(platform)
    if not roles:
        return {}
    return {"core": {"auth_manager": FAB_AUTH_MANAGER},
            "fab": {"custom_roles": json.dumps(roles, sort_keys=True)}}


def _configmap_components(namespace: str, worker_service_account: str) -> dict[str, Any]:
    volumes = [{"name": DAGS_VOLUME, "emptyDir": {}}]
    mounts = [{"name": DAGS_VOLUME, "mountPath": DAGS_FOLDER, "readOnly": True}]
    watcher = sidecar(namespace, "WATCH")
    return {
        "scheduler": {"extraContainers": [watcher], "extraVolumes": volumes,
                      "extraVolumeMounts": mounts,
                      "serviceAccount": _account(SCHEDULER_SERVICE_ACCOUNT)},
        "dagProcessor": {"extraContainers": [watcher], "extraVolumes": volumes,
                         "extraVolumeMounts": mounts,
                         "serviceAccount": _account(DAG_PROCESSOR_SERVICE_ACCOUNT)},
        "workers": {"extraInitContainers": [sidecar(namespace, "LIST"),
                                            {**watcher, "restartPolicy": "Always"}],
                    "extraVolumes": volumes, "extraVolumeMounts": mounts,
                    "serviceAccount": _account(worker_service_account)},
    }


def sidecar(namespace: str, method: str) -> dict[str, Any]:
    """A k8s-sidecar container: METHOD=WATCH keeps the folder in step, LIST copies once."""
    settings = (("LABEL", DAG_LABEL), ("LABEL_VALUE", "true"), ("FOLDER", DAGS_FOLDER),
                ("NAMESPACE", namespace), ("RESOURCE", "configmap"), ("METHOD", method))
    return {
        "name": "pipelinectl-dags" if method == "WATCH" else "pipelinectl-dags-init",
        "image": SIDECAR_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": name, "value": value} for name, value in settings],
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"},
                      "limits": {"memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": DAGS_VOLUME, "mountPath": DAGS_FOLDER}],
    }


def _account(name: str) -> dict[str, Any]:
    return {"create": True, "name": name}

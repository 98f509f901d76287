"""Values for the official Apache Airflow Helm chart (chart 1.x, Airflow 3), from the platform
config (pure, deterministic): how DAG files reach Airflow, the ServiceAccount names that the
RBAC of `platform manifests` binds, and the connection KubernetesPodOperator uses.

- airflow.dags.git: `dags.gitSync` follows the branch. Its subPath is the folder part of
  `path` before the first folder that holds `{team}` (every team's folder lies below it), or
  the whole path when it names no `{team}` (all teams share that folder). A user name and
  password in the repository URL are never written: give git-sync credentials as a Secret.
- airflow.dags.configmap: a k8s-sidecar copies the ConfigMaps labelled pipelinectl.io/dag=true
  of that namespace into an emptyDir mounted at /opt/airflow/dags/pipelinectl, inside the
  chart's DAGs folder: a watching sidecar in the dag processor and the scheduler; in the
  workers (and KubernetesExecutor task pods) a one-shot init container, so that the DAG file
  is there when a task starts, then a native sidecar (Kubernetes 1.29+) that keeps watching
  and ends with the pod.
- airflow.dags.directory: nothing for Helm to do (a user error with a hint).
- task_runner kubernetes: the connection `kubernetes_conn_id`, in-cluster, through `env`.

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

from pipelinectl import placeholders
from pipelinectl.checkout import strip_credentials
from pipelinectl.errors import UserError
from pipelinectl.spec.platform import Platform
from pipelinectl.vocabulary import DAG_LABEL

SIDECAR_IMAGE = "quay.io/kiwigrid/k8s-sidecar:1.30.7"
DAGS_VOLUME = "pipelinectl-dags"
DAGS_FOLDER = "/opt/airflow/dags/pipelinectl"  # the chart's DAGs folder is /opt/airflow/dags
GIT_SYNC_PERIOD = "60s"
DEFAULT_WORKER_SERVICE_ACCOUNT = "airflow-worker"
# The chart's own names for a release called `airflow`, pinned so that RBAC can bind them.
SCHEDULER_SERVICE_ACCOUNT = "airflow-scheduler"
DAG_PROCESSOR_SERVICE_ACCOUNT = "airflow-dag-processor"
_CONN_ID = re.compile(r"[A-Za-z0-9_.-]+")
_SENTINEL = "\x00"


def values(platform: Platform, worker_service_account: str) -> dict[str, Any]:
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
        doc["dags"] = {"gitSync": git_sync(platform)}
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


def git_sub_path(platform: Platform) -> str:
    """The folder git-sync exposes as the DAGs folder: `path` up to the first folder with a
    placeholder (the platform check holds `path` to a relative folder)."""
    marked = placeholders.substitute(platform.airflow.dags.path,
                                     {name: _SENTINEL for name in placeholders.NAMES})
    folders = []
    for folder in posixpath.normpath(marked).split("/"):
        if _SENTINEL in folder:
            break
        folders.append(folder)
    return "" if folders == ["."] else "/".join(folders)


def connection_env(platform: Platform) -> list[dict[str, str]]:
    """With the kubernetes task runner: the connection KubernetesPodOperator uses, in-cluster
    (the worker's ServiceAccount), as AIRFLOW_CONN_<ID> (no credentials in it)."""
    airflow = platform.airflow
    if airflow.task_runner != "kubernetes":
        return []
    conn_id = airflow.kubernetes_conn_id
    if not _CONN_ID.fullmatch(conn_id):
        raise UserError(
            f"airflow.kubernetes_conn_id {conn_id!r} cannot be named in an environment "
            "variable (AIRFLOW_CONN_<ID>)",
            location=platform.source.at(("airflow", "kubernetes_conn_id")),
            hint="use letters, digits, '_', '.' and '-', e.g. kubernetes_default")
    connection = {"conn_type": "kubernetes", "extra": {"in_cluster": True}}
    return [{"name": f"AIRFLOW_CONN_{conn_id.upper()}", "value": json.dumps(connection)}]


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

"""The Airflow side of `platform manifests` (pure): what Airflow and the deployer need beyond
a team's own namespace. Only for a platform file with an `airflow:` section (without one,
DAG files go to a local folder: there is no Airflow in the cluster to grant anything to).

Per team:
- task_runner kubernetes: Role pipelinectl-airflow-pods in the team's namespace with what
  KubernetesPodOperator does there (cncf-kubernetes provider 10.x, as the generated DAGs use
  it: not deferrable, no XCom sidecar), bound to the Airflow workers' ServiceAccount in the
  Airflow namespace: pods create (start), get (poll), list (find the pod again after a worker
  restart), patch (mark it checked), delete (on_finish_action=delete_pod); pods/log get (the
  task log); events list (why a pod does not start). No pods/exec: only the XCom sidecar and
  Istio's proxy shutdown use it. No watch: the operator polls.
- airflow.dags.configmap: Role pipelinectl-deployer-<namespace> in the ConfigMap namespace,
  letting the team's pipelinectl-deployer write its DAG ConfigMaps there (exactly what deploy
  and plan do there: tests/admin/test_manifests.py), and a ClusterRole that lets it read that one
  Namespace object (deploy's preflight checks that it exists). Nothing else there: deploy
  reads and checks only ConfigMaps outside the teams' namespaces.

Once (Airflow-level, written without --team): airflow.dags.configmap: Role
pipelinectl-dags-sidecar in the ConfigMap namespace, letting the ServiceAccounts of the pods
that carry the k8s-sidecar (airflowvalues) get, list and watch ConfigMaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelinectl.admin import airflowvalues
from pipelinectl.admin.manifests import DEPLOYER
from pipelinectl.spec.platform import Platform
from pipelinectl.vocabulary import MANAGED_BY, MANAGER, TEAM_LABEL

RBAC = "rbac.authorization.k8s.io"
PODS_ROLE = "pipelinectl-airflow-pods"
SIDECAR_ROLE = "pipelinectl-dags-sidecar"
DEFAULT_AIRFLOW_NAMESPACE = "airflow"

Rules = tuple[tuple[str, str, tuple[str, ...]], ...]

# (apiGroup, resource, verbs) in a team's namespace, for KubernetesPodOperator.
POD_RULES: Rules = (
    ("", "pods", ("create", "delete", "get", "list", "patch")),
    ("", "pods/log", ("get",)),
    ("", "events", ("list",)),
)
SIDECAR_RULES: Rules = (("", "configmaps", ("get", "list", "watch")),)
# The DAG ConfigMaps' namespace holds no lease: the team rule without create and update.
DEPLOYER_CONFIGMAP_RULES: Rules = (("", "configmaps", ("delete", "get", "list", "patch")),)


@dataclass(frozen=True)
class AirflowAccounts:
    """Where Airflow runs and the name of its workers' ServiceAccount."""

    namespace: str
    worker_service_account: str


def default_namespace(platform: Platform) -> str:
    """The Airflow namespace: the ConfigMap namespace with configmap delivery, else airflow."""
    dags = platform.airflow.dags
    return dags.namespace if dags.kind == "configmap" else DEFAULT_AIRFLOW_NAMESPACE


def team_objects(platform: Platform, team_name: str,
                 accounts: AirflowAccounts) -> list[dict[str, Any]]:
    airflow = platform.airflow
    if not airflow.configured:
        return []
    team = platform.teams[team_name]
    labels = {MANAGED_BY: MANAGER, TEAM_LABEL: team.name}
    objects: list[dict[str, Any]] = []
    if airflow.task_runner == "kubernetes":
        workers = [_subject(accounts.worker_service_account, accounts.namespace)]
        objects += _role_and_binding(PODS_ROLE, team.namespace, labels, POD_RULES, workers)
    if airflow.dags.kind == "configmap":
        deployer = [_subject(DEPLOYER, team.namespace)]
        name = f"{DEPLOYER}-{team.namespace}"
        objects += _role_and_binding(name, airflow.dags.namespace, labels,
                                     DEPLOYER_CONFIGMAP_RULES, deployer)
        # deploy's preflight reads the Namespace object (cluster-scoped), as for its own.
        objects += _cluster_role_and_binding(
            f"{name}-dags", labels, {"apiGroups": [""], "resources": ["namespaces"],
                                     "resourceNames": [airflow.dags.namespace],
                                     "verbs": ["get"]}, deployer)
    return objects


def platform_objects(platform: Platform, accounts: AirflowAccounts) -> list[dict[str, Any]]:
    """What is no one team's: the sidecar's right to read the DAG ConfigMaps."""
    airflow = platform.airflow
    if not airflow.configured or airflow.dags.kind != "configmap":
        return []
    readers = [_subject(name, accounts.namespace) for name in
               airflowvalues.sidecar_service_accounts(accounts.worker_service_account)]
    return _role_and_binding(SIDECAR_ROLE, airflow.dags.namespace, {MANAGED_BY: MANAGER},
                             SIDECAR_RULES, readers)


def _role_and_binding(name: str, namespace: str, labels: dict[str, str], rules: Rules,
                      subjects: list[dict[str, str]]) -> list[dict[str, Any]]:
    meta = {"name": name, "namespace": namespace, "labels": labels}
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": meta,
         "rules": [{"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
                   for group, resource, verbs in rules]},
        {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
         "subjects": subjects},
    ]


def _cluster_role_and_binding(name: str, labels: dict[str, str], rule: dict[str, Any],
                              subjects: list[dict[str, str]]) -> list[dict[str, Any]]:
    meta = {"name": name, "labels": labels}
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": meta, "rules": [rule]},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
         "subjects": subjects},
    ]


def _subject(name: str, namespace: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}

"""What a platform admin applies once per team (pure): namespace, accounts, rights, limits.

- Namespace <namespace>, labelled with the team.
- ServiceAccount <service_account> for the task pods: no API rights, no token mounted.
- ServiceAccount pipelinectl-deployer for CI, with a Role granting exactly what `deploy`,
  `plan`, `status` and `history` do in the namespace (tests derive the verbs from the request
  log of a full deploy against the fake API server), and a ClusterRole that lets it read
  this one Namespace object (namespaces are cluster-scoped).
- LimitRange: the built-in task defaults as container defaults, and the team's
  max_task_resources as the most a container may ask for.
- ResourceQuota: at most 100 CronJobs (a pipeline's spec limit is 100 tasks; a team of
  pipelines rarely needs more) and, with caps, 10 tasks' worth of requests at once.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pipelinectl.spec.model import BUILTIN_DEFAULTS
from pipelinectl.spec.platform import Platform, Team
from pipelinectl.units import parse_quantity
from pipelinectl.vocabulary import MANAGED_BY, MANAGER, TEAM_LABEL

DEPLOYER = "pipelinectl-deployer"
CONCURRENT_TASKS = 10
MAX_CRONJOBS = 100

# (apiGroup, resource, verbs): what the pipelinectl commands do in a team's namespace.
DEPLOYER_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("batch", "cronjobs", ("delete", "get", "list", "patch")),
    # create and update: the deploy lease (deploy/lease.py), taken by compare-and-swap
    ("", "configmaps", ("create", "delete", "get", "list", "patch", "update")),
    ("", "secrets", ("get",)),
    ("batch", "jobs", ("list",)),
)


def team_manifests(platform: Platform, team_name: str) -> list[dict[str, Any]]:
    team = platform.teams[team_name]
    ns = team.namespace
    labels = {MANAGED_BY: MANAGER, TEAM_LABEL: team.name}
    meta = {"namespace": ns, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": team.service_account, **meta},
         "automountServiceAccountToken": False},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEPLOYER, **meta}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": DEPLOYER, **meta},
         "rules": [{"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
                   for group, resource, verbs in DEPLOYER_RULES]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": DEPLOYER, **meta},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": DEPLOYER},
         "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER, "namespace": ns}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": f"{DEPLOYER}-{ns}", "labels": labels},
         "rules": [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [ns],
                    "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": f"{DEPLOYER}-{ns}", "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": f"{DEPLOYER}-{ns}"},
         "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER, "namespace": ns}]},
        _limit_range(team, meta),
        _quota(team, meta),
    ]


def _limit_range(team: Team, meta: dict[str, Any]) -> dict[str, Any]:
    defaults = BUILTIN_DEFAULTS["resources"]
    limit: dict[str, Any] = {
        "type": "Container",
        "defaultRequest": {"cpu": defaults["cpu"], "memory": defaults["memory"]},
        "default": {"memory": defaults["memory"]},
    }
    caps = team.max_task_resources
    if caps is not None:
        limit["max"] = {k: v for k, v in (("cpu", caps.cpu), ("memory", caps.memory)) if v}
    return {"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": "pipelinectl-tasks", **meta}, "spec": {"limits": [limit]}}


def _quota(team: Team, meta: dict[str, Any]) -> dict[str, Any]:
    hard: dict[str, str] = {"count/cronjobs.batch": str(MAX_CRONJOBS)}
    caps = team.max_task_resources
    if caps is not None:
        if caps.cpu:
            hard["requests.cpu"] = _times(caps.cpu, CONCURRENT_TASKS)
        if caps.memory:
            hard["requests.memory"] = _times(caps.memory, CONCURRENT_TASKS)
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": "pipelinectl-tasks", **meta}, "spec": {"hard": hard}}


def _times(quantity: str, factor: int) -> str:
    """`factor` times a quantity, in its own unit: 32Gi x 10 = 320Gi, 500m x 10 = 5000m."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", quantity)
    if match:
        number = Decimal(match.group(1)) * factor
        if number == int(number):
            return f"{int(number)}{match.group(2)}"
    return str(int(parse_quantity(quantity) * factor))

"""A checker of OpenShift's `restricted-v2` SecurityContextConstraints, the SCC every
authenticated user's pods get by default (OpenShift 4.11+), written from its published
definition (docs.openshift.com, "Managing security context constraints", and the object
`oc get scc restricted-v2 -o yaml` prints):

    allowHostDirVolumePlugin: false     allowHostIPC: false      allowHostNetwork: false
    allowHostPID: false                 allowHostPorts: false    allowPrivilegedContainer: false
    allowPrivilegeEscalation: false     allowedCapabilities: [NET_BIND_SERVICE]
    requiredDropCapabilities: [ALL]     fsGroup: MustRunAs       runAsUser: MustRunAsRange
    seLinuxContext: MustRunAs           supplementalGroups: RunAsAny
    seccompProfiles: [runtime/default]
    volumes: [configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim,
              projected, secret]

MustRunAsRange and MustRunAs take the namespace's ranges (its openshift.io/sa.scc.uid-range
and supplemental-groups annotations): a pod that sets no user gets the range's first UID; one
that sets a user or an fsGroup outside the range is rejected. `violations` returns why a pod
spec would be rejected ([] when admitted); it is a test's model of the admission plugin, not
the plugin itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALLOWED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                             "persistentVolumeClaim", "projected", "secret"})
ALLOWED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
# A namespace's ranges as OpenShift assigns them: <first>/<size>.
UID_RANGE = (1000680000, 10000)
GROUP_RANGE = (1000680000, 10000)


def _in(value: int, span: tuple[int, int]) -> bool:
    return span[0] <= value < span[0] + span[1]


def violations(pod: Mapping[str, Any]) -> list[str]:
    """Why restricted-v2 would reject a pod with this spec (camelCase, as in the API)."""
    found = []
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            found.append(f"{host}: true is not allowed")
    security = pod.get("securityContext") or {}
    uid = security.get("runAsUser")
    if uid is not None and not _in(int(uid), UID_RANGE):
        found.append(f"pod runAsUser {uid} is not in the namespace's range {UID_RANGE[0]}-"
                     f"{UID_RANGE[0] + UID_RANGE[1] - 1} (MustRunAsRange)")
    group = security.get("fsGroup")
    if group is not None and not _in(int(group), GROUP_RANGE):
        found.append(f"fsGroup {group} is not in the namespace's range (MustRunAs)")
    if security.get("seLinuxOptions"):
        found.append("seLinuxOptions are set by the namespace (MustRunAs)")
    found += _seccomp(security.get("seccompProfile"), "pod")
    for volume in pod.get("volumes") or []:
        kinds = [k for k in volume if k != "name"]
        for kind in kinds:
            if kind not in ALLOWED_VOLUMES:
                found.append(f"volume {volume.get('name')}: {kind} volumes are not allowed")
    for key in ("initContainers", "containers"):
        for container in pod.get(key) or []:
            found += _container(container)
    return found


def _seccomp(profile: Mapping[str, Any] | None, where: str) -> list[str]:
    if profile and profile.get("type") != "RuntimeDefault":
        return [f"{where} seccompProfile {profile.get('type')} is not allowed (runtime/default)"]
    return []


def _container(container: Mapping[str, Any]) -> list[str]:
    name = container.get("name", "?")
    found = []
    security = container.get("securityContext") or {}
    if security.get("privileged"):
        found.append(f"container {name}: privileged is not allowed")
    if security.get("allowPrivilegeEscalation") is True:
        found.append(f"container {name}: allowPrivilegeEscalation must be false")
    uid = security.get("runAsUser")
    if uid is not None and not _in(int(uid), UID_RANGE):
        found.append(f"container {name}: runAsUser {uid} is not in the namespace's range "
                     "(MustRunAsRange)")
    added = set((security.get("capabilities") or {}).get("add") or [])
    for capability in sorted(added - ALLOWED_CAPABILITIES):
        found.append(f"container {name}: capability {capability} may not be added")
    found += _seccomp(security.get("seccompProfile"), f"container {name}")
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            found.append(f"container {name}: hostPort is not allowed")
    return found


def pod_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a CronJob, a Job or a Pod."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if obj.get("kind") in ("CronJob", "Job"):
        spec = (spec.get("template") or {}).get("spec") or {}
    return spec

"""The Kubernetes API through the official `kubernetes` client.

Only the kinds pipelinectl owns or reads. Objects are written with server-side apply (field
manager `pipelinectl`) and carry the hash of what was applied, so an unchanged object is not
written again. Transient failures (429, 5xx, connection errors) are retried with backoff; any
other API error becomes a KubeError that says what was refused and why. Credentials come the
standard ways (KUBECONFIG or ~/.kube/config, else the in-cluster service account) and are
never printed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipelinectl.errors import UserError
from pipelinectl.vocabulary import APPLIED_HASH_ANNOTATION, FIELD_MANAGER

TRANSIENT = frozenset({429, 500, 502, 503, 504})
RETRIES = 5


class KubeError(UserError):
    """The API server refused a request, or could not be reached."""


@dataclass(frozen=True)
class Kind:
    api: str  # BatchV1Api | CoreV1Api
    suffix: str  # read_namespaced_<suffix>
    group: str
    resource: str


KINDS: dict[str, Kind] = {
    "CronJob": Kind("BatchV1Api", "cron_job", "batch", "cronjobs"),
    "Job": Kind("BatchV1Api", "job", "batch", "jobs"),
    "ConfigMap": Kind("CoreV1Api", "config_map", "", "configmaps"),
    "Secret": Kind("CoreV1Api", "secret", "", "secrets"),
    "Pod": Kind("CoreV1Api", "pod", "", "pods"),
}


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return obj.get("metadata", {}).get("annotations") or {}


def applied_hash(obj: Mapping[str, Any]) -> str:
    """sha256 of the object as pipelinectl applies it, without this annotation itself."""
    document = json.loads(json.dumps(obj))
    document.get("metadata", {}).get("annotations", {}).pop(APPLIED_HASH_ANNOTATION, None)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


class Kube:
    checks_secrets = True  # a cluster can say whether a Secret exists (a folder cannot)
    keeps_jobs = True  # runs are Jobs and Pods, read by `status`

    def __init__(self, client: Any, sleep: Callable[[float], None] = time.sleep,
                 retries: int = RETRIES) -> None:
        import kubernetes  # slow to import (~1 s): only the commands that talk to a cluster

        self._k8s = kubernetes
        self._client = client
        self._sleep = sleep
        self._retries = retries
        self.host = str(getattr(client.configuration, "host", "?"))

    @classmethod
    def connect(cls, environ: Mapping[str, str]) -> Kube:
        import kubernetes

        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=environ.get("KUBECONFIG"), client_configuration=configuration)
        except (kubernetes.config.ConfigException, FileNotFoundError, TypeError) as outside:
            try:
                kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration)
            except kubernetes.config.ConfigException:
                raise KubeError(f"no Kubernetes credentials: {outside}",
                                hint="set KUBECONFIG (in CI: a file from a protected "
                                     "variable), or run inside the cluster") from None
        return cls(kubernetes.client.ApiClient(configuration))

    # -- reads ----------------------------------------------------------------------------
    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._call("get", kind, namespace, name, "read_namespaced", name, namespace,
                          missing_ok=True)

    def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        answer = self._call("list", kind, namespace, "", "list_namespaced", namespace,
                            label_selector=selector)
        return list((answer or {}).get("items") or [])

    def namespace_exists(self, namespace: str) -> bool:
        api = self._k8s.client.CoreV1Api(self._client)
        return self._request("get", "Namespace", "", namespace,
                             lambda: api.read_namespace(namespace, _preload_content=False),
                             missing_ok=True) is not None

    def allowed(self, verb: str, kind: str, namespace: str) -> bool:
        """SelfSubjectAccessReview: may these credentials do `verb` on `kind` here?"""
        models = self._k8s.client
        review = models.V1SelfSubjectAccessReview(
            spec=models.V1SelfSubjectAccessReviewSpec(
                resource_attributes=models.V1ResourceAttributes(
                    namespace=namespace, verb=verb, group=KINDS[kind].group,
                    resource=KINDS[kind].resource)))
        api = models.AuthorizationV1Api(self._client)
        answer = self._request("create", "SelfSubjectAccessReview", namespace, "",
                               lambda: api.create_self_subject_access_review(
                                   review, _preload_content=False))
        return bool((answer or {}).get("status", {}).get("allowed"))

    # -- writes ---------------------------------------------------------------------------
    def is_current(self, obj: dict[str, Any], live: Mapping[str, Any]) -> bool:
        return annotations_of(live).get(APPLIED_HASH_ANNOTATION) == applied_hash(obj)

    def apply(self, obj: dict[str, Any], live: Mapping[str, Any] | None) -> bool:
        """Server-side apply `obj` unless `live` already carries its hash; True if written."""
        if live is not None and self.is_current(obj, live):
            return False
        digest = applied_hash(obj)
        body = json.loads(json.dumps(obj))
        body["metadata"].setdefault("annotations", {})[APPLIED_HASH_ANNOTATION] = digest
        meta = body["metadata"]
        self._call("apply", body["kind"], meta["namespace"], meta["name"], "patch_namespaced",
                   meta["name"], meta["namespace"], body, field_manager=FIELD_MANAGER,
                   force=True, _content_type="application/apply-patch+yaml")
        return True

    def create(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        meta = obj["metadata"]
        return self._call("create", obj["kind"], meta["namespace"], meta["name"],
                          "create_namespaced", meta["namespace"], obj, conflict_ok=True)

    def replace(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        meta = obj["metadata"]
        return self._call("replace", obj["kind"], meta["namespace"], meta["name"],
                          "replace_namespaced", meta["name"], meta["namespace"], obj,
                          conflict_ok=True)

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Delete one object; False if already gone. A CronJob's Jobs are orphaned, not
        deleted: a run in progress finishes (its TTL cleans it up afterwards)."""
        extra: dict[str, Any] = {"propagation_policy": "Orphan"} if kind == "CronJob" else {}
        answer = self._call("delete", kind, namespace, name, "delete_namespaced", name,
                            namespace, missing_ok=True, **extra)
        return answer is not None

    # -- transport ------------------------------------------------------------------------
    def _call(self, verb: str, kind: str, namespace: str, name: str, method: str,
              *args: Any, missing_ok: bool = False, conflict_ok: bool = False,
              **kwargs: Any) -> dict[str, Any] | None:
        spec = KINDS[kind]
        api = getattr(self._k8s.client, spec.api)(self._client)
        function = getattr(api, f"{method}_{spec.suffix}")
        return self._request(verb, kind, namespace, name,
                             lambda: function(*args, _preload_content=False, **kwargs),
                             missing_ok=missing_ok, conflict_ok=conflict_ok)

    def _request(self, verb: str, kind: str, namespace: str, name: str,
                 send: Callable[[], Any], missing_ok: bool = False,
                 conflict_ok: bool = False) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        for attempt in range(self._retries + 1):
            try:
                response = send()
                data = response.data
                return json.loads(data) if data else {}
            except ApiException as exc:
                if (exc.status == 404 and missing_ok) or (exc.status == 409 and conflict_ok):
                    return None
                if exc.status in TRANSIENT and attempt < self._retries:
                    self._sleep(_delay(attempt, exc))
                    continue
                raise _refused(exc, verb, kind, namespace, name) from None
            except (HTTPError, OSError) as exc:
                if attempt < self._retries:
                    self._sleep(_delay(attempt, None))
                    continue
                raise KubeError(f"cannot reach the Kubernetes API at {self.host}: {exc}",
                                hint="check the cluster address in the kubeconfig and the "
                                     "network") from None
        raise AssertionError("unreachable")


def _delay(attempt: int, exc: Any) -> float:
    headers: Any = getattr(exc, "headers", None) or {}
    retry_after: Any = headers.get("Retry-After") if hasattr(headers, "get") else None
    if retry_after is not None:
        try:
            return float(min(float(retry_after), 30.0))
        except ValueError:
            pass
    return float(min(0.5 * 2.0 ** attempt, 8.0))


def _refused(exc: Any, verb: str, kind: str, namespace: str, name: str) -> KubeError:
    try:
        message = json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        message = exc.reason
    what = f"{kind} {namespace}/{name}" if name else f"{kind} in namespace {namespace}"
    if exc.status in (401, 403):
        return KubeError(f"the deploy credentials may not {verb} {what}: {message}",
                         hint="the team's deployer Role must allow it (see manifests/)")
    if exc.status == 404:
        return KubeError(f"cannot {verb} {what}: {message}",
                         hint="the platform admin creates the team's namespace (manifests/)")
    if exc.status == 409:
        return KubeError(f"cannot {verb} {what}: {message}",
                         hint="another client manages this object; remove it or its fields "
                              "if it is not the pipeline's")
    return KubeError(f"the Kubernetes API answered {exc.status} to {verb} {what}: {message}",
                     hint="transient errors were retried; run it again (a deploy records its "
                          "state last, so the previous record is intact and a rerun converges)")

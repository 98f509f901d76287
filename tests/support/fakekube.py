"""A stateful fake Kubernetes API server on 127.0.0.1, speaking the real HTTP API.

No API server can be installed on the CI machine, so the deploy tests drive the real
`kubernetes` client against this: discovery (/version, /api, /apis and the resource lists),
GET and LIST (label selectors: =, ==, !=, exists, !exists, in, notin), server-side apply
(PATCH application/apply-patch+yaml, fieldManager, force, managed fields, conflicts with other
managers), POST create, PUT update with resourceVersion checks, DELETE, SelfSubjectAccessReview,
injected faults (status code for the next N matching requests) and a request log.

Only what pipelinectl uses is modelled: Namespaces, ConfigMaps, Secrets, Pods, CronJobs, Jobs.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import selectors
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

# (group, version, plural) -> (kind, namespaced)
RESOURCES: dict[tuple[str, str, str], tuple[str, bool]] = {
    ("", "v1", "namespaces"): ("Namespace", False),
    ("", "v1", "configmaps"): ("ConfigMap", True),
    ("", "v1", "secrets"): ("Secret", True),
    ("", "v1", "pods"): ("Pod", True),
    ("batch", "v1", "cronjobs"): ("CronJob", True),
    ("batch", "v1", "jobs"): ("Job", True),
}
GROUPS = {"batch": "v1", "authorization.k8s.io": "v1"}
_PATH = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
                   r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$")
_NAMESPACE_ITSELF = re.compile(r"^/api/v1/namespaces(?:/(?P<name>[^/]+))?$")


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    status: int = 0
    name: str = ""  # the object's name: the path's last part, or the body's (POST)

    @property
    def write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE") and \
            "selfsubjectaccessreviews" not in self.path


@dataclass
class FakeKube:
    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    denied: set[tuple[str, str, str]] = field(default_factory=set)  # verb, resource, namespace
    _versions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(_Handler):
            kube = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._wake = socket.socketpair()
        self._serving = threading.Thread(target=self._serve, daemon=True)
        self._serving.start()
        return self.url

    def _serve(self) -> None:
        """serve_forever, but woken at once by stop(): its poll interval cost every test
        that stopped a server half a second."""
        assert self._server is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._wake[0] in ready:
                    return
                self._server._handle_request_noblock()  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._server is not None and self._serving.is_alive():
            self._wake[1].send(b"x")
            self._serving.join()
            self._server.server_close()
            for end in self._wake:
                end.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "deployer", "user": {"token": "fake-token-do-not-print"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "deployer",
                                                      "namespace": namespace}}],
        }))
        return path

    # -- test helpers ---------------------------------------------------------------------
    def add_namespace(self, name: str) -> None:
        self.put(("", "v1", "namespaces"), None, {"metadata": {"name": name}})

    def put(self, resource: tuple[str, str, str], namespace: str | None,
            body: dict[str, Any], manager: str = "kubectl") -> dict[str, Any]:
        """Store an object as if another client had created it."""
        with self._lock:
            return self._store(resource, namespace, copy.deepcopy(body), manager, "Update")

    def get(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        for (group, version, kind_plural), _ in RESOURCES.items():
            if kind_plural == plural:
                api_version = f"{group}/{version}" if group else version
                found = self.objects.get((api_version, plural, namespace or "", name))
                return copy.deepcopy(found) if found else None
        raise KeyError(plural)

    def suspend_by_hand(self, namespace: str, name: str, suspend: bool,
                        manager: str = "kubectl-patch",
                        time: str = "2026-11-23T09:12:00Z") -> None:
        """`kubectl patch cronjob NAME -p '{"spec":{"suspend":...}}'`: the value changes, and
        `manager` gets a managedFields entry owning spec.suspend, with its time, as an API
        server records it (the object's other entries stay)."""
        with self._lock:
            obj = self.objects[("batch/v1", "cronjobs", namespace, name)]
            obj["spec"]["suspend"] = suspend
            obj["metadata"]["resourceVersion"] = str(next(self._versions))
            obj["metadata"]["managedFields"] = [
                m for m in obj["metadata"].get("managedFields", []) if m["manager"] != manager
            ] + [{"manager": manager, "operation": "Update", "apiVersion": "batch/v1",
                  "time": time, "fieldsType": "FieldsV1",
                  "fieldsV1": {"f:spec": {"f:suspend": {}}}}]

    def fail(self, method: str, path: str, status: int, times: int = 1) -> None:
        self.faults.append(Fault(method, re.compile(path), status, times))

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.write]

    # -- the API ----------------------------------------------------------------------------
    def _store(self, resource: tuple[str, str, str], namespace: str | None,
               body: dict[str, Any], manager: str, operation: str) -> dict[str, Any]:
        group, version, plural = resource
        kind, _ = RESOURCES[resource]
        key = (f"{group}/{version}" if group else version, plural, namespace or "",
               body["metadata"]["name"])
        old = self.objects.get(key)
        meta = body.setdefault("metadata", {})
        meta.pop("managedFields", None)
        if namespace:
            meta["namespace"] = namespace
        meta["resourceVersion"] = str(next(self._versions))
        meta["uid"] = old["metadata"]["uid"] if old else f"uid-{meta['resourceVersion']}"
        meta["creationTimestamp"] = (old["metadata"]["creationTimestamp"] if old
                                     else "2026-01-01T00:00:00Z")
        managers = [m for m in (old or {}).get("metadata", {}).get("managedFields", [])
                    if m["manager"] != manager]
        managers.append({"manager": manager, "operation": operation, "apiVersion": key[0],
                         "fieldsType": "FieldsV1", "fieldsV1": {}})
        meta["managedFields"] = managers
        body["apiVersion"] = key[0]
        body["kind"] = kind
        self.objects[key] = body
        return copy.deepcopy(body)


class _Handler(BaseHTTPRequestHandler):
    kube: FakeKube
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        parts = urllib.parse.urlsplit(self.path)
        parts = parts._replace(path=parts.path.rstrip("/") or "/")
        query = dict(urllib.parse.parse_qsl(parts.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(method, parts.path, query, name=_name_of(method, parts.path, body))
        with self.kube._lock:
            self.kube.requests.append(request)
            fault = next((f for f in self.kube.faults if f.method == method and f.times > 0
                          and f.path.search(parts.path)), None)
            if fault is not None:
                fault.times -= 1
                status, answer = fault.status, _status(fault.status, "injected fault")
            else:
                status, answer = self._answer(method, parts.path, query, body)
            request.status = status
        self._reply(status, answer)

    def _reply(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, method: str, path: str, query: dict[str, str],
                body: bytes) -> tuple[int, dict[str, Any]]:
        discovery = _discovery(path)
        if discovery is not None:
            return 200, discovery
        if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" and method == "POST":
            return self._review(json.loads(body or b"{}"))
        match = _NAMESPACE_ITSELF.match(path)
        if match:
            resource, namespace, name = ("", "v1", "namespaces"), None, match.group("name")
        else:
            match = _PATH.match(path)
            if not match:
                return 404, _status(404, f"no such path {path}")
            group = match.group("group") or ""
            version = match.group("core") or match.group("version")
            resource = (group, version, match.group("plural"))
            namespace, name = match.group("namespace"), match.group("name")
        if resource not in RESOURCES:
            return 404, _status(404, "the server could not find the requested resource")
        if namespace and method != "GET" and \
                ("v1", "namespaces", "", namespace) not in self.kube.objects:
            return 404, _status(404, f'namespaces "{namespace}" not found', "NotFound")
        return self._resource(method, resource, namespace, name, query, body)

    def _resource(self, method: str, resource: tuple[str, str, str], namespace: str | None,
                  name: str | None, query: dict[str, str],
                  body: bytes) -> tuple[int, dict[str, Any]]:
        group, version, plural = resource
        kind, _ = RESOURCES[resource]
        api_version = f"{group}/{version}" if group else version
        key = (api_version, plural, namespace or "", name or "")
        objects = self.kube.objects
        if method == "GET" and name is None:
            items = [copy.deepcopy(o) for k, o in sorted(objects.items())
                     if k[:2] == (api_version, plural) and (namespace is None or k[2] == namespace)
                     and _selected(o, query.get("labelSelector", ""))]
            return 200, {"kind": f"{kind}List", "apiVersion": api_version,
                         "metadata": {"resourceVersion": str(len(self.kube.requests))},
                         "items": items}
        if method == "GET":
            found = objects.get(key)
            return (200, copy.deepcopy(found)) if found else (404, _not_found(plural, name))
        if method == "DELETE":
            if key not in objects:
                return 404, _not_found(plural, name)
            del objects[key]
            return 200, _status(200, "deleted", "Success")
        document = _parse(body)
        if method == "POST":
            name = document.get("metadata", {}).get("name")
            if (api_version, plural, namespace or "", name) in objects:
                return 409, _status(409, f'{plural} "{name}" already exists', "AlreadyExists")
            return 201, self.kube._store(resource, namespace, document, "kubectl", "Update")
        if method == "PUT":
            old = objects.get(key)
            if old is None:
                return 404, _not_found(plural, name)
            sent = document.get("metadata", {}).get("resourceVersion")
            if sent and sent != old["metadata"]["resourceVersion"]:
                return 409, _status(409, "the object has been modified", "Conflict")
            return 200, self.kube._store(resource, namespace, document,
                                         query.get("fieldManager", "kubectl"), "Update")
        return self._apply(resource, namespace, key, query, document)

    def _apply(self, resource: tuple[str, str, str], namespace: str | None,
               key: tuple[str, str, str, str], query: dict[str, str],
               document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        content_type = self.headers.get("Content-Type", "")
        if content_type.split(";")[0] != "application/apply-patch+yaml":
            return 415, _status(415, f"only server-side apply is served, not {content_type}")
        manager = query.get("fieldManager")
        if not manager:
            return 400, _status(400, "fieldManager is required for apply patch")
        if document.get("metadata", {}).get("name") != key[3]:
            return 400, _status(400, "the name of the object does not match the URL")
        old = self.kube.objects.get(key)
        others = [m["manager"] for m in (old or {}).get("metadata", {}).get("managedFields", [])
                  if m["manager"] != manager]
        if old is not None and others and query.get("force") != "true":
            return 409, _status(409, f'Apply failed with 1 conflict: conflict with "{others[0]}"',
                                "Conflict")
        created = old is None
        stored = self.kube._store(resource, namespace, document, manager, "Apply")
        return (201 if created else 200), stored

    def _review(self, review: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        attributes = review.get("spec", {}).get("resourceAttributes", {})
        wanted = (attributes.get("verb", ""), attributes.get("resource", ""),
                  attributes.get("namespace", ""))
        review["status"] = {"allowed": wanted not in self.kube.denied}
        review.setdefault("apiVersion", "authorization.k8s.io/v1")
        review.setdefault("kind", "SelfSubjectAccessReview")
        return 201, review


def _discovery(path: str) -> dict[str, Any] | None:
    if path == "/version":
        return {"major": "1", "minor": "30", "gitVersion": "v1.30.0", "gitCommit": "fake",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.22", "compiler": "gc", "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"]}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
            for g, v in sorted(GROUPS.items())]}
    for (group, version), prefix in (((g, v), f"/apis/{g}/{v}") for g, v in GROUPS.items()):
        if path == prefix:
            return _resource_list(group, version)
    if path == "/api/v1":
        return _resource_list("", "v1")
    return None


def _resource_list(group: str, version: str) -> dict[str, Any]:
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    resources = [{"name": plural, "singularName": "", "namespaced": namespaced, "kind": kind,
                  "verbs": verbs}
                 for (g, v, plural), (kind, namespaced) in RESOURCES.items()
                 if (g, v) == (group, version)]
    if group == "authorization.k8s.io":
        resources = [{"name": "selfsubjectaccessreviews", "singularName": "",
                      "namespaced": False, "kind": "SelfSubjectAccessReview",
                      "verbs": ["create"]}]
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


def _name_of(method: str, path: str, body: bytes) -> str:
    if method != "POST":
        return path.rsplit("/", 1)[-1]
    try:
        found = json.loads(body or b"{}").get("metadata", {}).get("name", "")
    except (ValueError, AttributeError):
        return ""
    return found if isinstance(found, str) else ""


def _parse(body: bytes) -> dict[str, Any]:
    value = yaml.safe_load(body.decode() or "{}")  # JSON is YAML
    return value if isinstance(value, dict) else {}


def _selected(obj: dict[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in re.split(r",(?![^(]*\))", selector))):
        if match := re.fullmatch(r"(\S+?)\s*(==|=|!=)\s*(\S*)", term):
            key, op, value = match.groups()
            if (labels.get(key) == value) != (op != "!="):
                return False
        elif match := re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", term):
            key, op, values = match.groups()
            inside = labels.get(key) in {v.strip() for v in values.split(",")}
            if inside != (op == "in"):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _status(code: int, message: str, reason: str = "") -> dict[str, Any]:
    reasons = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 415: "UnsupportedMediaType",
               429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success" if code < 300 else "Failure", "message": message,
            "reason": reason or reasons.get(code, ""), "code": code}


def _not_found(plural: str, name: str | None) -> dict[str, Any]:
    return _status(404, f'{plural} "{name}" not found', "NotFound")

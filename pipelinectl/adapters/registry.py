"""A small client for the registry HTTP API (OCI distribution v2): enough to decide a build.

Asks whether a tag exists (HEAD manifest), lists tags, reads an image's labels, and copies a
manifest to a new tag. Speaks token (Bearer) and Basic auth. Registries on the loopback
interface are spoken to over plain HTTP, as docker itself does; all others over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelinectl.adapters.credentials import Credentials
from pipelinectl.errors import UserError

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_INDEX_TYPES = MANIFEST_TYPES[:2]
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_NEXT = re.compile(r"<([^>]+)>;\s*rel=\"?next\"?")
TIMEOUT = 30.0


class RegistryError(UserError):
    """The registry could not be reached, refused us, or answered something unexpected."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryClient:
    def __init__(self, host: str, credentials: Credentials | None,
                 timeout: float = TIMEOUT) -> None:
        self.host = host
        self.credentials = credentials
        self.timeout = timeout
        api_host = "registry-1.docker.io" if host == "docker.io" else host
        self.base = ("http" if is_loopback(host) else "https") + "://" + api_host
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- questions -----------------------------------------------------------------------
    def manifest_digest(self, repo: str, reference: str) -> str | None:
        """The digest a tag points to, or None when the tag (or repository) does not exist."""
        response = self._call("HEAD", repo, f"/v2/{repo}/manifests/{reference}",
                              {"Accept": ", ".join(MANIFEST_TYPES)}, missing_ok=True)
        if response.status == 404:
            return None
        digest = response.headers.get("docker-content-digest")
        if digest:
            return digest
        body, _ = self.manifest(repo, reference)  # some registries omit it on HEAD
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def manifest(self, repo: str, reference: str) -> tuple[bytes, str]:
        response = self._call("GET", repo, f"/v2/{repo}/manifests/{reference}",
                              {"Accept": ", ".join(MANIFEST_TYPES)})
        return response.body, response.headers.get("content-type", MANIFEST_TYPES[3])

    def tags(self, repo: str) -> list[str]:
        """All tags of a repository ([] when it does not exist yet), following pagination."""
        found: list[str] = []
        path: str | None = f"/v2/{repo}/tags/list?n=1000"
        while path:
            response = self._call("GET", repo, path, {}, missing_ok=True)
            if response.status == 404:
                return found
            found.extend(_json(response, "tag list").get("tags") or [])
            link = _NEXT.search(response.headers.get("link", ""))
            path = link.group(1) if link else None
        return found

    def labels(self, repo: str, reference: str) -> dict[str, str]:
        """The labels of an image's config (of its first manifest, for an index)."""
        body, media_type = self.manifest(repo, reference)
        manifest = _json(Response(200, {}, body), "manifest")
        if media_type.split(";")[0] in _INDEX_TYPES or "manifests" in manifest:
            children = manifest.get("manifests") or []
            if not children:
                return {}
            return self.labels(repo, children[0]["digest"])
        config_digest = (manifest.get("config") or {}).get("digest")
        if not config_digest:
            return {}
        config = _json(self._call("GET", repo, f"/v2/{repo}/blobs/{config_digest}", {}),
                       "image config")
        labels = (config.get("config") or {}).get("Labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    def repositories(self, prefix: str) -> list[str]:
        """The repositories whose name starts with `prefix` + "/", from the catalog,
        following pagination."""
        found: list[str] = []
        path: str | None = "/v2/_catalog?n=1000"
        while path:
            response = self._call("GET", "", path, {}, scope="registry:catalog:*")
            found.extend(r for r in _json(response, "catalog").get("repositories") or []
                         if isinstance(r, str) and r.startswith(prefix + "/"))
            link = _NEXT.search(response.headers.get("link", ""))
            path = link.group(1) if link else None
        return found

    def image(self, repo: str, digest: str) -> tuple[str | None, dict[str, int]]:
        """When the image was made (its config's `created`) and the blobs it is made of
        (layers and config, with their stored sizes; of every manifest of an index)."""
        body, media_type = self.manifest(repo, digest)
        manifest = _json(Response(200, {}, body), "manifest")
        blobs: dict[str, int] = {}
        if media_type.split(";")[0] in _INDEX_TYPES or "manifests" in manifest:
            created = None
            for child in manifest.get("manifests") or []:
                made, more = self.image(repo, str(child["digest"]))
                created = created or made
                blobs.update(more)
            return created, blobs
        config = manifest.get("config") or {}
        for blob in [config, *(manifest.get("layers") or [])]:
            if blob.get("digest"):
                blobs[str(blob["digest"])] = int(blob.get("size") or 0)
        created = None
        if config.get("digest"):
            document = _json(self._call("GET", repo, f"/v2/{repo}/blobs/{config['digest']}",
                                        {}), "image config")
            created = document.get("created") if isinstance(document.get("created"),
                                                             str) else None
        return created, blobs

    # -- changes -------------------------------------------------------------------------
    def delete(self, repo: str, digest: str) -> None:
        """Delete a manifest by digest (every tag pointing at it goes with it)."""
        response = self._call("DELETE", repo, f"/v2/{repo}/manifests/{digest}", {},
                              push=True, missing_ok=True, allowed=(405,))
        if response.status == 405:
            raise RegistryError(
                f"the registry {self.host} does not allow deleting images (405 to DELETE "
                f"{repo}@{digest[:19]})",
                hint="turn deletes on: for the distribution registry `storage: {delete: "
                     "{enabled: true}}` (REGISTRY_STORAGE_DELETE_ENABLED=true); GitLab's "
                     "container registry allows it to a token with delete rights; see "
                     "docs/how-to/registry-retention.md")

    def copy_tag(self, repo: str, source: str, tag: str) -> None:
        """Point `tag` at the manifest `source` points to: a new name, no layer moved."""
        body, media_type = self.manifest(repo, source)
        self._call("PUT", repo, f"/v2/{repo}/manifests/{tag}", {"Content-Type": media_type},
                   body=body, push=True)

    # -- transport -----------------------------------------------------------------------
    def _call(self, method: str, repo: str, path: str, headers: dict[str, str],
              body: bytes | None = None, missing_ok: bool = False,
              push: bool = False, scope: str | None = None,
              allowed: tuple[int, ...] = ()) -> Response:
        scope = scope or f"repository:{repo}:{'pull,push' if push else 'pull'}"
        response = self._send(method, path, headers, body, self._authorization(scope))
        if response.status == 401:
            challenge = response.headers.get("www-authenticate", "")
            response = self._send(method, path, headers, body,
                                  self._answer(challenge, scope))
            if response.status == 401:
                raise self._refused()
        if (response.status == 404 and missing_ok) or response.status in allowed:
            return response
        if response.status == 403:
            raise RegistryError(
                f"{self.host} denied {method} {path.split('?')[0]}"
                + (f" to the credentials from {self.credentials.source}"
                   if self.credentials else " without credentials"),
                hint="check that these credentials may push to this repository")
        if response.status >= 300:
            raise RegistryError(
                f"registry {self.host} answered {response.status} to {method} "
                f"{path.split('?')[0]}{_registry_message(response)}",
                hint="see the registry's log; pipelinectl changed nothing in it")
        return response

    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes | None,
              authorization: str | None) -> Response:
        url = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        if authorization:
            # Not sent on to a redirect (blob storage often lives elsewhere and refuses it).
            request.add_unredirected_header("Authorization", authorization)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return Response(reply.status, _lower(reply.headers), reply.read())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, _lower(exc.headers), exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(
                f"cannot reach the registry {self.host} ({self.base}): {reason}",
                hint="check that it is running and reachable from here, and the platform "
                     "config's `registry`") from None

    def _authorization(self, scope: str) -> str | None:
        with self._lock:
            token = self._tokens.get(scope) or self._tokens.get("basic")
        return token

    def _answer(self, challenge: str, scope: str) -> str:
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if self.credentials is None:
                raise self._no_credentials()
            value = "Basic " + base64.b64encode(
                f"{self.credentials.username}:{self.credentials.secret}".encode()).decode()
            with self._lock:
                self._tokens["basic"] = value
            return value
        if scheme != "bearer":
            raise RegistryError(f"{self.host} asks for an unsupported authentication "
                                f"scheme {scheme!r}")
        params = dict(_CHALLENGE.findall(challenge))
        value = "Bearer " + self._token(params, scope)
        with self._lock:
            self._tokens[scope] = value
        return value

    def _token(self, params: dict[str, str], scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{self.host} sent a token challenge without a realm")
        query = {"service": params.get("service", ""), "scope": scope}
        headers = {}
        if self.credentials is not None:
            if self.credentials.identity_token:
                query.update(grant_type="refresh_token", refresh_token=self.credentials.secret)
            else:
                headers["Authorization"] = "Basic " + base64.b64encode(
                    f"{self.credentials.username}:{self.credentials.secret}".encode()).decode()
        response = self._send("GET", realm + "?" + urllib.parse.urlencode(query), headers,
                              None, None)
        if response.status in (401, 403):
            raise self._refused() if self.credentials else self._no_credentials()
        if response.status >= 300:
            raise RegistryError(f"the token service of {self.host} answered "
                                f"{response.status}{_registry_message(response)}")
        answer = _json(response, "token")
        token = answer.get("token") or answer.get("access_token")
        if not token:
            raise RegistryError(f"the token service of {self.host} sent no token")
        return str(token)

    def _refused(self) -> RegistryError:
        if self.credentials is None:
            return self._no_credentials()
        return RegistryError(
            f"{self.host} refused the credentials from {self.credentials.source}",
            hint="check them (pipelinectl never prints them); renew an expired token")

    def _no_credentials(self) -> RegistryError:
        return RegistryError(
            f"{self.host} asks for credentials and none were found",
            hint=f"run `docker login {self.host}`, or set PIPELINECTL_REGISTRY_USERNAME and "
                 "PIPELINECTL_REGISTRY_PASSWORD (in CI: CI_REGISTRY_USER/CI_REGISTRY_PASSWORD, "
                 "or GITHUB_TOKEN for ghcr.io)")


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers.items() if headers else [])}


def _json(response: Response, what: str) -> dict[str, Any]:
    try:
        value = json.loads(response.body)
    except ValueError:
        raise RegistryError(f"the registry sent a {what} that is not JSON") from None
    if not isinstance(value, dict):
        raise RegistryError(f"the registry sent a {what} that is not a JSON object")
    return value


def _registry_message(response: Response) -> str:
    try:
        errors = json.loads(response.body).get("errors") or []
        return ": " + "; ".join(str(e.get("message") or e.get("code")) for e in errors)
    except (ValueError, AttributeError):
        return ""

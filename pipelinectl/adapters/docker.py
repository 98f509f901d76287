"""The Docker daemon through the docker SDK: is it there, push an image with credentials."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import docker
import docker.errors
import requests

from pipelinectl.adapters.buildkit import DEFAULT_HOST, DaemonError
from pipelinectl.adapters.credentials import Credentials


@dataclass(frozen=True)
class Pushed:
    digest: str  # sha256:... of the manifest in the registry
    uploaded: int  # layers sent
    present: int  # layers the registry already had


def connect(environ: Mapping[str, str]) -> docker.DockerClient:
    host = environ.get("DOCKER_HOST") or DEFAULT_HOST
    try:
        client = docker.from_env(environment=dict(environ), timeout=600)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DaemonError(f"cannot reach the Docker daemon at {host}: {_reason(exc)}",
                          hint="start dockerd (or Docker Desktop), or point DOCKER_HOST at "
                               "it") from None
    return client


def push(client: docker.DockerClient, repository: str, tag: str,
         credentials: Credentials | None, report: Callable[[str], None]) -> Pushed:
    uploaded, present, digest = set(), set(), None
    auth = credentials.docker_auth() if credentials else None
    try:
        for event in client.api.push(repository, tag=tag, stream=True, decode=True,
                                     auth_config=auth):
            if "error" in event or "errorDetail" in event:
                raise _push_error(repository, tag, event, credentials)
            status = str(event.get("status", ""))
            if status == "Pushed":
                uploaded.add(event.get("id"))
            elif status == "Layer already exists" or status.startswith("Mounted from"):
                present.add(event.get("id"))
            aux = event.get("aux") or {}
            digest = aux.get("Digest") or digest
    except (docker.errors.APIError, requests.RequestException) as exc:
        raise DaemonError(f"pushing {repository}:{tag} failed: {_reason(exc)}",
                          hint="check that the registry is up and reachable from the Docker "
                               "daemon") from None
    if digest is None:
        raise DaemonError(f"the Docker daemon pushed {repository}:{tag} but did not report "
                          "its digest")
    report(f"    pushed {repository}:{tag}: {len(uploaded)} layers sent, {len(present)} "
           "already in the registry")
    return Pushed(digest, len(uploaded), len(present))


def _push_error(repository: str, tag: str, event: dict[str, object],
                credentials: Credentials | None) -> DaemonError:
    detail = event.get("errorDetail")
    message = str(detail.get("message") if isinstance(detail, dict) else event.get("error"))
    lowered = message.lower()
    if "unauthorized" in lowered or "authentication required" in lowered or \
            "denied" in lowered:
        source = credentials.source if credentials else "no credentials"
        return DaemonError(f"the registry refused the push of {repository}:{tag} "
                           f"(credentials: {source}): {message}",
                           hint="check that these credentials may push to this repository")
    if "connection refused" in lowered or "no such host" in lowered or "timeout" in lowered:
        return DaemonError(f"the Docker daemon cannot reach the registry to push "
                           f"{repository}:{tag}: {message}",
                           hint="check that the registry is up and reachable from the daemon")
    return DaemonError(f"pushing {repository}:{tag} failed: {message}")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "No such file or directory", "Permission denied"):
        if marker in text:
            return marker.lower()
    return text if len(text) < 300 else text[:297] + "..."

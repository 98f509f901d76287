"""Registry credentials from the usual places, never printed.

Order: $PIPELINECTL_REGISTRY_USERNAME/$PIPELINECTL_REGISTRY_PASSWORD; GitLab CI's
$CI_REGISTRY_USER/$CI_REGISTRY_PASSWORD when $CI_REGISTRY is the registry's host; $GITHUB_TOKEN
(user $GITHUB_ACTOR) for ghcr.io; then docker's config ($DOCKER_CONFIG/config.json or
~/.docker/config.json): credHelpers, credsStore, auths. Nothing found: anonymous.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelinectl.errors import UserError

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io",
                   "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    secret: str = field(repr=False)
    source: str  # where they came from, for messages: never the values
    identity_token: bool = False

    def docker_auth(self) -> dict[str, str]:
        """The auth_config the docker daemon takes for a push."""
        if self.identity_token:
            return {"identitytoken": self.secret}
        return {"username": self.username, "password": self.secret}


def resolve(host: str, environ: Mapping[str, str]) -> Credentials | None:
    user, password = environ.get("PIPELINECTL_REGISTRY_USERNAME"), environ.get(
        "PIPELINECTL_REGISTRY_PASSWORD")
    if user and password:
        return Credentials(user, password, "$PIPELINECTL_REGISTRY_USERNAME/"
                                           "$PIPELINECTL_REGISTRY_PASSWORD")
    if environ.get("CI_REGISTRY") and _same_host(environ["CI_REGISTRY"], host):
        user, password = environ.get("CI_REGISTRY_USER"), environ.get("CI_REGISTRY_PASSWORD")
        if user and password:
            return Credentials(user, password, "$CI_REGISTRY_USER/$CI_REGISTRY_PASSWORD")
    if host == "ghcr.io" and environ.get("GITHUB_TOKEN"):
        return Credentials(environ.get("GITHUB_ACTOR") or "x-access-token",
                           environ["GITHUB_TOKEN"], "$GITHUB_TOKEN")
    return _from_docker_config(host, environ)


def _same_host(a: str, b: str) -> bool:
    def strip(value: str) -> str:
        return value.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return strip(a) == strip(b)


def config_path(environ: Mapping[str, str]) -> Path:
    folder = environ.get("DOCKER_CONFIG") or os.path.join(environ.get("HOME") or
                                                          os.path.expanduser("~"), ".docker")
    return Path(folder) / "config.json"


def _from_docker_config(host: str, environ: Mapping[str, str]) -> Credentials | None:
    path = config_path(environ)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read docker's config {path}: {exc}",
                        hint="fix or remove the file, or set PIPELINECTL_REGISTRY_USERNAME/"
                             "PIPELINECTL_REGISTRY_PASSWORD") from None
    if not isinstance(config, dict):
        return None
    keys = DOCKER_HUB_KEYS if host in DOCKER_HUB_KEYS else (host, f"https://{host}",
                                                            f"http://{host}")
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if isinstance(helpers, dict) and key in helpers:
            return _from_helper(str(helpers[key]), key, path)
    for key in keys:
        entry = (config.get("auths") or {}).get(key)
        if isinstance(entry, dict):
            found = _from_auth_entry(entry, path)
            if found:
                return found
    if config.get("credsStore"):
        return _from_helper(str(config["credsStore"]), keys[0], path, quiet_missing=True)
    return None


def _from_auth_entry(entry: dict[str, Any], path: Path) -> Credentials | None:
    if entry.get("identitytoken"):
        return Credentials("<token>", str(entry["identitytoken"]), str(path), True)
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, colon, password = decoded.partition(":")
        if not colon or not user:
            raise UserError(f"{path}: an 'auth' entry is not base64 of user:password",
                            hint="log in again with docker login")
        return Credentials(user, password, str(path))
    return None


def _from_helper(helper: str, key: str, path: Path,
                 quiet_missing: bool = False) -> Credentials | None:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, "get"], input=key.encode(), capture_output=True,
                              timeout=60, check=False)
    except FileNotFoundError:
        if quiet_missing:
            return None
        raise UserError(f"{path} names the credential helper {program!r}, which is not "
                        "installed", hint="install it, or remove it from the config") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"the credential helper {program} did not answer within 60 s",
                        hint="check that it can run without a prompt in CI") from None
    if done.returncode != 0:
        return None  # the helper has nothing for this registry: go on anonymously
    try:
        answer = json.loads(done.stdout)
        user, secret = str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError):
        raise UserError(f"the credential helper {program} gave an answer that is not "
                        "JSON with Username and Secret") from None
    return Credentials(user, secret, program, identity_token=user == "<token>")

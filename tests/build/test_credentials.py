"""Registry credentials from the environment and docker's config (never the real ~/.docker)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from pipelinectl.adapters.credentials import Credentials, resolve
from pipelinectl.checkout import strip_credentials
from pipelinectl.errors import UserError

HOST = "registry.example.com"


def docker_config(folder: Path, config: object) -> dict[str, str]:
    """An environ whose DOCKER_CONFIG folder holds `config` as config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return {"DOCKER_CONFIG": str(folder)}


def no_config(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "empty-docker").mkdir()
    return {"DOCKER_CONFIG": str(tmp_path / "empty-docker")}


def auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def fake_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "fake",
                answer: str = '{"Username": "u", "Secret": "s"}', code: int = 0) -> Path:
    """docker-credential-<name> first on PATH; it keeps what it was asked in <bin>/asked."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    script = folder / f"docker-credential-{name}"
    script.write_text(f"#!/bin/sh\necho \"$1\" > '{folder}/args'\ncat > '{folder}/asked'\n"
                      f"printf '%s' '{answer}'\nexit {code}\n", encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


# --- environment variables -------------------------------------------------------------------

def test_pipelinectl_variables_win(tmp_path: Path) -> None:
    environ = {**docker_config(tmp_path / "docker", {"auths": {HOST: {"auth": auth("d", "p")}}}),
               "PIPELINECTL_REGISTRY_USERNAME": "robot", "PIPELINECTL_REGISTRY_PASSWORD": "pw",
               "CI_REGISTRY": HOST, "CI_REGISTRY_USER": "ci", "CI_REGISTRY_PASSWORD": "cipw"}
    assert resolve(HOST, environ) == Credentials(
        "robot", "pw", "$PIPELINECTL_REGISTRY_USERNAME/$PIPELINECTL_REGISTRY_PASSWORD")


def test_pipelinectl_username_without_password_is_not_used(tmp_path: Path) -> None:
    environ = {**no_config(tmp_path), "PIPELINECTL_REGISTRY_USERNAME": "robot"}
    assert resolve(HOST, environ) is None


@pytest.mark.parametrize("ci_registry", [HOST, f"https://{HOST}", f"{HOST}/group/project"])
def test_gitlab_ci_registry_for_its_host(tmp_path: Path, ci_registry: str) -> None:
    environ = {**no_config(tmp_path), "CI_REGISTRY": ci_registry,
               "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "job-token"}
    assert resolve(HOST, environ) == Credentials("gitlab-ci-token", "job-token",
                                                 "$CI_REGISTRY_USER/$CI_REGISTRY_PASSWORD")


@pytest.mark.parametrize("ci_registry", ["other.example.com", f"https://other.example.com/{HOST}",
                                         f"{HOST}:5050"])
def test_gitlab_ci_registry_not_for_another_host(tmp_path: Path, ci_registry: str) -> None:
    environ = {**no_config(tmp_path), "CI_REGISTRY": ci_registry,
               "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "job-token"}
    assert resolve(HOST, environ) is None


def test_github_token_for_ghcr(tmp_path: Path) -> None:
    environ = {**no_config(tmp_path), "GITHUB_TOKEN": "ghs_token", "GITHUB_ACTOR": "octocat"}
    assert resolve("ghcr.io", environ) == Credentials("octocat", "ghs_token", "$GITHUB_TOKEN")


def test_github_token_without_actor(tmp_path: Path) -> None:
    environ = {**no_config(tmp_path), "GITHUB_TOKEN": "ghs_token"}
    assert resolve("ghcr.io", environ) == Credentials("x-access-token", "ghs_token",
                                                      "$GITHUB_TOKEN")


def test_github_token_only_for_ghcr(tmp_path: Path) -> None:
    environ = {**no_config(tmp_path), "GITHUB_TOKEN": "ghs_token", "GITHUB_ACTOR": "octocat"}
    assert resolve(HOST, environ) is None
    assert resolve("docker.io", environ) is None


# --- docker's config -------------------------------------------------------------------------

@pytest.mark.parametrize("key", [HOST, f"https://{HOST}", f"http://{HOST}"])
def test_auths_entry(tmp_path: Path, key: str) -> None:
    environ = docker_config(tmp_path / "docker", {"auths": {key: {"auth": auth("me", "p:w")}}})
    assert resolve(HOST, environ) == Credentials("me", "p:w",
                                                 str(tmp_path / "docker" / "config.json"))


def test_auths_entry_of_another_host_is_not_used(tmp_path: Path) -> None:
    environ = docker_config(tmp_path / "docker",
                            {"auths": {"other.example.com": {"auth": auth("me", "pw")}}})
    assert resolve(HOST, environ) is None


def test_docker_hub_keys(tmp_path: Path) -> None:
    environ = docker_config(tmp_path / "docker",
                            {"auths": {"https://index.docker.io/v1/": {"auth": auth("hub", "pw")}}})
    found = resolve("docker.io", environ)
    assert found is not None and (found.username, found.secret) == ("hub", "pw")


def test_identity_token(tmp_path: Path) -> None:
    environ = docker_config(tmp_path / "docker",
                            {"auths": {HOST: {"identitytoken": "refresh-token", "auth": ""}}})
    found = resolve(HOST, environ)
    assert found == Credentials("<token>", "refresh-token",
                                str(tmp_path / "docker" / "config.json"), True)
    assert found.docker_auth() == {"identitytoken": "refresh-token"}


def test_auth_that_is_not_base64(tmp_path: Path) -> None:
    environ = docker_config(tmp_path / "docker", {"auths": {HOST: {"auth": "abc"}}})
    with pytest.raises(UserError) as caught:
        resolve(HOST, environ)
    assert caught.value.message == (f"{tmp_path / 'docker' / 'config.json'}: an 'auth' entry "
                                    "is not base64 of user:password")


def test_cred_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = fake_helper(tmp_path, monkeypatch)
    environ = docker_config(tmp_path / "docker", {
        "credHelpers": {HOST: "fake"}, "auths": {HOST: {"auth": auth("not", "this")}}})
    assert resolve(HOST, environ) == Credentials("u", "s", "docker-credential-fake")
    assert (folder / "args").read_text() == "get\n"
    assert (folder / "asked").read_text() == HOST


def test_cred_helper_identity_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_helper(tmp_path, monkeypatch, answer='{"Username": "<token>", "Secret": "rt"}')
    environ = docker_config(tmp_path / "docker", {"credHelpers": {HOST: "fake"}})
    found = resolve(HOST, environ)
    assert found == Credentials("<token>", "rt", "docker-credential-fake", True)


def test_creds_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = fake_helper(tmp_path, monkeypatch)
    environ = docker_config(tmp_path / "docker", {"credsStore": "fake"})
    assert resolve(HOST, environ) == Credentials("u", "s", "docker-credential-fake")
    assert (folder / "asked").read_text() == HOST


def test_helper_with_nothing_for_the_host(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake_helper(tmp_path, monkeypatch, answer="credentials not found in native keychain", code=1)
    environ = docker_config(tmp_path / "docker", {"credHelpers": {HOST: "fake"}})
    assert resolve(HOST, environ) is None


def test_helper_with_a_garbled_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_helper(tmp_path, monkeypatch, answer='{"Username": "u"}')
    environ = docker_config(tmp_path / "docker", {"credHelpers": {HOST: "fake"}})
    with pytest.raises(UserError) as caught:
        resolve(HOST, environ)
    assert caught.value.message == ("the credential helper docker-credential-fake gave an "
                                    "answer that is not JSON with Username and Secret")


def test_missing_cred_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_helper(tmp_path, monkeypatch)
    environ = docker_config(tmp_path / "docker", {"credHelpers": {HOST: "nothere"}})
    with pytest.raises(UserError) as caught:
        resolve(HOST, environ)
    assert caught.value.message == (
        f"{tmp_path / 'docker' / 'config.json'} names the credential helper "
        "'docker-credential-nothere', which is not installed")


def test_missing_creds_store_is_anonymous(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake_helper(tmp_path, monkeypatch)
    environ = docker_config(tmp_path / "docker", {"credsStore": "nothere"})
    assert resolve(HOST, environ) is None


def test_broken_config(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text('{"auths": ', encoding="utf-8")
    with pytest.raises(UserError) as caught:
        resolve(HOST, {"DOCKER_CONFIG": str(tmp_path / "docker")})
    assert caught.value.message.startswith(
        f"cannot read docker's config {tmp_path / 'docker' / 'config.json'}: ")


def test_nothing_found(tmp_path: Path) -> None:
    assert resolve(HOST, no_config(tmp_path)) is None
    assert resolve(HOST, docker_config(tmp_path / "docker", {})) is None
    assert resolve(HOST, docker_config(tmp_path / "list", [])) is None


def test_config_path_comes_from_docker_config_not_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docker_config(home / ".docker", {"auths": {HOST: {"auth": auth("home", "pw")}}})
    assert resolve(HOST, {**no_config(tmp_path), "HOME": str(home)}) is None
    found = resolve(HOST, {"HOME": str(home)})
    assert found is not None and found.username == "home"


# --- never shown -----------------------------------------------------------------------------

def test_repr_never_shows_the_secret() -> None:
    for credentials in (Credentials("robot", "hunter2-secret", "$X"),
                        Credentials("<token>", "hunter2-secret", "config.json", True)):
        assert "hunter2-secret" not in repr(credentials)
        assert "hunter2-secret" not in str(credentials)
        assert "robot" in repr(Credentials("robot", "hunter2-secret", "$X"))


def test_docker_auth_shapes() -> None:
    assert Credentials("robot", "pw", "$X").docker_auth() == {"username": "robot",
                                                              "password": "pw"}
    assert Credentials("<token>", "rt", "$X", True).docker_auth() == {"identitytoken": "rt"}


# --- remote URLs in labels -------------------------------------------------------------------

@pytest.mark.parametrize("url, shown", [
    ("https://user:s3cret@gitlab.example.com/group/repo.git",
     "https://gitlab.example.com/group/repo.git"),
    ("https://oauth2:tok@gitlab.example.com:8443/group/repo.git",
     "https://gitlab.example.com:8443/group/repo.git"),
    ("https://x-access-token@github.com/org/repo", "https://github.com/org/repo"),
    ("https://user:p@ss@github.com/org/repo", "https://github.com/org/repo"),
    ("ssh://git@gitlab.example.com/group/repo.git", "ssh://gitlab.example.com/group/repo.git"),
    ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
    ("git@gitlab.example.com:group/repo.git", "git@gitlab.example.com:group/repo.git"),
    ("/srv/git/repo.git", "/srv/git/repo.git"),
])
def test_strip_credentials(url: str, shown: str) -> None:
    assert strip_credentials(url) == shown


# --- bugs these tests found (fixed) ----------------------------------------------------------

@pytest.mark.parametrize("value", ["%%%%", base64.b64encode(b"robot").decode()])
def test_auth_that_is_not_user_colon_password(tmp_path: Path, value: str) -> None:
    environ = docker_config(tmp_path / "docker", {"auths": {HOST: {"auth": value}}})
    with pytest.raises(UserError, match="is not base64 of user:password"):
        resolve(HOST, environ)

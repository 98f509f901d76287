"""`pipelinectl build` against a real dockerd (BuildKit) and a real registry on 127.0.0.1.

Base image: pipelinectl-test/debian:bookworm (debootstrap minbase + docker import, made by
tests/services.sh), standing in for python:*-slim and rocker/r-ver, which are out of reach.
Python reaches PyPI only through the platform's CA bundle (the TLS proxy of this network);
R and its packages come from Debian via system_packages. Each module run uses a registry path
of its own, so nothing is found from an earlier run.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelinectl.adapters.registry import RegistryClient
from tests.support.repo import git, write
from tests.support.services import (
    BASE,
    DOCKER,
    HOST,
    HOST_CA,
    PYTHON_SPEC,
    RegistryLog,
    built_reference,
    docker_run,
    platform_file,
    python_repo,
    repository,
    tags,
)


@pytest.fixture(scope="module")
def marker_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The host's CA bundle plus a certificate of our own, to look for in the image."""
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=pipelinectl-test-marker", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "marker.pem")], check=True, capture_output=True)
    marker = (folder / "marker.pem").read_text()
    bundle = folder / "bundle.pem"
    bundle.write_text(HOST_CA.read_text() + marker)
    body = "".join(marker.splitlines()[1:-1])
    return bundle, body[40:120]  # a stretch of the certificate's own base64


@pytest.fixture(scope="module")
def etl(services: None, marker_ca: tuple[Path, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A Python pipeline, built once with the marker CA bundle: (repo, first build output)."""
    folder = python_repo(tmp_path_factory.mktemp("etl"), marker_ca[0])
    env = {**os.environ, "PIPELINECTL_PLATFORM": str(folder / "platform.yaml")}
    done = subprocess.run([_cli(), "build"], cwd=folder, env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    yield folder, done.stdout + done.stderr


def _cli() -> str:
    return str(Path(os.sys.executable).parent / "pipelinectl")


def test_python_image_is_built_pushed_and_runs(etl: tuple[Path, str]) -> None:
    folder, output = etl
    assert "etl: building " in output
    assert "  why: no earlier image of this pipeline in the registry" in output
    assert "    [7/7] COPY code/ /app/" in output
    reference = built_reference(output)
    assert reference.startswith(f"{HOST}/{repository(folder)}@sha256:")
    # six came from PyPI over HTTPS through the TLS proxy: only possible with the CA bundle.
    assert docker_run(reference, "python", "etl.py") == "six 1.16.0\n"
    assert docker_run(reference, "id", "-u") == "10001\n"
    assert docker_run(reference, "pwd") == "/app\n"
    head = git(folder, "rev-parse", "HEAD")
    content = [t for t in tags(repository(folder)) if t.startswith("content-")]
    assert tags(repository(folder)) == sorted([*content, f"git-{head}"])
    labels = RegistryClient(HOST, None).labels(repository(folder), f"git-{head}")
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.created"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(git(folder, "log", "-1", "--format=%ct"))))
    assert labels["io.pipelinectl.content-digest"] == "sha256:" + content[0][len("content-"):]


def test_ca_bundle_never_lands_in_the_image(etl: tuple[Path, str],
                                            marker_ca: tuple[Path, str]) -> None:
    reference = built_reference(etl[1])
    saved = subprocess.run([DOCKER, "save", reference], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        layers = {m.name: outer.extractfile(m).read()  # type: ignore[union-attr]
                  for m in outer.getmembers() if m.name.endswith("layer.tar")}
    assert len(layers) >= 5
    for name, data in layers.items():
        assert marker_ca[1].encode() not in data, f"CA marker found in {name}"
        with tarfile.open(fileobj=io.BytesIO(data)) as layer:
            assert not [n for n in layer.getnames() if "ca-bundle" in n], name
    history = subprocess.run([DOCKER, "history", "--no-trunc", reference], capture_output=True,
                             text=True, check=True).stdout
    assert marker_ca[1] not in history and "with-ca.sh pip install" in history


def test_unchanged_inputs_build_and_push_nothing(etl: tuple[Path, str], run) -> None:
    folder = etl[0]
    log = RegistryLog()
    since = f"{time.time():.6f}"  # to the microsecond: the fixture built just before
    result = run("build", "--platform", str(folder / "platform.yaml"), cwd=folder)
    assert result.code == 0, result.err
    assert result.out == f"etl/pipeline.yaml: etl: up to date {built_reference(etl[1])}\n"
    assert result.err.startswith("1 up to date (")
    methods = {m for m, _ in log.requests(repository(folder))}
    assert methods <= {"GET", "HEAD"}, log.requests(repository(folder))
    # this repository's image events only: the daemon may be building others meanwhile
    events = [line.split(" ", 1)[0] for line in subprocess.run(
        [DOCKER, "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
         "type=image", "--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}"],
        capture_output=True, text=True, check=True).stdout.splitlines()
        if repository(folder) in line]
    assert "push" not in events and "tag" not in events, events


def layers_of(folder: Path, reference: str) -> list[str]:
    body, _ = RegistryClient(HOST, None).manifest(repository(folder), reference.split("@")[1])
    return [layer["digest"] for layer in json.loads(body)["layers"]]


def test_code_change_rebuilds_only_the_code_layer_and_a_revert_builds_nothing(
        etl: tuple[Path, str], run) -> None:
    folder = etl[0]
    first = built_reference(etl[1])
    platform = str(folder / "platform.yaml")
    script = folder / "etl" / "etl.py"
    script.write_text(script.read_text() + "print('v2')\n")
    git(folder, "commit", "-qam", "v2")
    log = RegistryLog()
    changed = run("build", "--platform", platform, cwd=folder)
    assert changed.code == 0, changed.err
    assert "  why: code: changed etl.py\n" in changed.err
    for step in ("[3/7]", "[5/7]"):  # Debian packages, pip install: from cache
        assert re.search(rf"^    {re.escape(step)} RUN .*\(cached\)$", changed.err, re.M)
    second = built_reference(changed.out)
    assert second != first
    old, new = layers_of(folder, first), layers_of(folder, second)
    assert len(old) == len(new) and old[:-1] == new[:-1] and old[-1] != new[-1]
    uploads = [p for m, p in log.requests(repository(folder)) if m == "POST"]
    assert len(uploads) == 2, uploads  # the code layer and the image config, nothing else
    assert docker_run(second, "python", "etl.py") == "six 1.16.0\nv2\n"

    git(folder, "revert", "--no-edit", "HEAD")
    log = RegistryLog()
    reverted = run("build", "--platform", platform, cwd=folder)
    assert reverted.code == 0, reverted.err
    assert reverted.out == f"etl/pipeline.yaml: etl: reused {first}\n"
    assert "building" not in reverted.err
    requests = log.requests(repository(folder))
    head = git(folder, "rev-parse", "HEAD")
    assert [(m, p) for m, p in requests if m not in ("GET", "HEAD")] == [
        ("PUT", f"/v2/{repository(folder)}/manifests/git-{head}")]


def test_r_image_runs_an_r_script(services: None, run, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path / "cases" / "pipeline.yaml", PYTHON_SPEC.replace("etl", "cases").replace(
        "python, cases.py", "Rscript, cases.R").replace("language: python", "language: r")
        .replace('"3.11"', '"4.2"').replace("requirements.txt", "DESCRIPTION")
        .replace("[python3-venv]", "[r-base-core, r-cran-jsonlite]"))
    write(tmp_path / "cases" / "DESCRIPTION",
          "Package: cases\nVersion: 0.1\nImports:\n    jsonlite (>= 1.0),\n    stats\n")
    write(tmp_path / "cases" / "cases.R",
          'cat(jsonlite::toJSON(list(cases = 3L), auto_unbox = TRUE), "\\n")\n')
    platform_file(tmp_path)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "r")
    result = run("build", "--platform", str(tmp_path / "platform.yaml"), cwd=tmp_path)
    assert result.code == 0, result.err
    reference = built_reference(result.out, "cases")
    assert docker_run(reference, "Rscript", "cases.R") == '{"cases":3} \n'
    assert docker_run(reference, "Rscript", "-e", "cat(Sys.getenv('HOME'))") == "/home/pipeline"


# -- failures: a clear error, exit 1, nothing pushed ---------------------------------------

def changed_repo(folder: Path) -> Path:
    """A Python pipeline whose image is not in the registry yet."""
    python_repo(folder)
    write(folder / "etl" / "etl.py", f"print({uuid.uuid4().hex!r})\n")
    git(folder, "commit", "-qam", "new content")
    return folder


def test_docker_daemon_down(services: None, run, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = changed_repo(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    result = run("build", "--platform", str(folder / "platform.yaml"), cwd=folder)
    assert result.code == 1
    assert result.err.endswith(
        f"error: cannot reach the Docker daemon at unix://{tmp_path}/no-docker.sock: "
        "no such file or directory\n"
        "  hint: start dockerd (or Docker Desktop), or point DOCKER_HOST at it\n")
    assert tags(repository(folder)) == []


def test_registry_down(services: None, run, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = python_repo(tmp_path)
    platform_file(folder, registry=f"127.0.0.1:{port}/x")
    result = run("build", "--platform", str(folder / "platform.yaml"), cwd=folder)
    assert result.code == 1
    assert result.err == (
        f"error: cannot reach the registry 127.0.0.1:{port} (http://127.0.0.1:{port}): "
        "[Errno 111] Connection refused\n"
        "  hint: check that it is running and reachable from here, and the platform config's "
        "`registry`\n")


def test_bad_dockerfile_names_its_line(services: None, run, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path / "job" / "pipeline.yaml", PYTHON_SPEC.replace("name: etl", "name: job")
          .replace("""  language: python
  version: "3.11"
  dependencies: requirements.txt
  system_packages: [python3-venv]""", "  dockerfile: Dockerfile"))
    write(tmp_path / "job" / "Dockerfile", f"FROM {BASE}\nFORM nothing\n")
    write(tmp_path / "job" / "etl.py", "print(1)\n")
    platform_file(tmp_path)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "job")
    result = run("build", "--platform", str(tmp_path / "platform.yaml"), cwd=tmp_path)
    assert result.code == 1
    assert result.err.endswith(
        "job/Dockerfile:2:1: Dockerfile: unknown instruction: FORM\n"
        "  hint: fix the instruction; see docs.docker.com/reference/dockerfile\n"), result.err
    assert tags(repository(tmp_path, "job")) == []


def test_missing_dependency_file_stops_before_building(services: None, run,
                                                       tmp_path: Path) -> None:
    folder = python_repo(tmp_path)
    (folder / "etl" / "requirements.txt").unlink()
    result = run("build", "--platform", str(folder / "platform.yaml"), cwd=folder)
    assert result.code == 1
    assert result.err.startswith("etl/pipeline.yaml:7:17: image.dependencies: "), result.err
    assert "building" not in result.err
    assert tags(repository(folder)) == []


def test_missing_base_image(services: None, run, tmp_path: Path) -> None:
    folder = python_repo(tmp_path)
    platform_file(folder, python="pipelinectl-test/no-such-image:1")
    result = run("build", "--platform", str(folder / "platform.yaml"), cwd=folder)
    assert result.code == 1
    assert "error: base image docker.io/pipelinectl-test/no-such-image:1 was not found" \
        in result.err, result.err
    assert tags(repository(folder)) == []


def test_a_failed_build_pushes_nothing_of_any_pipeline(services: None, run,
                                                      tmp_path: Path) -> None:
    folder = changed_repo(tmp_path)
    write(folder / "zbad" / "pipeline.yaml", PYTHON_SPEC.replace("name: etl", "name: zbad"))
    write(folder / "zbad" / "requirements.txt", "six==999.0.0\n")
    write(folder / "zbad" / "etl.py", "print(1)\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "bad")
    result = run("build", "--platform", str(folder / "platform.yaml"), cwd=folder)
    assert result.code == 1
    assert re.search(r"^error: build step \[5/7\] RUN .* failed with exit code 1\n", result.err,
                     re.M), result.err
    assert "No matching distribution found for six==999.0.0" in result.err
    assert "etl: building" in result.err  # etl built fine, and still was not pushed:
    assert tags(repository(folder)) == [] and tags(repository(folder, "zbad")) == []


# -- registry credentials -------------------------------------------------------------------

@pytest.fixture(scope="module")
def auth_registry(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second real registry that wants a user name and password (htpasswd, bcrypt)."""
    with warnings.catch_warnings():  # crypt: bcrypt through libxcrypt; gone in Python 3.13
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    folder = tmp_path_factory.mktemp("auth-registry")
    (folder / "htpasswd").write_text(
        "ci:" + crypt.crypt("s3cret-pw", crypt.mksalt(crypt.METHOD_BLOWFISH)) + "\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (folder / "config.yml").write_text(
        f"version: 0.1\nstorage: {{filesystem: {{rootdirectory: {folder}/data}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
        f"auth: {{htpasswd: {{realm: test, path: {folder}/htpasswd}}}}\n")
    with open(folder / "log", "wb") as log:
        server = subprocess.Popen(["docker-registry", "serve", str(folder / "config.yml")],
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(50):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            except urllib.error.HTTPError:
                break  # 401: it is up
            except OSError:
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_registry_credentials_are_used_and_never_printed(
        auth_registry: str, run, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = python_repo(tmp_path)
    platform = str(platform_file(folder, registry=f"{auth_registry}/pipelines"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))

    anonymous = run("build", "--platform", platform, cwd=folder)
    assert anonymous.code == 1
    assert anonymous.err.startswith(
        f"error: {auth_registry} asks for credentials and none were found\n"
        f"  hint: run `docker login {auth_registry}`, or set PIPELINECTL_REGISTRY_USERNAME"), \
        anonymous.err

    monkeypatch.setenv("PIPELINECTL_REGISTRY_USERNAME", "ci")
    monkeypatch.setenv("PIPELINECTL_REGISTRY_PASSWORD", "wrong-pw-value")
    wrong = run("build", "--platform", platform, cwd=folder)
    assert wrong.code == 1
    assert wrong.err == (
        f"error: {auth_registry} refused the credentials from "
        "$PIPELINECTL_REGISTRY_USERNAME/$PIPELINECTL_REGISTRY_PASSWORD\n"
        "  hint: check them (pipelinectl never prints them); renew an expired token\n")

    monkeypatch.setenv("PIPELINECTL_REGISTRY_PASSWORD", "s3cret-pw")
    right = run("build", "--platform", platform, cwd=folder)
    assert right.code == 0, right.err
    assert re.search(rf"etl: built {re.escape(auth_registry)}/pipelines/default/etl@sha256:",
                     right.out)
    again = run("build", "--platform", platform, cwd=folder)
    assert "etl: up to date" in again.out
    for result in (anonymous, wrong, right, again):
        assert "s3cret-pw" not in result.out + result.err
        assert "wrong-pw-value" not in result.out + result.err


def test_a_docker_cli_without_buildkit_is_passed_over(services: None, tmp_path: Path) -> None:
    from pipelinectl.adapters import buildkit
    from pipelinectl.errors import UserError

    calls = tmp_path / "calls"
    old = write(tmp_path / "old" / "docker", "#!/bin/sh\n"
                f"echo \"$*\" >> {calls}\n"
                "[ \"$1\" = --version ] && echo 'Docker version 28.2.2, build e6534b4' && exit 0\n"
                "echo \"docker: unknown command: docker $1\" >&2; exit 1\n")
    old.chmod(0o755)
    environ = {"PATH": f"{old.parent}{os.pathsep}{Path(DOCKER).parent}",
               "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    assert buildkit.find_cli(environ) == DOCKER
    assert calls.read_text() == "--version\nbuildx version\n"
    # What each CLI can do is remembered: the second lookup runs no probe.
    assert buildkit.find_cli(environ) == DOCKER
    assert calls.read_text() == "--version\nbuildx version\n"
    with pytest.raises(UserError) as refused:
        buildkit.find_cli({**environ, "PATH": str(old.parent)})
    assert refused.value.render() == (
        f"error: no docker CLI that can build with BuildKit ({old}: its buildx plugin is "
        "missing)\n  hint: install docker with the buildx plugin (Debian: docker.io or "
        "docker-buildx), or set PIPELINECTL_DOCKER to a docker CLI that has it; see "
        "docs/install.md")
    # A plugin folder that changes (buildx installed) is probed again.
    (tmp_path / ".docker" / "cli-plugins").mkdir(parents=True)
    with pytest.raises(UserError):
        buildkit.find_cli({**environ, "PATH": str(old.parent)})
    assert calls.read_text().count("--version") == 2


# -- custom Dockerfile, --no-push ----------------------------------------------------------

def custom_repo(folder: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    write(folder / "job" / "pipeline.yaml", PYTHON_SPEC.replace("name: etl", "name: job")
          .replace("""  language: python
  version: "3.11"
  dependencies: requirements.txt
  system_packages: [python3-venv]""", "  dockerfile: docker/Dockerfile\n  context: ."))
    write(folder / "job" / "docker" / "Dockerfile",
          f"FROM {BASE}\nCOPY etl.py /srv/\nWORKDIR /srv\nUSER 10001\n")
    write(folder / "job" / "etl.py", "print('custom')\n")
    write(folder / "job" / ".dockerignore", "*.csv\n")
    write(folder / "job" / "big.csv", "a,b\n")
    platform_file(folder)
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "custom")
    return folder


def test_a_custom_dockerfile_is_built_as_given(services: None, run,
                                               tmp_path: Path) -> None:
    folder = custom_repo(tmp_path)
    result = run("build", "--platform", str(folder / "platform.yaml"), cwd=folder)
    assert result.code == 0, result.err
    reference = built_reference(result.out, "job")
    assert docker_run(reference, "cat", "/srv/etl.py") == "print('custom')\n"
    assert docker_run(reference, "id", "-u") == "10001\n"
    # .dockerignore is honoured: an ignored file changes nothing.
    write(folder / "job" / "big.csv", "c,d\n")
    again = run("build", "--platform", str(folder / "platform.yaml"), cwd=folder)
    assert again.out == f"job/pipeline.yaml: job: up to date {reference}\n"


def test_no_push_builds_locally_and_never_asks_the_registry(services: None, run,
                                                            tmp_path: Path) -> None:
    folder = changed_repo(tmp_path)
    platform = str(folder / "platform.yaml")
    log = RegistryLog()
    first = run("build", "--no-push", "--platform", platform, cwd=folder)
    assert first.code == 0, first.err
    assert "  why: not in the local Docker daemon's images\n" in first.err
    match = re.fullmatch(rf"etl/pipeline\.yaml: etl: built locally ({re.escape(HOST)}/\S+:"
                         r"content-[0-9a-f]{64})\n", first.out)
    assert match, first.out
    printed = docker_run(match.group(1), "python", "etl.py")  # the new script
    assert f"print({printed.strip()!r})\n" == (folder / "etl" / "etl.py").read_text()
    second = run("build", "--no-push", "--platform", platform, cwd=folder)
    assert second.out == f"etl/pipeline.yaml: etl: up to date {match.group(1)}\n"
    assert log.requests(repository(folder)) == []
    assert tags(repository(folder)) == []


# -- render: images by the digest the build pushed ------------------------------------------

def test_render_references_the_built_image_by_digest(etl: tuple[Path, str], run,
                                                     tmp_path: Path) -> None:
    folder = etl[0]
    platform = str(folder / "platform.yaml")
    built = run("build", "--platform", platform, cwd=folder)
    reference = built_reference(built.out)
    out = tmp_path / "out"
    result = run("render", "--platform", platform, "-o", str(out), cwd=folder)
    assert result.code == 0, result.err
    manifest = (out / "kubernetes" / "default" / "etl.yaml").read_text()
    assert f"        image: {reference}\n" in manifest
    revision = git(folder, "log", "-1", "--format=%H", "--", "etl")  # etl's last change
    assert f"pipelinectl.io/git-sha: {revision}\n" in manifest

    # Inputs changed and not built yet: no guessing, nothing written.
    (folder / "etl" / "etl.py").write_text("print('not built')\n")
    missing = run("render", "--platform", platform, "-o", str(tmp_path / "none"), cwd=folder)
    git(folder, "checkout", "-q", "etl/etl.py")
    assert missing.code == 1
    assert re.fullmatch(
        rf"error: no image in the registry for the current inputs of: etl \({HOST}/\S+/etl:"
        r"content-[0-9a-f]{12}\.\.\.\)\n"
        r"  hint: run `pipelinectl build` first, or render with --image-placeholder for a look "
        r"at the output\n", missing.err), missing.err
    assert not (tmp_path / "none").exists()


def test_requirement_hashes_are_checked(services: None, run, tmp_path: Path) -> None:
    folder = python_repo(tmp_path)
    wheel = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"  # six 1.16.0
    write(folder / "etl" / "requirements.txt", f"six==1.16.0 --hash=sha256:{wheel}\n")
    git(folder, "commit", "-qam", "hashes")
    platform = str(folder / "platform.yaml")
    good = run("build", "--platform", platform, cwd=folder)
    assert good.code == 0, good.err
    assert docker_run(built_reference(good.out), "python", "etl.py") == "six 1.16.0\n"
    write(folder / "etl" / "requirements.txt", f"six==1.16.0 --hash=sha256:{'0' * 64}\n")
    git(folder, "commit", "-qam", "wrong hash")
    bad = run("build", "--platform", platform, cwd=folder)
    assert bad.code == 1
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in bad.err, \
        bad.err


def test_ignored_and_untracked_files_never_reach_the_pushed_image(services: None, run,
                                                                  tmp_path: Path) -> None:
    """A gitignored .env, a .Renviron and an untracked file sit beside the code when deploy
    builds: every layer of the image as the registry serves it is searched for their values."""
    folder = python_repo(tmp_path / "planted")
    token = f"planted-{uuid.uuid4().hex}"
    write(folder / "etl" / ".gitignore", ".env\n.Renviron\n")
    write(folder / "etl" / "etl.py", f"print('{uuid.uuid4().hex}')\n")  # a new code layer
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "ignore secrets")
    write(folder / "etl" / ".env", f"API_TOKEN={token}-env\n")
    write(folder / "etl" / ".Renviron", f"PGPASSWORD={token}-renviron\n")
    write(folder / "etl" / "scratch.py", f"# {token}-untracked\n")
    result = run("build", "--platform", str(folder / "platform.yaml"), cwd=folder)
    assert result.code == 0, result.err
    reference = built_reference(result.out)
    body, _ = RegistryClient(HOST, None).manifest(repository(folder), reference.split("@")[1])
    searched = 0
    for layer in json.loads(body)["layers"]:
        url = f"http://{HOST}/v2/{repository(folder)}/blobs/{layer['digest']}"
        with urllib.request.urlopen(url, timeout=30) as response:
            blob = response.read()
        data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        assert token.encode() not in data, layer["digest"]
        with tarfile.open(fileobj=io.BytesIO(data)) as members:
            names = members.getnames()
        assert not [n for n in names if n.rsplit("/", 1)[-1] in {
            ".env", ".Renviron", "scratch.py"}], names
        searched += 1
    assert searched >= 5
    listing = docker_run(reference, "ls", "-a", "/app")
    assert set(listing.split()) == {".", "..", ".gitignore", "etl.py",
                                    "requirements.txt"}, listing  # the spec stays out

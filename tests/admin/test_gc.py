"""`pipelinectl gc` against a real registry with deletes on (a docker-registry of this module's
own, so that its garbage collection measures only these images), real builds, and both ways
a cluster is read (the directory platform and the fake API server).

Six commits of one pipeline are built; three of their images are deployed, to dev and (one of
them promoted) production, one of them only in dev's history. gc deletes exactly the two no
deploy can need, the registry's garbage collection frees what gc said, every recorded deploy
still deploys without a build, and the deleted images' commits rebuild and say why."""

from __future__ import annotations

import datetime
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelinectl.commands import gc as gc_command
from tests.support.fakekube import FakeKube
from tests.support.repo import git, write
from tests.support.services import BASE

PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  default: {{namespace: default}}
environments:
  dev: {{branch: main, namespace: "{{namespace}}-dev"}}
  production: {{branch: production, build: false}}
retention: {{keep_days: 0}}
"""
SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {name: etl, team: default}
image: {dockerfile: Dockerfile}
schedule: "0 7 * * *"
tasks:
  - name: main
    command: [sh, etl.sh]
"""
LATER = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)


@pytest.fixture(scope="module")
def registry(services: None, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[str, Path]]:
    """A registry with deletes on: (host:port, its config file)."""
    folder = tmp_path_factory.mktemp("registry")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write(folder / "config.yml", f"""\
version: 0.1
storage:
  filesystem: {{rootdirectory: {folder / "data"}}}
  delete: {{enabled: true}}
http: {{addr: 127.0.0.1:{port}}}
""")
    log = open(folder / "registry.log", "wb")  # noqa: SIM115 - the server's, for its life
    server = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, (folder / "registry.log").read_text()
            time.sleep(0.2)
    yield f"127.0.0.1:{port}", config
    server.terminate()
    server.wait(timeout=30)
    log.close()


def stored_bytes(config: Path) -> int:
    return sum(p.stat().st_size for p in (config.parent / "data").rglob("*") if p.is_file())


class World:
    """The pipelines repository, its platform and cluster, and the CLI."""

    def __init__(self, run, repo: Path, kind: str) -> None:
        self.run, self.repo, self.kind = run, repo, kind

    def cli(self, *args: str):
        return self.run(*args, "--platform", str(self.repo / "platform.yaml"), cwd=self.repo)

    def commit(self, number: int) -> str:
        write(self.repo / "etl" / "etl.sh", f"echo version {number}\n")
        # 256 KiB that does not compress: each version's layer is worth collecting
        (self.repo / "etl" / "reference.bin").write_bytes(os.urandom(256 * 1024))
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", f"version {number}")
        return git(self.repo, "rev-parse", "HEAD")

    def digest(self, commit: str) -> str | None:
        """The image digest of `commit`'s git- tag (None once deleted)."""
        host, path = self.registry.split("/", 1)
        request = urllib.request.Request(
            f"http://{host}/v2/{path}/default/etl/manifests/git-{commit}", method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                               "application/vnd.oci.image.manifest.v1+json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.headers["Docker-Content-Digest"]
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
            return None

    registry = ""


@pytest.fixture(params=["api-server", "directory"])
def world(request: pytest.FixtureRequest, run, registry: tuple[str, Path], fake_kube: FakeKube,
          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    kind = request.param
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    path = f"{registry[0]}/{kind}-{tmp_path.name}"
    text = PLATFORM.format(registry=path)
    if kind == "directory":
        text += "kubernetes: {directory: .pipelinectl/kubernetes}\n"
    else:
        for namespace in ("default", "default-dev"):
            fake_kube.add_namespace(namespace)
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    write(repo / "platform.yaml", text)
    write(repo / ".gitignore", ".pipelinectl/\n")
    write(repo / "etl" / "pipeline.yaml", SPEC)
    write(repo / "etl" / "Dockerfile", f"FROM {BASE}\nCOPY etl.sh reference.bin /app/\n"
                                       "USER 10001\n")
    found = World(run, repo, kind)
    found.registry = path
    return found


def test_gc_deletes_exactly_what_no_deploy_needs(world: World, registry: tuple[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    commits = {}
    for number in range(1, 7):
        commits[number] = world.commit(number)
        if number in (2, 3, 5):
            deployed = world.cli("deploy")
            assert deployed.code == 0, deployed.err
        else:
            assert world.cli("build").code == 0
        if number == 3:  # production takes version 3
            git(world.repo, "checkout", "-q", "-B", "production")
            git(world.repo, "merge", "-q", "main")
            assert world.cli("deploy").out == "etl: image promoted; applied CronJob default/etl\n"
            git(world.repo, "checkout", "-q", "main")
    digests = {n: world.digest(c) for n, c in commits.items()}
    assert all(digests.values()) and len(set(digests.values())) == 6

    monkeypatch.setattr(gc_command, "_now", lambda: LATER)  # every image two days old
    dry = world.cli("gc")
    assert dry.code == 0, dry.err
    rows = {}
    for line in dry.out.splitlines()[1:-1]:
        cells = re.split(r"  +", line)
        rows[cells[1]] = (cells[4], cells[5])
    why = {n: rows[str(digests[n])[:19]] for n in commits}
    assert why[1] == why[4] == ("delete", "no deploy needs it")
    assert why[2] == ("keep", "in dev's history of default-dev/etl: a rollback target")
    assert why[3] in (("keep", "deployed in production (default/etl)"),
                      ("keep", "in dev's history of default-dev/etl: a rollback target"))
    assert why[5] == ("keep", "deployed in dev (default-dev/etl)")
    assert why[6] == ("keep", "the pipeline's newest image, not deployed yet")
    predicted = int(dry.out.splitlines()[-1].split("(")[1].split(" bytes")[0])
    assert dry.out.splitlines()[-1].startswith("would delete 2 of 6 images, freeing ")
    assert all(world.digest(c) for c in commits.values())  # a dry run deletes nothing

    before = stored_bytes(registry[1])
    applied = world.cli("gc", "--apply")
    assert applied.code == 0, applied.err
    assert applied.out.splitlines()[-1].startswith("deleted 2 of 6 images, freeing ")
    assert [n for n, c in commits.items() if world.digest(c) is None] == [1, 4]
    subprocess.run(["docker-registry", "garbage-collect", str(registry[1])], check=True,
                   capture_output=True)
    reclaimed = before - stored_bytes(registry[1])
    # gc counts the layers and configs only deleted images use; the registry also drops the
    # two manifests themselves (under 2 KiB each) and their link files
    assert predicted <= reclaimed <= predicted + 8192, (predicted, reclaimed)

    for number in (2, 3, 5):  # every recorded deploy still deploys without a build
        git(world.repo, "checkout", "-q", commits[number], "--", "etl")
        git(world.repo, "commit", "-qam", f"back to version {number}")
        back = world.cli("deploy")
        assert back.code == 0 and "building" not in back.err, back.err
    git(world.repo, "checkout", "-q", commits[4], "--", "etl")
    git(world.repo, "commit", "-qam", "back to version 4, whose image gc deleted")
    rebuilt = world.cli("deploy")
    assert rebuilt.code == 0, rebuilt.err
    assert rebuilt.out.startswith("etl: image built;")
    assert "etl: building " in rebuilt.err and "  why: " in rebuilt.err


def test_an_image_pushed_while_gc_runs_is_kept(world: World) -> None:
    for number in (1, 2):
        world.commit(number)
        assert world.cli("build").code == 0
    first = world.digest(git(world.repo, "rev-parse", "HEAD~1"))
    results: list[int] = []
    racing = threading.Thread(target=lambda: results.append(
        subprocess.run([str(Path(os.sys.executable).parent / "pipelinectl"), "gc", "--apply",
                        "--platform", str(world.repo / "platform.yaml")], cwd=world.repo,
                       capture_output=True, check=False).returncode))
    racing.start()
    newest = world.commit(3)
    assert world.cli("build").code == 0  # pushed while gc lists, decides and deletes
    racing.join(timeout=120)
    assert results == [0]
    assert world.digest(newest) is not None  # made within the grace hour, or never seen
    assert first is not None and world.digest(git(world.repo, "rev-parse", "HEAD~2")) == first


def test_an_environment_that_cannot_be_read_stops_gc(world: World,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    world.commit(1)
    assert world.cli("build").code == 0
    world.commit(2)
    assert world.cli("build").code == 0
    monkeypatch.setattr(gc_command, "_now", lambda: LATER)
    if world.kind == "directory":
        write(world.repo / ".pipelinectl" / "kubernetes" / "default-dev" / "ConfigMap" /
              "pipelinectl-state-etl.yaml", "metadata: [\n")  # unreadable
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        write(tmp_path / "dead", f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: "
                                 f"{{server: 'http://127.0.0.1:{port}'}}}}]\ncontexts: [{{name: "
                                 "c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
                                 "users: [{name: u, user: {token: t}}]\n")
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "dead"))
    refused = world.cli("gc", "--apply")
    assert refused.code == 1 and refused.out == ""
    assert refused.err.startswith("error: gc cannot read environment dev: ")
    assert "it deletes nothing while any environment is unknown" in refused.err
    assert world.digest(git(world.repo, "rev-parse", "HEAD~1")) is not None


def test_a_registry_without_deletes_is_named(run, services: None, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.services import HOST, PREFIX

    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write(repo / "platform.yaml", PLATFORM.format(registry=f"{HOST}/{PREFIX}/gc-405") +
          "kubernetes: {directory: .pipelinectl/kubernetes}\n")
    write(repo / ".gitignore", ".pipelinectl/\n")
    write(repo / "etl" / "pipeline.yaml", SPEC)
    write(repo / "etl" / "Dockerfile", f"FROM {BASE}\nCOPY etl.sh /app/\nUSER 10001\n")
    world = World(run, repo, "directory")
    for number in (1, 2):
        world.commit(number)
        assert world.cli("build").code == 0
    monkeypatch.setattr(gc_command, "_now", lambda: LATER)
    refused = world.cli("gc", "--apply")
    assert refused.code == 1
    assert refused.err.startswith(f"error: the registry {HOST} does not allow deleting images "
                                  "(405 to DELETE ")
    assert "REGISTRY_STORAGE_DELETE_ENABLED=true" in refused.err

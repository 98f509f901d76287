"""The image step's tools (build/ports.py) on this machine: registries through their HTTP
API, builds through the BuildKit-capable docker CLI, pushes through the Docker daemon.

The docker SDK (for the push) starts loading in the background as soon as a builder is
needed: its import costs as much as a cached rebuild, so it loads while BuildKit builds.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType

from pipelinectl.adapters import buildkit, contextdir, credentials
from pipelinectl.adapters.registry import RegistryClient
from pipelinectl.build.context import BuildInputs
from pipelinectl.build.images import split_repository

Report = Callable[[str], None]


class DockerBuilder:
    def __init__(self, environ: Mapping[str, str], ca_bundle: Callable[[], str | None]) -> None:
        self._environ = environ
        self._ca_bundle = ca_bundle
        self.cli = buildkit.find_cli(environ)
        pool = ThreadPoolExecutor(max_workers=1)
        self._sdk: Future[ModuleType] = pool.submit(importlib.import_module,
                                                    "pipelinectl.adapters.docker")
        pool.shutdown(wait=False)
        self._client: object | None = None

    def build(self, inputs: BuildInputs, repository: str, tags: list[str],
              labels: Mapping[str, str], shown: str, report: Report) -> str:
        return buildkit.build(self.cli, inputs, [f"{repository}:{t}" for t in tags], labels,
                              self._ca_bundle(), self._environ, shown,
                              contextdir.root(self._environ, repository), report)

    def local_image(self, reference: str) -> str | None:
        return buildkit.local_image(self.cli, reference, self._environ)

    def push(self, repository: str, tag: str, report: Report) -> str:
        docker = self._sdk.result()
        if self._client is None:
            self._client = docker.connect(self._environ)
        found = credentials.resolve(split_repository(repository)[0], self._environ)
        pushed = docker.push(self._client, repository, tag, found, report)
        return str(pushed.digest)


class DockerTools:
    """Registries by host (with the credentials `build` uses) and one builder, both made on
    first use: a command that finds every image in the registry never starts a builder."""

    def __init__(self, environ: Mapping[str, str], ca_bundle: Callable[[], str | None]) -> None:
        self._environ = environ
        self._ca_bundle = ca_bundle
        self._registries: dict[str, RegistryClient] = {}
        self._builder: DockerBuilder | None = None
        self._lock = threading.Lock()

    def registry(self, host: str) -> RegistryClient:
        with self._lock:
            if host not in self._registries:
                self._registries[host] = RegistryClient(host,
                                                        credentials.resolve(host, self._environ))
            return self._registries[host]

    def builder(self) -> DockerBuilder:
        if self._builder is None:
            self._builder = DockerBuilder(self._environ, self._ca_bundle)
        return self._builder

"""What the image step needs from the outside world, as Protocols the adapters implement
(adapters/builder.py, adapters/registry.py); the build wing never imports an adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from pipelinectl.build.context import BuildInputs

Report = Callable[[str], None]


class Registry(Protocol):
    """One registry host, through its HTTP API."""

    def manifest_digest(self, repo: str, reference: str) -> str | None: ...

    def tags(self, repo: str) -> list[str]: ...

    def labels(self, repo: str, reference: str) -> dict[str, str]: ...

    def copy_tag(self, repo: str, source: str, tag: str) -> None: ...


class Builder(Protocol):
    """Builds images from a context and pushes them."""

    def build(self, inputs: BuildInputs, repository: str, tags: list[str],
              labels: Mapping[str, str], shown: str, report: Report) -> str:
        """Build `inputs` tagged `repository:tag` for each tag; the local image id."""
        ...

    def local_image(self, reference: str) -> str | None: ...

    def push(self, repository: str, tag: str, report: Report) -> str:
        """Push `repository:tag`; the manifest digest (sha256:...) in the registry."""
        ...


class Tools(Protocol):
    """Where the image step finds its registries and its builder (made on first use)."""

    def registry(self, host: str) -> Registry: ...

    def builder(self) -> Builder: ...

"""Fixtures of the CI-template tests: the tool image, a fake cluster with namespace epi, the
stand-in for GitLab's notes API, and for the registry gc jobs a registry with deletes on and a
base image made long ago."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import citools
from tests.support.citools import build_tool_image
from tests.support.fakekube import FakeKube


@pytest.fixture(scope="module")
def tool_image(services: None) -> str:
    """The tool image, built once per test module (needs the `services` fixture)."""
    return build_tool_image()


@pytest.fixture
def epi_cluster(fake_kube: FakeKube, tmp_path: Path) -> Iterator[FakeKube]:
    """The fake API server with namespace epi; its kubeconfig at tmp_path/kubeconfig."""
    fake_kube.add_namespace("epi")
    fake_kube.kubeconfig(tmp_path / "kubeconfig", namespace="epi")
    yield fake_kube


@pytest.fixture
def notes_api() -> Iterator[str]:
    """The stand-in for GitLab's notes API: its CI_API_V4_URL; citools.Notes.posted holds what
    was posted."""
    with citools.notes_api() as url:
        yield url


@pytest.fixture(scope="module")
def gc_registry(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry of this module's own with deletes on (citools.deleting_registry): host:port."""
    with citools.deleting_registry(tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture(scope="module")
def old_base(services: None) -> str:
    """The test base image as if published on citools.OLD_CREATED."""
    return citools.old_base_image()

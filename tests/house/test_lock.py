"""The committed locks: what tests/run.sh installs is exactly requirements/dev.lock, every pin
has hashes, pyproject.toml keeps ranges that the locks satisfy, and the lock command and the
Renovate config stay true."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.repo import REPO

LOCKS = REPO / "requirements"
# Seeded by `python -m venv` and the editable install itself: not dependencies.
NOT_LOCKED = {"pip", "setuptools", "pipelinectl"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked(name: str) -> dict[str, str]:
    """name -> version of the pins of a lock that apply to this interpreter."""
    pins = {}
    for line in (LOCKS / name).read_text().splitlines():
        match = _PIN.match(line)
        if not match:
            continue
        package, version, marker = match.groups()
        if marker is None or Marker(marker).evaluate():
            pins[canonicalize_name(package)] = version
    return pins


def test_the_venv_is_exactly_the_dev_lock() -> None:
    installed = {canonicalize_name(d.metadata["Name"]): d.version
                 for d in importlib.metadata.distributions(path=sys.path)
                 if Path(str(d.locate_file(""))).resolve().is_relative_to(
                     Path(sys.prefix).resolve())}
    for name in NOT_LOCKED:
        installed.pop(name, None)
    assert installed == locked("dev.lock")


def test_every_pin_has_hashes() -> None:
    for lock in ("runtime.lock", "dev.lock", "airflow.lock"):
        text = (LOCKS / lock).read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        assert len(entries) > 10, lock
        for entry in entries:
            assert "==" in entry.splitlines()[0] and "--hash=sha256:" in entry, (lock, entry)


def _project() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def test_pyproject_keeps_ranges_that_the_locks_satisfy() -> None:
    project = _project()
    runtime = [Requirement(r) for r in project["dependencies"]]  # type: ignore[attr-defined]
    test = [Requirement(r) for r in project["optional-dependencies"]["test"]]  # type: ignore[index]
    for requirement in runtime + test:
        assert "==" not in str(requirement.specifier), requirement  # ranges, not pins
    for lock, requirements in (("runtime.lock", runtime), ("dev.lock", runtime + test)):
        pins = locked(lock)
        for requirement in requirements:
            version = pins[canonicalize_name(requirement.name)]
            assert requirement.specifier.contains(version, prereleases=True), (lock, version)


def test_the_lock_headers_are_the_commands_of_lock_sh() -> None:
    script = (LOCKS / "lock.sh").read_text()
    for lock in ("runtime.lock", "dev.lock", "airflow.lock"):
        command = (LOCKS / lock).read_text().splitlines()[1].strip("# ").split()
        assert command[:3] == ["uv", "pip", "compile"]
        assert command[-2:] == ["-o", f"requirements/{lock}"]
        for word in command[3:-2]:
            assert word in script, (lock, word)
    done = subprocess.run(["shellcheck", str(LOCKS / "lock.sh")], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout


def test_renovate_keeps_every_lock_current() -> None:
    config = REPO / "renovate.json"
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.renovate", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    patterns = json.loads(config.read_text())["pip-compile"]["managerFilePatterns"]
    regexes = [re.compile(p.strip("/")) for p in patterns]
    for lock in ("runtime.lock", "dev.lock", "airflow.lock"):
        assert any(r.search(f"requirements/{lock}") for r in regexes), lock
    assert not any(r.search("requirements/build.in") for r in regexes)
    # npm (on by default) finds the CI tools' package.json beside its lock.
    assert (REPO / "tests" / "ci-tools" / "package-lock.json").is_file()


def test_the_ci_tools_lock_pins_what_package_json_asks_for() -> None:
    folder = REPO / "tests" / "ci-tools"
    wanted = json.loads((folder / "package.json").read_text())["dependencies"]
    lock = json.loads((folder / "package-lock.json").read_text())["packages"]
    for name, version in wanted.items():
        assert lock[f"node_modules/{name}"]["version"] == version
    assert all("integrity" in entry for key, entry in lock.items() if key)


def test_loader_and_schema_tests_pass_with_the_oldest_releases_allowed() -> None:
    """requirements/oldest.lock holds the lower bound of every range in pyproject.toml."""
    python = os.environ.get("PIPELINECTL_OLDEST_PYTHON")
    if not python:
        pytest.skip("set PIPELINECTL_OLDEST_PYTHON (bash tests/run.sh does)")
    probe = subprocess.run([python, "-c", "import yaml; print(yaml.__version__)"],
                           capture_output=True, text=True, check=True)
    lowest = next(Requirement(r) for r in _project()["dependencies"]  # type: ignore[attr-defined]
                  if r.startswith("pyyaml"))
    assert probe.stdout.strip() == str(next(iter(lowest.specifier))).lstrip(">=")
    done = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/spec/test_yamlio.py", "tests/spec/test_schema.py"],
                          cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout

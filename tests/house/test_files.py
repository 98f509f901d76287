"""pipelinectl.files.write_text: atomic replacement with the usual permissions, and what the
commands that write output files get from it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelinectl import files
from pipelinectl.adapters.dags import DirectoryDelivery


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_get_0666_less_the_umask(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "a" / "b" / "dag.py"
    files.write_text(target, "x = 1\n")
    assert target.read_text() == "x = 1\n"
    assert mode(target) == 0o644  # not a temporary file's 0600: Airflow reads it as another user
    assert sorted(p.name for p in target.parent.iterdir()) == ["dag.py"]


def test_replaces_and_leaves_no_temporary_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    files.write_text(target, "old\n")
    files.write_text(target, "new\n")
    assert target.read_text() == "new\n"
    with pytest.raises(UnicodeEncodeError):
        files.write_text(target, "\udcff")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.yaml"]


def test_delivered_dag_files_are_readable_by_others(tmp_path: Path, umask_022: None) -> None:
    DirectoryDelivery(tmp_path).publish({"epi/epi__cases.py": "dag = 1\n"}, [], "deploy")
    assert mode(tmp_path / "epi" / "epi__cases.py") == 0o644

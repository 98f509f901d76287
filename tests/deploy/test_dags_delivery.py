"""DAG file delivery: a folder, and a git branch for git-sync (a real bare repository),
including a push race with another deploy; only pipelinectl's own DAGs are ever removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelinectl.adapters.dags import DeliveryError, DirectoryDelivery, GitDelivery
from pipelinectl.render.dagfile import owned_by
from tests.support.repo import git

OURS = '''PIPELINE: dict = {"labels": {"app.kubernetes.io/managed-by": "pipelinectl",
                              "pipelinectl.io/pipeline": "etl"}, "tasks": []}
'''


def test_ownership_is_read_from_the_literal_never_run(tmp_path: Path) -> None:
    assert owned_by(OURS, "etl")
    assert not owned_by(OURS, "other")
    assert not owned_by("PIPELINE: dict = {}\n", "etl")
    assert not owned_by(f"open({str(tmp_path / 'x')!r}, 'w')\n", "etl")
    assert not owned_by(None, "etl")
    assert not (tmp_path / "x").exists()


def test_directory_delivery(tmp_path: Path) -> None:
    delivery = DirectoryDelivery(tmp_path / "dags")
    delivery.publish({"default/default__etl.py": OURS}, [], "m")
    assert delivery.read("default/default__etl.py") == OURS
    delivery.publish({}, ["default/default__etl.py"], "m")
    assert delivery.read("default/default__etl.py") is None
    assert list((tmp_path / "dags" / "default").iterdir()) == []  # no temporary files left


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "dags.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(bare), str(seed))
    (seed / "README").write_text("DAGs\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    git(seed, "push", "-q", "origin", "HEAD:refs/heads/main")
    return bare


def files_on(remote: Path, branch: str) -> list[str]:
    return sorted(git(remote, "ls-tree", "-r", "--name-only", branch).split())


def test_git_delivery_one_commit_per_deploy_and_a_new_branch(remote: Path) -> None:
    delivery = GitDelivery(str(remote), "dags", {"PATH": "/usr/bin:/bin"})
    delivery.publish({"teams/default/default__etl.py": OURS,
                      "teams/default/default__two.py": OURS}, [], "deploy 1")
    assert files_on(remote, "dags") == ["teams/default/default__etl.py",
                                        "teams/default/default__two.py"]
    assert git(remote, "log", "--format=%s|%an", "dags").splitlines() == [
        "deploy 1|pipelinectl"]
    delivery.publish({}, ["teams/default/default__two.py"], "deploy 2")
    delivery.publish({"teams/default/default__etl.py": OURS}, [], "no change")  # no commit
    delivery.close()
    assert files_on(remote, "dags") == ["teams/default/default__etl.py"]
    assert len(git(remote, "log", "--format=%s", "dags").splitlines()) == 2


def test_git_delivery_retries_when_another_deploy_pushed_first(remote: Path,
                                                               tmp_path: Path) -> None:
    ours = GitDelivery(str(remote), "main", {"PATH": "/usr/bin:/bin"})
    assert ours.read("README") == "DAGs\n"  # cloned now
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "--branch", "main", str(remote), str(other))
    (other / "theirs.py").write_text("x = 1\n")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "theirs")
    git(other, "push", "-q", "origin", "main")
    ours.publish({"teams/default/default__etl.py": OURS}, [], "ours")
    assert files_on(remote, "main") == ["README", "teams/default/default__etl.py", "theirs.py"]


def test_git_delivery_errors_hide_credentials(tmp_path: Path) -> None:
    delivery = GitDelivery("https://user:s3cret@127.0.0.1:9/dags.git", "main",
                           {"PATH": "/usr/bin:/bin", "GIT_TERMINAL_PROMPT": "0"})
    with pytest.raises(DeliveryError) as failed:
        delivery.publish({"a.py": OURS}, [], "m")
    assert "s3cret" not in failed.value.render()
    assert failed.value.message.startswith(
        "DAG delivery to git:https://127.0.0.1:9/dags.git#main failed: git clone: ")

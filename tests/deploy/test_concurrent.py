"""Two CI jobs deploying at once, an older and a newer commit of the same repository: the
newer always wins (its schedule is live and recorded) and the history loses no deploy.
Raced 20 times against the fake API server and against the directory platform."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from pipelinectl.adapters.kubedir import DirectoryKube
from pipelinectl.deploy import engine
from pipelinectl.errors import UserError
from tests.support.deploying import commit, context, desired_of, recorded, run
from tests.support.fakekube import FakeKube
from tests.support.repo import git

PAIRS = 20


def checkout(repo: Path, commit_sha: str, where: Path) -> Path:
    git(repo, "worktree", "add", "-q", "--detach", str(where), commit_sha)
    return where


@pytest.mark.parametrize("platform", ["api-server", "directory"])
def test_the_newer_of_two_racing_deploys_always_wins(git_repo: Path, fake: FakeKube,
                                                     tmp_path: Path, platform: str) -> None:
    folder = DirectoryKube(tmp_path / "objects")

    def deploy(tree: Path) -> bool:
        ctx = context(tree, tmp_path / "kubeconfig")
        if platform == "directory":
            ctx = dataclasses.replace(ctx, cluster=folder)
        try:
            engine.run(desired_of(tree), ctx, prune_removed=True)
        except UserError as refused:  # the older commit, when the newer got there first
            assert "does not descend from the deployed commit" in refused.message
            return False
        return True

    first = commit(git_repo, cron="0 0 * * *", message="start")
    assert deploy(git_repo)
    expected_history = [first]
    for pair in range(PAIRS):
        older = commit(git_repo, cron=f"{pair} 1 * * *", message=f"older {pair}")
        newer = commit(git_repo, cron=f"{pair} 2 * * *", message=f"newer {pair}")
        trees = [checkout(git_repo, sha, tmp_path / f"{pair}-{i}")
                 for i, sha in enumerate((older, newer))]
        start = threading.Barrier(2)
        results: dict[str, bool] = {}

        def race(tree: Path, sha: str, start: threading.Barrier,
                 results: dict[str, bool]) -> None:
            start.wait()
            results[sha] = deploy(tree)

        threads = [threading.Thread(target=race, args=(tree, sha, start, results))
                   for tree, sha in zip(trees, (older, newer), strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results[newer] is True
        live = folder.get("CronJob", "default", "etl") if platform == "directory" else \
            fake.get("cronjobs", "default", "etl")
        assert live is not None and live["spec"]["schedule"] == f"{pair} 2 * * *"
        record = recorded_state(platform, folder, fake)
        assert record.current.revision == newer
        expected_history = ([newer, older] if results[older] else [newer]) + expected_history
        assert [d.revision for d in record.history] == expected_history[:20]


def recorded_state(platform: str, folder: DirectoryKube, fake: FakeKube):  # type: ignore[no-untyped-def]
    if platform == "directory":
        from pipelinectl.deploy import state

        found = state.read(folder, "default", "etl")
        assert found is not None
        return found
    return recorded(fake)


def test_a_held_lease_makes_a_deploy_wait_then_give_up(git_repo: Path, fake: FakeKube,
                                                       tmp_path: Path) -> None:
    from pipelinectl.deploy import lease

    commit(git_repo, message="A")
    run(git_repo, fake, tmp_path)
    commit(git_repo, cron="0 9 * * *", message="B")
    ctx = context(git_repo, tmp_path / "kubeconfig")
    holder = lease.Holder("epi/covid", "production", "f" * 40, "someone-else")
    now = [1_000_000.0]
    lease.acquire(ctx.cluster, ["default"], holder, lambda: now[0], lambda s: None)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    waiting = dataclasses.replace(ctx, clock=lambda: now[0], sleep=sleep)
    writes = len(fake.writes())
    with pytest.raises(lease.LeaseTimeout) as held:
        engine.run(desired_of(git_repo), waiting, prune_removed=True)
    assert held.value.message == (
        "another deploy of this repository to production (commit ffffffffffff, since "
        "1970-01-12T13:46:40Z) holds the deploy lease in namespace default")
    assert len(fake.writes()) == writes  # waited, wrote nothing
    now[0] += lease.LEASE_SECONDS  # a lease left by a deploy that died expires
    [outcome] = engine.run(desired_of(git_repo), waiting, prune_removed=True)
    assert outcome.applied

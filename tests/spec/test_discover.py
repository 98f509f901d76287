"""One notion of a pipeline's folder (issue 13): a folder reached through a symlink is refused
wherever the link points (beside the repository, another checkout, outside it), while a
repository reached through a symlinked path of its own is an ordinary repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelinectl.spec.discover import pipeline_root
from tests.support.repo import VALID_SPEC, git, valid_pipeline

REFUSED = ("linked/pipeline.yaml: the folder linked is a symlink: a pipeline's folder must be "
           "a real folder of the repository\n"
           "  hint: move the pipeline into the folder the link points to\n"
           "1 problem in 1 of 1 pipeline file\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(folder))
    valid_pipeline(folder / "etl")
    return folder


@pytest.mark.parametrize("target", ["etl", "../other", "../checkout", "../checkout/sub"])
def test_a_symlinked_pipeline_folder_is_refused_wherever_it_points(
        run, repo: Path, target: str) -> None:
    valid_pipeline(repo.parent / "other")
    checkout = repo.parent / "checkout"
    git(repo.parent, "init", "-q", str(checkout))  # a link to another checkout is no root
    valid_pipeline(checkout / "sub" if target.endswith("sub") else checkout)
    (repo / "linked").symlink_to(target)
    result = run("validate", "linked", cwd=repo)
    assert (result.code, result.out) == (1, REFUSED)


def test_a_repository_reached_through_a_symlink_is_validated(run, repo: Path,
                                                             tmp_path: Path) -> None:
    link = tmp_path / "link-to-repo"
    link.symlink_to(repo)
    inside = run("validate", "etl", cwd=link)
    assert (inside.code, inside.out) == (0, "1 pipeline file valid\n"), inside.out
    elsewhere = run("validate", str(link / "etl"), cwd=tmp_path)
    assert (elsewhere.code, elsewhere.out) == (0, "1 pipeline file valid\n"), elsewhere.out


def test_the_root_is_found_without_going_through_a_link(repo: Path, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    git(tmp_path, "init", "-q", str(checkout))
    (repo / "linked").symlink_to(checkout)
    spec = repo / "linked" / "pipeline.yaml"
    assert pipeline_root(spec, repo.resolve()) == repo.resolve()
    assert pipeline_root(spec, None) == repo.resolve()
    assert pipeline_root(repo / "etl" / "pipeline.yaml", tmp_path) == repo.resolve()


def test_outside_git_every_pipeline_folder_is_its_own_root(run, tmp_path: Path) -> None:
    for name in ("a", "b", "nested/c"):
        valid_pipeline(tmp_path / "plain" / name,
                       VALID_SPEC.replace("cases-daily", name.replace("/", "-")))
    result = run("validate", str(tmp_path / "plain"), cwd=tmp_path)
    assert (result.code, result.out) == (0, "3 pipeline files valid\n"), result.out

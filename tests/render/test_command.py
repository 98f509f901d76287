"""`pipelinectl render`: the layout, byte-identical output, placeholder images, pruning.

The file contents are the renderers' own output (golden-tested in tests/render/test_cronjob.py
and tests/render/test_airflow.py): here they are compared with what the library renders for
the same target. Resolving real digests from the registry is tested with the build, in
tests/build/test_docker.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pipelinectl.render import airflow, cronjob, outputs
from pipelinectl.spec import platform
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import load_pipelines
from pipelinectl.yamlout import dump_all
from tests.support.repo import REPO, git

VALID = REPO / "tests" / "fixtures" / "valid"
ZERO = "sha256:" + "0" * 64
LAYOUT = [
    "airflow/default/default__airflow-hostile.py",
    "airflow/default/default__docker-run.py",
    "airflow/default/default__fan-in.py",
    "kubernetes/default/admissions-hourly.yaml",
    "kubernetes/default/backfill-by-hand.yaml",
    "kubernetes/default/hostile-values.yaml",
    "kubernetes/default/nightly-chain.yaml",
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The valid fixtures in a git repository of their own, committed."""
    shutil.copytree(VALID, tmp_path / "repo")
    root = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-c", "user.email=a@b.c", "-c", "user.name=a", "-C", str(root),
                    "add", "-A"], check=True)
    subprocess.run(["git", "-c", "user.email=a@b.c", "-c", "user.name=a", "-C", str(root),
                    "commit", "-qm", "fixtures"], check=True)
    return root


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def last_change(repo: Path, folder: Path) -> str:
    """The last commit that changed `folder`, as git log says it."""
    return subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%H", "--",
                           str(folder)], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_layout_content_and_placeholder(run, repo: Path) -> None:
    result = run("render", "--image-placeholder", cwd=repo)
    assert result.code == 0, result.err
    out = repo / ".pipelinectl" / "render"
    assert list(files(out)) == LAYOUT
    assert result.out == "".join(f".pipelinectl/render/{path}\n" for path in LAYOUT)
    assert result.err == (
        "warning: images referenced by the placeholder digest sha256:00000000...: these files "
        "cannot run until rendered again after `pipelinectl build`\n")
    local = platform.load(None)
    for pipeline in load_pipelines(find_pipelines([], repo), local, None, repo):
        image = f"127.0.0.1:5000/default/{pipeline.metadata.name}@{ZERO}"
        target = cronjob.Target("default", "default", image, last_change(repo, pipeline.folder))
        if pipeline.resolved_engine == "cronjob":
            expected = dump_all([cronjob.render(pipeline, target)])
            path = f"kubernetes/default/{pipeline.metadata.name}.yaml"
        else:
            expected = airflow.render(pipeline, airflow.AirflowTarget(target, runner="docker"))
            path = f"airflow/default/{airflow.dag_id(pipeline)}.py"
        assert (out / path).read_text(encoding="utf-8") == expected


def test_output_is_byte_identical_and_stale_files_are_pruned(run, repo: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("render", "--image-placeholder", "-o", str(out), cwd=repo).code == 0
    first = files(out)
    assert run("render", "--image-placeholder", "-o", str(out), cwd=repo).code == 0
    assert files(out) == first  # byte for byte, and no temporary files left behind
    # A pipeline removed from the repository: its file goes on the next full render...
    shutil.rmtree(repo / "unscheduled")
    (out / "kubernetes" / "default" / "notes.txt").write_text("not ours\n")
    assert run("render", "--image-placeholder", "-o", str(out), cwd=repo).code == 0
    assert "kubernetes/default/backfill-by-hand.yaml" not in files(out)
    assert "kubernetes/default/notes.txt" in files(out)  # only rendered kinds of file go
    # ...but a render of some paths leaves the other pipelines' files alone.
    (out / "kubernetes" / "default" / "backfill-by-hand.yaml").write_text("kept\n")
    assert run("render", "--image-placeholder", "-o", str(out), str(repo / "cron-all-options"),
               cwd=repo).code == 0
    assert files(out)["kubernetes/default/backfill-by-hand.yaml"] == b"kept\n"


def test_an_invalid_pipeline_writes_nothing(run, repo: Path, tmp_path: Path) -> None:
    (repo / "unscheduled" / "pipeline.yaml").write_text("apiVersion: pipelinectl/v1\n")
    result = run("render", "--image-placeholder", "-o", str(tmp_path / "out"), cwd=repo)
    assert result.code == 1
    assert result.err.startswith("unscheduled/pipeline.yaml:1:1: the top level: missing "
                                 "required key"), result.err
    assert not (tmp_path / "out").exists()


def test_the_revision_is_the_last_commit_that_changed_the_pipeline(run, tmp_path: Path) -> None:
    """Outside git: forty zeros. In git: the last commit that changed the pipeline's folder,
    so a commit elsewhere renders the same bytes."""
    repo = tmp_path / "p"
    shutil.copytree(VALID / "cron-all-options", repo / "hourly")
    name = "kubernetes/default/admissions-hourly.yaml"
    result = run("render", "--image-placeholder", "-o", str(tmp_path / "out"), cwd=repo)
    assert result.code == 0, result.err
    outside = (tmp_path / "out" / name).read_text()
    assert f"pipelinectl.io/git-sha: '{outputs.NO_REVISION}'" in outside
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "p")
    changed = git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("docs\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    assert run("render", "--image-placeholder", "-o", str(tmp_path / "in-git"),
               cwd=repo).code == 0
    text = (tmp_path / "in-git" / name).read_text()
    assert f"pipelinectl.io/git-sha: {changed}\n" in text
    assert f"- name: PIPELINECTL_REVISION\n              value: {changed}\n" in text

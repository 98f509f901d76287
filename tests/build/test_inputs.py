"""Build inputs and content digests: what decides an image, and only that (no docker)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelinectl.adapters import contextdir
from pipelinectl.build import context as buildinputs
from pipelinectl.build import digest, images
from pipelinectl.errors import UserError
from pipelinectl.spec import platform, validation
from tests.support.repo import git, write

DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata:
  name: demo
  team: default
image:
  language: python
  version: "{version}"
  dependencies: requirements.txt
  system_packages: [{packages}]
schedule: "{schedule}"
tasks:
  - name: main
    command: [{command}]
"""

CUSTOM_SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata:
  name: custom
  team: default
image:
  dockerfile: {dockerfile}
  context: {context}
tasks:
  - name: main
    command: [python, main.py]
"""


def spec_text(version: str = "3.12", packages: str = "curl", schedule: str = "0 7 * * *",
              command: str = "python, main.py") -> str:
    return SPEC.format(version=version, packages=packages, schedule=schedule, command=command)


def make_pipeline(folder: Path) -> Path:
    """A python pipeline folder: pipeline.yaml, requirements.txt and main.py."""
    write(folder / "requirements.txt", "six==1.16.0\n")
    write(folder / "main.py", "print('main')\n")
    return write(folder / "pipeline.yaml", spec_text())


def make_custom(folder: Path, dockerfile: str = "Dockerfile", context: str = ".") -> Path:
    write(folder / "main.py", "print('main')\n")
    write(folder / "Dockerfile", "FROM python:3.12-slim\nCOPY main.py /app/main.py\n")
    return write(folder / "pipeline.yaml", CUSTOM_SPEC.format(dockerfile=dockerfile,
                                                              context=context))


def plan_of(spec: Path) -> images.ImagePlan:
    cfg = platform.load(None)
    [pipeline] = validation.load_pipelines([spec], cfg, None, spec.parent)
    return images.plan(pipeline, spec.parent.resolve(), cfg)


def code_names(plan: images.ImagePlan) -> list[str]:
    return [e.name for e in plan.build.entries if e.name.startswith("code/")]


def context_bytes(plan: images.ImagePlan, folder: Path | None = None
                  ) -> dict[str, tuple[str, int, int, bytes]]:
    """The context as the builder gets it (contextdir.sync): name -> kind, mode, time, data."""
    target = folder or Path(tempfile.mkdtemp()) / "context"
    contextdir.sync(plan.build, target)
    snapshot = {}
    for path in sorted(target.rglob("*")):
        info = os.lstat(path)
        kind = "symlink" if path.is_symlink() else "dir" if path.is_dir() else "file"
        data = (os.readlink(path).encode() if kind == "symlink" else
                path.read_bytes() if kind == "file" else b"")
        snapshot[path.relative_to(target).as_posix()] = (kind, info.st_mode & 0o777,
                                                         info.st_mtime_ns, data)
    return snapshot


def committed_repo(git_repo: Path) -> Path:
    """git_repo with a pipeline in pipelines/demo/, committed."""
    make_pipeline(git_repo / "pipelines" / "demo")
    os.chmod(git_repo / "pipelines" / "demo" / "main.py", 0o755)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "demo")
    return git_repo


def clone(source: Path, target: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(source), str(target)], check=True)
    return target / "pipelines" / "demo" / "pipeline.yaml"


# --- same inputs, same digest ----------------------------------------------------------------

def test_two_clones_give_the_same_digest_and_context(git_repo: Path, tmp_path: Path) -> None:
    source = committed_repo(git_repo)
    first = plan_of(clone(source, tmp_path / "clone-a"))
    second = plan_of(clone(source, tmp_path / "clone-b"))
    assert first.pipeline_dir != second.pipeline_dir
    assert first.content_digest == second.content_digest
    assert first.content_digest == plan_of(source / "pipelines" / "demo" / "pipeline.yaml"
                                           ).content_digest
    assert first.inputs.label() == second.inputs.label()
    assert context_bytes(first) == context_bytes(second)


def test_mtimes_do_not_change_the_digest(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before = plan_of(spec)
    for path in (tmp_path / "demo").iterdir():
        os.utime(path, (1_234_567_890, 1_234_567_890))
    after = plan_of(spec)
    assert after.content_digest == before.content_digest
    assert context_bytes(after) == context_bytes(before)


def test_umask_modes_give_the_same_digest(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    os.chmod(tmp_path / "demo" / "main.py", 0o644)
    narrow = plan_of(spec)
    os.chmod(tmp_path / "demo" / "main.py", 0o664)
    wide = plan_of(spec)
    assert wide.content_digest == narrow.content_digest
    assert context_bytes(wide) == context_bytes(narrow)


def test_executable_bit_changes_the_digest(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    os.chmod(tmp_path / "demo" / "main.py", 0o644)
    plain = plan_of(spec)
    os.chmod(tmp_path / "demo" / "main.py", 0o755)
    executable = plan_of(spec)
    assert executable.content_digest != plain.content_digest
    assert digest.explain(plain.inputs.label(), executable.inputs) == ["code: changed main.py"]
    [entry] = [e for e in executable.build.entries if e.name == "code/main.py"]
    assert entry.mode == 0o755


# --- each input changed: another digest, named by explain ------------------------------------

def changed(spec: Path, edit: Callable[[], object]) -> tuple[images.ImagePlan, images.ImagePlan]:
    before = plan_of(spec)
    edit()
    after = plan_of(spec)
    assert after.content_digest != before.content_digest
    return before, after


def test_base_image_version(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before, after = changed(spec, lambda: write(spec, spec_text(version="3.13")))
    assert after.build.base_image == "python:3.13-slim"
    assert digest.explain(before.inputs.label(), after.inputs) == [
        "base image: python:3.12-slim -> python:3.13-slim"]


def test_requirements_content(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before, after = changed(spec, lambda: write(tmp_path / "demo" / "requirements.txt",
                                                "six==1.17.0\n"))
    # requirements.txt is both the dependency file and a file of the code folder
    assert digest.explain(before.inputs.label(), after.inputs) == [
        "dependencies: changed requirements.txt", "code: changed requirements.txt"]


def test_system_package_added(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before, after = changed(spec, lambda: write(spec, spec_text(packages="curl, libpq5")))
    assert digest.explain(before.inputs.label(), after.inputs) == [
        "system packages: added libpq5"]


def test_system_package_removed(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before, after = changed(spec, lambda: write(spec, spec_text(packages="")))
    assert after.build.system_packages == ()
    assert digest.explain(before.inputs.label(), after.inputs) == [
        "system packages: removed curl"]


def test_system_packages_swapped(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before, after = changed(spec, lambda: write(spec, spec_text(packages="libpq5")))
    assert digest.explain(before.inputs.label(), after.inputs) == [
        "system packages: added libpq5; removed curl"]


def test_script_changed(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before, after = changed(spec, lambda: write(tmp_path / "demo" / "main.py", "print(2)\n"))
    assert digest.explain(before.inputs.label(), after.inputs) == ["code: changed main.py"]


def test_script_added(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before, after = changed(spec, lambda: write(tmp_path / "demo" / "extra.py", "x = 1\n"))
    assert digest.explain(before.inputs.label(), after.inputs) == ["code: added extra.py"]


def test_script_removed(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    write(tmp_path / "demo" / "lib" / "helpers.py", "x = 1\n")
    before, after = changed(spec, lambda: (tmp_path / "demo" / "lib" / "helpers.py").unlink())
    assert digest.explain(before.inputs.label(), after.inputs) == [
        "code: removed lib/helpers.py"]


def test_changed_added_and_removed_in_one_line(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    write(tmp_path / "demo" / "old.py", "x = 1\n")

    def edit() -> None:
        write(tmp_path / "demo" / "main.py", "print(2)\n")
        write(tmp_path / "demo" / "new.py", "y = 1\n")
        (tmp_path / "demo" / "old.py").unlink()

    before, after = changed(spec, edit)
    assert digest.explain(before.inputs.label(), after.inputs) == [
        "code: changed main.py; added new.py; removed old.py"]


def test_custom_dockerfile_text(tmp_path: Path) -> None:
    spec = make_custom(tmp_path / "custom")
    before, after = changed(spec, lambda: write(
        tmp_path / "custom" / "Dockerfile", "FROM python:3.12-slim\nCOPY . /app\n"))
    assert before.build.dockerfile == "Dockerfile"
    assert before.build.base_image is None
    assert digest.explain(before.inputs.label(), after.inputs) == ["Dockerfile changed"]


def test_custom_context_file(tmp_path: Path) -> None:
    spec = make_custom(tmp_path / "custom")
    before, after = changed(spec, lambda: write(tmp_path / "custom" / "main.py", "print(2)\n"))
    assert digest.explain(before.inputs.label(), after.inputs) == ["code: changed main.py"]


def test_same_label_explains_itself_as_same_inputs(tmp_path: Path) -> None:
    plan = plan_of(make_pipeline(tmp_path / "demo"))
    assert digest.explain(plan.inputs.label(), plan.inputs) == [
        "same inputs, but the image it replaces has another digest"]


# --- what is not an input --------------------------------------------------------------------

def test_schedule_change_keeps_the_digest(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before = plan_of(spec)
    write(spec, spec_text(schedule="30 22 * * 1"))
    after = plan_of(spec)
    assert after.pipeline.schedule is not None and after.pipeline.schedule.cron == "30 22 * * 1"
    assert after.content_digest == before.content_digest
    assert "code/pipeline.yaml" not in code_names(after)


def test_task_command_change_keeps_the_digest(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before = plan_of(spec)
    write(spec, spec_text(command="python, main.py, --full"))
    after = plan_of(spec)
    assert after.pipeline.tasks[0].command == ("python", "main.py", "--full")
    assert after.content_digest == before.content_digest


def test_custom_context_keeps_pipeline_yaml(tmp_path: Path) -> None:
    # A custom Dockerfile gets its context as docker would send it: the spec is in it.
    spec = make_custom(tmp_path / "custom")
    before, after = changed(spec, lambda: write(spec, spec.read_text().replace(
        "command: [python, main.py]", "command: [python, main.py, --full]")))
    assert [e.name for e in after.build.entries] == ["Dockerfile", "main.py", "pipeline.yaml"]
    assert digest.explain(before.inputs.label(), after.inputs) == ["code: changed pipeline.yaml"]

# --- .dockerignore and default exclusions ----------------------------------------------------

def ignoring_pipeline(folder: Path) -> Path:
    spec = make_pipeline(folder)
    write(folder / ".dockerignore", "# local data\ndata/\n*.csv\n!data/keep.csv\n")
    write(folder / "data" / "raw.csv", "a,b\n")
    write(folder / "data" / "notes.txt", "notes\n")
    write(folder / "data" / "keep.csv", "k\n")
    write(folder / "top.csv", "t\n")
    return spec


def test_dockerignore_decides_the_code(tmp_path: Path) -> None:
    plan = plan_of(ignoring_pipeline(tmp_path / "demo"))
    assert code_names(plan) == ["code/.dockerignore", "code/data/keep.csv", "code/main.py",
                                "code/requirements.txt"]


@pytest.mark.parametrize("ignored", ["data/raw.csv", "data/notes.txt", "top.csv"])
def test_ignored_file_edit_keeps_the_digest(tmp_path: Path, ignored: str) -> None:
    spec = ignoring_pipeline(tmp_path / "demo")
    before = plan_of(spec)
    write(tmp_path / "demo" / ignored, "edited\n")
    assert plan_of(spec).content_digest == before.content_digest


def test_reincluded_file_edit_changes_the_digest(tmp_path: Path) -> None:
    spec = ignoring_pipeline(tmp_path / "demo")
    before, after = changed(spec, lambda: write(tmp_path / "demo" / "data" / "keep.csv", "x\n"))
    assert digest.explain(before.inputs.label(), after.inputs) == [
        "code: changed data/keep.csv"]


def test_pycache_is_excluded_by_default(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    write(tmp_path / "demo" / "lib" / "util.py", "x = 1\n")
    before = plan_of(spec)
    write(tmp_path / "demo" / "__pycache__" / "main.cpython-312.pyc", "bytecode")
    write(tmp_path / "demo" / "lib" / "__pycache__" / "util.cpython-312.pyc", "bytecode")
    write(tmp_path / "demo" / "lib" / "stray.pyc", "bytecode")
    after = plan_of(spec)
    assert after.content_digest == before.content_digest
    assert code_names(after) == ["code/lib", "code/lib/util.py", "code/main.py",
                                 "code/requirements.txt"]


def test_git_folder_is_never_in_a_custom_context(git_repo: Path) -> None:
    spec = make_custom(git_repo)
    write(git_repo / ".dockerignore", "!.git\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "custom")
    before = plan_of(spec)
    assert (git_repo / ".git").is_dir()
    assert [e.name for e in before.build.entries] == [".dockerignore", "Dockerfile", "main.py",
                                                      "pipeline.yaml"]
    git(git_repo, "commit", "-q", "--allow-empty", "-m", "another commit")
    assert plan_of(spec).content_digest == before.content_digest


def test_git_file_of_a_worktree_is_not_code(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    before = plan_of(spec)
    write(tmp_path / "demo" / ".git", "gitdir: /somewhere/.git/worktrees/demo\n")
    after = plan_of(spec)
    assert "code/.git" not in code_names(after)
    assert after.content_digest == before.content_digest


# --- the context folder the builder reads ---------------------------------------------------

def test_context_is_identical_and_normalised(git_repo: Path, tmp_path: Path) -> None:
    source = committed_repo(git_repo)
    first = plan_of(clone(source, tmp_path / "clone-a"))
    second = plan_of(clone(source, tmp_path / "clone-b"))
    data = context_bytes(first)
    assert context_bytes(first) == data
    assert context_bytes(second) == data
    assert sorted(set(data) - {".pipelinectl"}) == [e.name for e in first.build.entries]
    main = data["code/main.py"]
    assert main[:2] == ("file", 0o755) and main[3] == b"print('main')\n"
    entry = next(e for e in first.build.entries if e.name == "code/main.py")
    assert main[2] == contextdir.mtime_ns(entry) >= buildinputs.CONTEXT_MTIME * 10**9
    assert data["code"][:3] == ("dir", 0o755, buildinputs.CONTEXT_MTIME * 10**9)
    assert data[".pipelinectl/system-packages.txt"][3] == b"curl\n"
    assert buildinputs.CONTEXT_MTIME == 946684800


def test_sync_rewrites_only_what_changed(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    write(tmp_path / "demo" / "old.py", "print('old')\n")
    folder = tmp_path / "ctx" / "context"
    before = context_bytes(plan_of(spec), folder)
    inode = os.stat(folder / "code" / "requirements.txt").st_ino
    (tmp_path / "demo" / "old.py").unlink()
    write(tmp_path / "demo" / "main.py", "print('MAIN')\n")  # same size: the time must differ
    write(folder / "code" / ".stray.pipelinectl-tmp", "left by a crash\n")
    after = context_bytes(plan_of(spec), folder)
    assert os.stat(folder / "code" / "requirements.txt").st_ino == inode  # not rewritten
    assert "code/old.py" not in after and "code/.stray.pipelinectl-tmp" not in after
    assert after["code/main.py"][3] == b"print('MAIN')\n"
    assert after["code/main.py"][2] != before["code/main.py"][2]
    assert after["code/requirements.txt"] == before["code/requirements.txt"]


def test_sync_repairs_a_file_changed_behind_its_back(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    folder = tmp_path / "ctx" / "context"
    before = context_bytes(plan_of(spec), folder)
    (folder / "code" / "main.py").write_text("tampered\n")
    assert context_bytes(plan_of(spec), folder) == before


def test_file_edited_between_collect_and_write_stops_the_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_pipeline(tmp_path / "demo")
    plan = plan_of(spec)
    write(tmp_path / "demo" / "main.py", "print('edited')\n")
    monkeypatch.chdir(tmp_path / "demo")
    with pytest.raises(UserError) as caught:
        contextdir.sync(plan.build, tmp_path / "ctx")
    assert caught.value.message == "main.py changed while the image was being built"


def test_custom_dockerfile_outside_context_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "custom"
    make_custom(folder, dockerfile="Dockerfile", context="app")
    write(folder / "app" / "main.py", "print('main')\n")
    cfg = platform.load(None)
    [pipeline] = validation.load_pipelines([folder / "pipeline.yaml"], cfg, None, folder)
    with pytest.raises(UserError) as caught:
        images.plan(pipeline, folder.resolve(), cfg)
    assert caught.value.message == ("image.dockerfile 'Dockerfile' is outside image.context "
                                    "'app'")
    assert caught.value.message.startswith("image.dockerfile")


# --- labels and tags -------------------------------------------------------------------------

def padded_pipeline(folder: Path, code_files: int) -> Path:
    """A pipeline whose code folder holds exactly `code_files` entries."""
    spec = make_pipeline(folder)  # main.py and requirements.txt
    for index in range(code_files - 2):
        (folder / f"f{index:04d}.py").write_text(f"x = {index}\n", encoding="utf-8")
    return spec


def test_label_names_files_up_to_the_limit(tmp_path: Path) -> None:
    spec = padded_pipeline(tmp_path / "demo", digest.MAX_LISTED_FILES)
    before, after = changed(spec, lambda: write(tmp_path / "demo" / "main.py", "print(2)\n"))
    assert len(json.loads(before.inputs.label())["files"]) == digest.MAX_LISTED_FILES
    assert digest.explain(before.inputs.label(), after.inputs) == ["code: changed main.py"]


def test_label_collapses_files_beyond_the_limit(tmp_path: Path) -> None:
    spec = padded_pipeline(tmp_path / "demo", digest.MAX_LISTED_FILES + 1)
    before, after = changed(spec, lambda: write(tmp_path / "demo" / "main.py", "print(2)\n"))
    files = json.loads(before.inputs.label())["files"]
    assert list(files) == ["*"]
    assert re.fullmatch(r"[0-9a-f]{16}", files["*"])
    assert digest.explain(before.inputs.label(), after.inputs) == [
        "code: files changed (too many files to name them)"]


def test_label_round_trip_reads_every_field(tmp_path: Path) -> None:
    plan = plan_of(make_pipeline(tmp_path / "demo"))
    label = json.loads(plan.inputs.label())
    main_sha = hashlib.sha256(b"print('main')\n").hexdigest()
    req_sha = hashlib.sha256(b"six==1.16.0\n").hexdigest()
    assert label["format"] == digest.FORMAT
    assert label["base-image"] == "python:3.12-slim"
    assert label["dockerfile"] is None
    assert label["dependencies"] == {"requirements.txt": req_sha[:16]}
    assert label["system-packages"] == ["curl"]
    assert label["files"] == {"main.py": "--" + main_sha[:16],
                              "requirements.txt": "--" + req_sha[:16]}
    assert re.fullmatch(r"[0-9a-f]{16}", label["builder"])


@pytest.mark.parametrize("label, reason", [
    (None, "the image it replaces carries no pipelinectl inputs label"),
    ("{not json", "the image it replaces has an unreadable pipelinectl inputs label"),
    ('{"format": 0}', "the image it replaces was built by another pipelinectl image format"),
    ("[1]", "the image it replaces was built by another pipelinectl image format"),
])
def test_explain_unusable_labels(tmp_path: Path, label: str | None, reason: str) -> None:
    plan = plan_of(make_pipeline(tmp_path / "demo"))
    assert digest.explain(label, plan.inputs) == [reason]


def test_content_tag_format(tmp_path: Path) -> None:
    plan = plan_of(make_pipeline(tmp_path / "demo"))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", plan.content_digest)
    tag = digest.content_tag(plan.content_digest)
    assert tag == "content-" + plan.content_digest.removeprefix("sha256:")
    assert re.fullmatch(r"content-[0-9a-f]{64}", tag)
    assert DOCKER_TAG.fullmatch(tag)
    assert plan.content_tag == tag


def test_git_tag_format(git_repo: Path) -> None:
    committed_repo(git_repo)
    sha = git(git_repo, "rev-parse", "HEAD")
    tag = digest.git_tag(sha)
    assert tag == "git-" + sha
    assert re.fullmatch(r"git-[0-9a-f]{40}", tag)
    assert DOCKER_TAG.fullmatch(tag)


# --- symlinks --------------------------------------------------------------------------------

def test_symlink_outside_the_repo_is_kept_as_a_link(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    os.symlink("/etc/passwd", tmp_path / "demo" / "passwd")
    plan = plan_of(spec)
    [entry] = [e for e in plan.build.entries if e.name == "code/passwd"]
    assert entry.kind == "symlink"
    assert entry.data == b"/etc/passwd"
    assert entry.source is None
    assert entry.sha256 == hashlib.sha256(b"link:/etc/passwd").hexdigest()
    assert context_bytes(plan)["code/passwd"][::3] == ("symlink", b"/etc/passwd")


def test_symlink_target_is_never_read(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    outside = write(tmp_path / "outside" / "secret.txt", "first\n")
    os.symlink(outside, tmp_path / "demo" / "secret")
    os.symlink(tmp_path / "outside", tmp_path / "demo" / "folder")
    before = plan_of(spec)
    write(outside, "second\n")
    write(tmp_path / "outside" / "more.txt", "more\n")
    after = plan_of(spec)
    assert after.content_digest == before.content_digest
    assert [(e.name, e.kind) for e in after.build.entries if e.name.startswith("code/")] == [
        ("code/folder", "symlink"), ("code/main.py", "file"), ("code/requirements.txt", "file"),
        ("code/secret", "symlink")]


# --- bugs these tests found (fixed) ----------------------------------------------------------

def test_git_file_is_never_in_the_context_even_with_an_exception(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    write(tmp_path / "demo" / ".dockerignore", "!.git\n")
    write(tmp_path / "demo" / ".git", "gitdir: /somewhere/.git/worktrees/demo\n")
    assert "code/.git" not in code_names(plan_of(spec))


def test_system_packages_reordered(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    write(spec, spec_text(packages="curl, libpq5"))
    before = plan_of(spec)
    write(spec, spec_text(packages="libpq5, curl"))
    after = plan_of(spec)
    reasons = digest.explain(before.inputs.label(), after.inputs)
    assert after.content_digest == before.content_digest
    assert reasons == ["same inputs, but the image it replaces has another digest"]


def test_dockerignore_with_a_byte_order_mark(tmp_path: Path) -> None:
    spec = make_pipeline(tmp_path / "demo")
    (tmp_path / "demo" / ".dockerignore").write_bytes("\ufeffdata/\n".encode())
    write(tmp_path / "demo" / "data" / "raw.csv", "a,b\n")
    assert code_names(plan_of(spec)) == ["code/.dockerignore", "code/main.py",
                                         "code/requirements.txt"]


# --- only what git tracks -------------------------------------------------------------------

def tracked_plan(repo: Path, spec: Path) -> images.ImagePlan:
    from pipelinectl.adapters.git import tracked

    cfg = platform.load(None)
    [pipeline] = validation.load_pipelines([spec], cfg, None, spec.parent)
    return images.plan(pipeline, pipeline.folder, cfg, tracked(repo.resolve()))


def test_ignored_and_untracked_files_never_enter_the_context(git_repo: Path) -> None:
    repo = committed_repo(git_repo)
    demo = repo / "pipelines" / "demo"
    write(repo / ".gitignore", ".env\n.Renviron\nsecrets/\n")
    write(demo / ".env", "TOKEN=planted-secret\n")
    write(demo / ".Renviron", "KEY=planted\n")
    write(demo / "secrets" / "key.pem", "-----BEGIN PRIVATE KEY-----\n")
    write(demo / "notes.txt", "untracked, not ignored\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore")
    names = code_names(tracked_plan(repo, demo / "pipeline.yaml"))
    assert names == ["code/main.py", "code/requirements.txt"]
    # Outside that rule (no tracking given: a folder outside git) everything is walked.
    assert "code/.env" in code_names(plan_of(demo / "pipeline.yaml"))


def test_an_untracked_dependency_file_is_refused(git_repo: Path) -> None:
    repo = committed_repo(git_repo)
    demo = repo / "pipelines" / "demo"
    git(repo, "rm", "-q", "--cached", "pipelines/demo/requirements.txt")
    with pytest.raises(UserError) as refused:
        tracked_plan(repo, demo / "pipeline.yaml")
    assert refused.value.render() == (
        "error: requirements.txt is not tracked by git, so it cannot be part of the image\n"
        "  hint: git add requirements.txt (deploy needs it committed); `pipelinectl run "
        "--include-untracked` takes it as it is")  # paths as the spec's display name


def test_an_untracked_dockerignore_is_not_read(git_repo: Path) -> None:
    repo = committed_repo(git_repo)
    demo = repo / "pipelines" / "demo"
    write(demo / ".dockerignore", "main.py\n")  # untracked: must not change the image
    assert code_names(tracked_plan(repo, demo / "pipeline.yaml")) == [
        "code/main.py", "code/requirements.txt"]

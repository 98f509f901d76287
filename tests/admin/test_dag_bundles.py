"""The DAG bundles `platform airflow-values` emits for airflow.dags.git, in the pinned real
Airflow 3 with apache-airflow-providers-git: a versioned GitDagBundle over pipelinectl's DAG
branch (here a local bare repository, which the provider clones like any remote) keeps a new
DAG version for a deploy that changed a DAG and none for the DAGs the deploy left alone, and a
run of the old version still starts the old image.

The story, deployed by pipelinectl's engine with git delivery and read by Airflow's own dag
processor after each deploy (tests/support/bundle_probe.py):
  A  two airflow pipelines, alpha and beta: one DAG commit with both files; then a run of
     each DAG. Without task instances on its version, Airflow rewrites that version in place
     rather than adding one, so without the runs the counts below would prove nothing.
  B  beta at nine instead of seven, and (its files changed) a new image: one DAG commit, with
     beta's file only.
  C  a README: no DAG commit at all.
  D  alpha's script only: a new image and revision, the same schedule. Airflow adds a version
     when what it stores of a DAG changes, and it stores no task's image or command (the
     generated tasks have no template fields): the DAG's doc_md, which names the revision,
     the image and a digest of the whole PIPELINE literal, is what makes it a new version.
An image's digest stands for the image built from the pipeline at its revision (its last
change). Airflow runs with `[core] min_serialized_dag_update_interval` 0: it skips writing a
DAG parsed again within that interval (30 s) of its last write, which a real dag processor
makes up at its next parse, but this test parses once per deploy, seconds apart. The bundles'
refresh_interval is pipelinectl's 60 s: a dag processor refreshes a bundle it has not seen yet
at once, and each pass here is a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelinectl import wiring
from pipelinectl.admin.airflowvalues import dag_bundles
from pipelinectl.deploy import engine
from pipelinectl.render.desired import desired
from pipelinectl.spec import platform
from pipelinectl.spec.discover import find_pipelines
from pipelinectl.spec.validation import load_pipelines
from tests.support.deploying import SPEC, context
from tests.support.fakekube import FakeKube
from tests.support.repo import REPO, git, valid_pipeline, write

PROBE = REPO / "tests" / "support" / "bundle_probe.py"
AIRFLOW_SPEC = SPEC.replace("tasks:", "engine: airflow\ntasks:")
PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: 127.0.0.1:5000
base_images:
  python: {{"3.12": "python:3.12-slim"}}
teams:
  default: {{namespace: default}}
airflow:
  dags:
    git: {{repo: {remote}, branch: dags, path: "teams/{{team}}"}}
"""
BUNDLE = "pipelinectl-default"
ALPHA, BETA = "default__alpha", "default__beta"


def image(name: str, revision: str) -> str:
    """The image built from pipeline `name` at `revision`: a digest of its own."""
    digest = hashlib.sha256(f"{name}@{revision}".encode()).hexdigest()
    return f"127.0.0.1:5000/default/{name}@sha256:{digest}"


@dataclasses.dataclass
class Story:
    """The pipelines repository, the DAG branch's remote, and an Airflow reading it."""

    repo: Path
    remote: Path
    config: platform.Platform
    tmp: Path
    env: dict[str, str]
    python: str

    def commit(self, message: str, crons: dict[str, str] | None = None,
               readme: str | None = None) -> None:
        for name, cron in (crons or {}).items():
            valid_pipeline(self.repo / name, AIRFLOW_SPEC.format(name=name, cron=cron,
                                                                 secrets="db"))
        if readme is not None:
            write(self.repo / "README.md", readme)
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", message)

    def deploy(self) -> tuple[str, dict[str, str]]:
        """Deploys HEAD as `deploy` does, without building: the DAG branch's head after it,
        and each pipeline's image."""
        pipelines = load_pipelines(find_pipelines([], self.repo), self.config, None, self.repo)
        revision = wiring.revisions(self.repo.resolve(), pipelines)
        images = {p.metadata.name: image(p.metadata.name, revision[p.file]) for p in pipelines}
        wanted = [desired(p, self.config, images[p.metadata.name], revision[p.file])
                  for p in pipelines]
        ctx = context(self.repo, self.tmp / "kubeconfig", config=self.config)
        with wiring.delivery(self.config, self.tmp, {"PATH": "/usr/bin:/bin"}) as found:
            engine.run(wanted, dataclasses.replace(ctx, delivery=found), prune_removed=True)
        return git(self.remote, "rev-parse", "dags"), images

    def airflow(self, *args: str) -> dict[str, Any]:
        """bundle_probe.py ARGS in the Airflow venv: what it found."""
        out = self.tmp / "probe.json"
        done = subprocess.run([self.python, str(PROBE), *args, str(out)], env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return result


@pytest.fixture(scope="module")
def story(airflow_python: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Any]]:
    """Deploys A, B and C with Airflow's dag processor after each, then asks what a worker
    starts for a run of each version of beta: what every step left behind."""
    tmp = tmp_path_factory.mktemp("bundles")
    repo, remote = tmp / "pipelines", tmp / "dags.git"
    git(tmp, "init", "-q", str(repo))
    git(tmp, "init", "-q", "--bare", str(remote))
    config = platform.load(str(write(tmp / "platform.yaml", PLATFORM.format(remote=remote))))
    bundles = dag_bundles(config)
    env = {**os.environ, "AIRFLOW_HOME": str(tmp / "airflow-home"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
           "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(tmp / "bundles"),
           "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles)}
    subprocess.run([airflow_python, "-m", "airflow", "db", "migrate"], env=env, check=True,
                   capture_output=True, timeout=300)
    kube = FakeKube()  # the engine records each pipeline's state there
    kube.start()
    try:
        kube.kubeconfig(tmp / "kubeconfig")
        kube.add_namespace("default")
        kube.put(("", "v1", "secrets"), "default", {"metadata": {"name": "db"}})
        s = Story(repo, remote, config, tmp, env, airflow_python)
        found: dict[str, Any] = {"bundles": bundles, "remote": str(remote)}

        s.commit("A", crons={"alpha": "0 7 * * *", "beta": "0 7 * * *"})
        found["dags_a"], found["images_a"] = s.deploy()
        found["files_a"] = git(remote, "ls-tree", "-r", "--name-only", "dags").split()
        found["after_a"] = s.airflow("process")["state"]
        for dag in (ALPHA, BETA):
            s.airflow("trigger", dag, "run-a")

        s.commit("B: beta at nine", crons={"beta": "0 9 * * *"})
        found["dags_b"], found["images_b"] = s.deploy()
        found["changed_b"] = git(remote, "diff", "--name-only", found["dags_a"],
                                 found["dags_b"]).split()
        found["after_b"] = s.airflow("process")["state"]

        s.commit("C: docs only", readme="# the pipelines\n")
        found["dags_c"], found["images_c"] = s.deploy()
        found["dag_commits"] = git(remote, "rev-list", "--count", "dags")
        found["after_c"] = s.airflow("process")["state"]

        found["worker_a"] = s.airflow("worker", BETA, "run-a")["tasks"]
        s.airflow("trigger", BETA, "run-b")
        done = s.airflow("worker", BETA, "run-b")
        found["worker_b"], found["final"] = done["tasks"], done["state"]

        write(repo / "alpha" / "fetch.py", "print('fetch, faster')\n")
        s.commit("D: alpha's script")
        found["dags_d"], found["images_d"] = s.deploy()
        found["changed_d"] = git(remote, "diff", "--name-only", found["dags_c"],
                                 found["dags_d"]).split()
        found["after_d"] = s.airflow("process")["state"]
        yield found
    finally:
        kube.stop()


def without_code(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in version.items() if k not in ("id", "code")}
            for version in versions]


def test_airflow_takes_the_bundle_pipelinectl_emits(story: dict[str, Any]) -> None:
    kwargs = {"repo_url": story["remote"],  # the local bare repository, a path as given
              "tracking_ref": "dags", "subdir": "teams/default", "refresh_interval": 60,
              "git_conn_id": "git_default"}
    assert story["bundles"] == [{"name": BUNDLE, "kwargs": kwargs,
                                 "classpath": "airflow.providers.git.bundles.git.GitDagBundle"}]
    after = story["after_a"]
    assert after["bundles"] == {BUNDLE: story["dags_a"]}  # versioned: the branch's commit
    assert after["import_errors"] == {}
    assert after["dags"] == {
        ALPHA: {"bundle": BUNDLE, "file": "default__alpha.py", "stale": False},
        BETA: {"bundle": BUNDLE, "file": "default__beta.py", "stale": False}}


def test_each_deploy_commits_only_the_dag_files_it_changed(story: dict[str, Any]) -> None:
    assert story["files_a"] == ["teams/default/default__alpha.py",
                                "teams/default/default__beta.py"]
    assert story["changed_b"] == ["teams/default/default__beta.py"]
    assert story["images_b"]["alpha"] == story["images_a"]["alpha"]
    assert story["images_b"]["beta"] != story["images_a"]["beta"]
    assert story["dags_c"] == story["dags_b"]  # C: the branch did not move
    assert story["images_c"] == story["images_b"]
    assert story["dag_commits"] == "2"


def test_the_changed_dag_has_two_versions_and_the_untouched_one_one(
        story: dict[str, Any]) -> None:
    a, b = story["dags_a"], story["dags_b"]
    versions = story["after_b"]["versions"]
    assert without_code(versions[BETA]) == [
        {"number": 1, "bundle": BUNDLE, "bundle_version": a, "schedule": "0 7 * * *"},
        {"number": 2, "bundle": BUNDLE, "bundle_version": b, "schedule": "0 9 * * *"}]
    # alpha's one version now points at the bundle's newer commit, where its file is the same
    assert without_code(versions[ALPHA]) == [
        {"number": 1, "bundle": BUNDLE, "bundle_version": b, "schedule": "0 7 * * *"}]
    assert story["after_b"]["bundles"] == {BUNDLE: b}
    # C wrote no DAG file: Airflow has nothing new, not even a bundle version
    assert story["after_c"]["versions"] == versions
    assert story["after_c"]["bundles"] == {BUNDLE: b}
    assert story["final"]["versions"] == versions  # nor did the workers and the run of B
    assert story["final"]["import_errors"] == {}


def test_each_version_keeps_its_own_dag_file(story: dict[str, Any]) -> None:
    first, second = story["after_b"]["versions"][BETA]
    old, new = story["images_a"]["beta"], story["images_b"]["beta"]
    assert f"'image': '{old}'" in first["code"] and new not in first["code"]
    assert f"'image': '{new}'" in second["code"] and old not in second["code"]


def test_a_run_of_version_a_still_starts_the_image_of_a(story: dict[str, Any]) -> None:
    first, second = story["after_b"]["versions"][BETA]
    runs = story["final"]["runs"]
    assert runs[f"{BETA}/run-a"] == {"bundle_version": story["dags_a"],
                                     "task_versions": [first["id"]]}
    assert story["worker_a"] == {"fetch": {
        "bundle": BUNDLE, "bundle_version": story["dags_a"], "file": "default__beta.py",
        "dag_version": first["id"], "image": story["images_a"]["beta"]}}
    # and a run made after B starts B's image
    assert runs[f"{BETA}/run-b"] == {"bundle_version": story["dags_b"],
                                     "task_versions": [second["id"]]}
    assert story["worker_b"] == {"fetch": {
        "bundle": BUNDLE, "bundle_version": story["dags_b"], "file": "default__beta.py",
        "dag_version": second["id"], "image": story["images_b"]["beta"]}}


def test_a_new_image_alone_is_a_new_version_too(story: dict[str, Any]) -> None:
    """D changed alpha's script: its image and revision, not its schedule."""
    assert story["changed_d"] == ["teams/default/default__alpha.py"]
    assert story["images_d"]["alpha"] != story["images_c"]["alpha"]
    versions = story["after_d"]["versions"]
    assert without_code(versions[ALPHA]) == [
        {"number": 1, "bundle": BUNDLE, "bundle_version": story["dags_b"],
         "schedule": "0 7 * * *"},
        {"number": 2, "bundle": BUNDLE, "bundle_version": story["dags_d"],
         "schedule": "0 7 * * *"}]
    first, second = versions[ALPHA]
    assert f"'image': '{story['images_d']['alpha']}'" in second["code"]
    assert story["images_d"]["alpha"] not in first["code"]
    # beta gets no version from D (its latest one now points at D's commit, where its file is
    # the same, as alpha's did after B)
    assert [(v["number"], v["schedule"], v["id"]) for v in versions[BETA]] == [
        (v["number"], v["schedule"], v["id"]) for v in story["after_c"]["versions"][BETA]]

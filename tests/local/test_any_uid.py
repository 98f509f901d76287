"""Every image built from base-images/ works as OpenShift runs it: as an arbitrary high uid in
group 0 (the restricted-v2 SCC ignores the image's USER; pipelinectl renders no runAsUser,
runAsGroup or fsGroup for kubernetes.flavor: openshift), a uid /etc/passwd does not know.

Each example pipeline, R and Python, is built with `pipelinectl build --no-push` from the
stand-in base images of test_example_end_to_end.py (Docker Hub is out of reach). Its tasks then
run in dependency order, each `docker run --user <uid>:0 --read-only --tmpfs /tmp` with the
command and environment `pipelinectl run` gives it (the PIPELINECTL_* variables included), one
random uid in 1000000000-1000999999 per pipeline run (OpenShift gives every pod of a namespace
the same one), sharing a fresh named volume at /workspace; the outputs are checked exactly.

The volume needs no preparation, and that is what the Docker-runner DAG relies on too. Docker
creates a named volume as an empty folder owned by root (0:0, mode 755); when a container that
mounts it is created while it is still empty, the daemon copies the image's folder at the
mount point into it, contents, owner and mode included ("copy-up"; `volume-nocopy` turns it
off, a bind mount never gets it, a volume that already holds files keeps its own). The base
images make /workspace 10001:0 with g=u (775), so the volume is group-0 writable before the
first task starts; an image without /workspace would leave it root's 755, which no non-root
task could write.
"""

from __future__ import annotations

import datetime
import os
import random
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelinectl import wiring
from pipelinectl.local import inputs
from pipelinectl.spec import platform
from pipelinectl.spec.model import Pipeline
from tests.local.test_example_end_to_end import PYTHON_STANDIN, STANDIN, standin
from tests.support.repo import REPO, git, write
from tests.support.services import DOCKER, HOST, PREFIX

UIDS = (1_000_000_000, 1_000_999_999)  # OpenShift's ranges start at 1000000000 and up
IMAGE_USER = "10001:0"  # the base images' USER
HOME = "/home/pipeline"
# folder under examples/ -> the folder (and pipeline name) in the test's repository
EXAMPLES = {
    "covid-cases-r": "covid-cases-r",
    "python-etl": "python-etl",
    "monorepo/pipelines/nightly-extract-py": "nightly-extract-py",
    "monorepo/pipelines/weekly-summary-r": "weekly-summary-r",
}
BUILT = re.compile(r"^(\S+)/pipeline\.yaml: (\S+): (?:built locally|up to date) "
                   r"(\S+:content-[0-9a-f]{64})$", re.MULTILINE)


@dataclass(frozen=True)
class Built:
    pipeline: Pipeline
    image: str  # <repository>:content-<digest>, in the local daemon
    revision: str


@pytest.fixture(scope="module")
def built(services: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """The four examples in one repository, built into the local daemon (not pushed)."""
    r_base = standin(STANDIN, "r-base-core")
    python_base = standin(PYTHON_STANDIN, "python3 python3-venv")
    repo = tmp_path_factory.mktemp("any-uid") / "repo"
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    for source, folder in EXAMPLES.items():
        shutil.copytree(REPO / "examples" / source, repo / folder)
    platform_file = write(repo / "platform.yaml", platform.builtin_path().read_text()
                          .replace("registry: 127.0.0.1:5000",
                                   f"registry: {HOST}/{PREFIX}/any-uid")
                          .replace('"4.4": rocker/r-ver:4.4.2', f'"4.4": {r_base}')
                          .replace('"3.12": python:3.12-slim', f'"3.12": {python_base}'))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "examples")
    environ = {k: v for k, v in os.environ.items()
               if k not in ("PIPELINECTL_PLATFORM", "CI_PROJECT_PATH", "GITHUB_REPOSITORY")}
    done = subprocess.run([str(Path(sys.executable).parent / "pipelinectl"), "build",
                           "--no-push", "--platform", str(platform_file)], cwd=repo,
                          env=environ, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    images = {name: image for _, name, image in BUILT.findall(done.stdout)}
    assert sorted(images) == sorted(EXAMPLES.values()), done.stdout
    loaded = wiring.load([str(repo)], str(platform_file), None, {}, repo)
    revisions = wiring.revisions(loaded.root, loaded.pipelines)
    return {p.metadata.name: Built(p, images[p.metadata.name], revisions[p.file])
            for p in loaded.pipelines}


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([DOCKER, *args], capture_output=True, text=True, check=False)
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)}\n{done.stdout}{done.stderr}"
    return done


def random_uid() -> int:
    return random.SystemRandom().randint(*UIDS)


# As the pods and `pipelinectl run` start tasks: no capabilities, no privilege escalation.
HARDENED = ("--cap-drop", "ALL", "--security-opt", "no-new-privileges")


@pytest.fixture
def volume() -> Iterator[str]:
    """A fresh named volume: empty, owned by root, 755 (docker volume create)."""
    name = f"pipelinectl-any-uid-{uuid.uuid4().hex[:12]}"
    docker("volume", "create", name)
    try:
        yield name
    finally:
        docker("volume", "rm", "-f", name, check=False)


def run_as(uid: int, volume: str, image: str, command: list[str],
           env: dict[str, str] | None = None) -> str:
    """`command` in `image` as OpenShift runs it: `uid` in group 0, read-only root filesystem
    but /tmp, the run's volume at /workspace. Its stdout (stderr in the failure message)."""
    environment = [f"--env={key}={value}" for key, value in (env or {}).items()]
    done = docker("run", "--rm", f"--user={uid}:0", "--read-only", "--tmpfs", "/tmp",
                  "--mount", f"type=volume,source={volume},target=/workspace", *HARDENED,
                  *environment, image, *command, check=False)
    assert done.returncode == 0, (f"{' '.join(command)} as uid {uid} exited "
                                  f"{done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


# -- the example pipelines, task by task ---------------------------------------------------

Read = Callable[[list[str]], str]  # a command in the image, as the run's uid, with its volume


def check_covid_cases_r(logs: dict[str, str], read: Read) -> None:
    assert logs == {
        "fetch": "fetch: 200 rows, onset 2026-01-05 to 2026-03-01 -> /workspace/cases.csv\n",
        "aggregate": "aggregate: 40 region-week rows (5 regions x 8 weeks), 126 confirmed -> "
                     "/workspace/weekly_by_region.csv\n",
        "report": "report: 5 regions, 8 weeks, 126 confirmed cases\n",
    }
    weekly = read(["cat", "/workspace/weekly_by_region.csv"]).splitlines()
    assert weekly[:2] == ['"iso_week","region","confirmed"', '"2026-W02","Central",3']
    assert len(weekly) == 41  # 5 regions x 8 weeks, and the header
    html = read(["cat", "/workspace/report.html"])
    assert "<html" in html and "<p>Total: 126 confirmed cases in 5 regions over 8 weeks " \
        "(2026-W02 to 2026-W09).</p>" in html


def check_python_etl(logs: dict[str, str], read: Read) -> None:
    assert logs == {"etl": "etl: 50 rows, 2 hospitals -> /workspace/rolling.csv\n"
                           "etl: Riverside General: 7-day mean 10.29 admissions/day on "
                           "2026-02-25\n"
                           "etl: St Elsewhere: 7-day mean 15.00 admissions/day on 2026-02-25\n"}
    rolling = read(["cat", "/workspace/rolling.csv"]).splitlines()
    assert len(rolling) == 51  # 25 days x 2 hospitals, and the header
    assert rolling[:3] == ["date,hospital,admissions,rolling_mean_7d",
                           "2026-02-01,Riverside General,8,", "2026-02-01,St Elsewhere,13,"]
    assert rolling[-3:] == ["2026-02-24,St Elsewhere,16,14.86",
                            "2026-02-25,Riverside General,9,10.29",
                            "2026-02-25,St Elsewhere,11,15.00"]


COUNT_RESULTS = """\
import sqlite3
db = sqlite3.connect("file:/workspace/warehouse.sqlite?mode=ro", uri=True)
print(db.execute("SELECT COUNT(*), SUM(result = 'positive') FROM lab_results").fetchone())
"""


def check_nightly_extract_py(logs: dict[str, str], read: Read) -> None:
    assert logs == {
        "extract": "extract: 30 rows read, 27 kept, 3 rejected (S1007, S1019, S1023) -> "
                   "/workspace/results.csv\n",
        "load": "load: 27 rows loaded, 27 in lab_results -> /workspace/warehouse.sqlite\n"
                "load: 2026-02-10: 7 results, 3 positive\n"
                "load: 2026-02-11: 10 results, 1 positive\n"
                "load: 2026-02-12: 10 results, 5 positive\n",
    }
    results = read(["cat", "/workspace/results.csv"]).splitlines()
    assert results[:2] == ["sample_id,collected,lab,test,result",
                           "S1000,2026-02-11,Lab A,PCR,negative"]
    assert len(results) == 28
    assert read(["python", "-c", COUNT_RESULTS]) == "(27, 9)\n"


# data/tests.csv summed per week and lab (its 18 rows are one per week and lab already)
WEEKLY_SUMMARY = """\
"week_start","lab","tests","positive","positivity_pct"
"2026-01-05","Lab A",112,15,13.4
"2026-01-05","Lab B",105,12,11.4
"2026-01-05","Lab C",104,8,7.7
"2026-01-12","Lab A",117,20,17.1
"2026-01-12","Lab B",151,26,17.2
"2026-01-12","Lab C",110,9,8.2
"2026-01-19","Lab A",151,27,17.9
"2026-01-19","Lab B",144,7,4.9
"2026-01-19","Lab C",115,5,4.3
"2026-01-26","Lab A",143,12,8.4
"2026-01-26","Lab B",104,17,16.3
"2026-01-26","Lab C",103,15,14.6
"2026-02-02","Lab A",121,9,7.4
"2026-02-02","Lab B",91,12,13.2
"2026-02-02","Lab C",113,22,19.5
"2026-02-09","Lab A",140,13,9.3
"2026-02-09","Lab B",108,11,10.2
"2026-02-09","Lab C",89,5,5.6
"""


def check_weekly_summary_r(logs: dict[str, str], read: Read) -> None:
    assert logs == {"summary": "summary: 3 labs, 6 weeks, 2121 tests, 11.6% positive overall -> "
                               "/workspace/weekly_summary.csv\n"
                               "summary: week of 2026-02-09: Lab A 9.3%, Lab B 10.2%, "
                               "Lab C 5.6%\n"}
    assert read(["cat", "/workspace/weekly_summary.csv"]) == WEEKLY_SUMMARY


CHECKS = {"covid-cases-r": check_covid_cases_r, "python-etl": check_python_etl,
          "nightly-extract-py": check_nightly_extract_py,
          "weekly-summary-r": check_weekly_summary_r}


@pytest.mark.parametrize("name", list(CHECKS))
def test_example_runs_as_an_arbitrary_uid_in_group_0(built: dict[str, Built], volume: str,
                                                     name: str) -> None:
    example = built[name]
    uid = random_uid()
    tasks = example.pipeline.ordered_tasks()
    run_id = "local__" + datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    environments = inputs.environments(example.pipeline, tasks, {}, {}, run_id,
                                       example.revision)
    logs = {task.name: run_as(uid, volume, example.image, list(task.command),
                              environments[task.name]) for task in tasks}

    def read(command: list[str]) -> str:
        return run_as(uid, volume, example.image, command)

    CHECKS[name](logs, read)
    # Copy-up gave the fresh volume the image's /workspace owner and mode; what the tasks
    # wrote there is theirs: the random uid, group 0.
    owners = read(["sh", "-c", "stat -c '%u:%g %a %n' /workspace /workspace/*"]).splitlines()
    assert owners[0] == "10001:0 775 /workspace"
    assert owners[1:] and all(line.startswith(f"{uid}:0 ") for line in owners[1:]), owners


# -- who the task is, and what it may write ------------------------------------------------

IDENTITY = """\
id -u; id -g
getent passwd "$(id -u)" || echo "no passwd entry"
echo "HOME=$HOME"
"""
# Each place a task reads or writes: r, w, x as the user running it sees them.
RIGHTS = """\
for path in "$@"; do
  printf '%s %s%s%s\\n' "$path" "$(test -r "$path" && echo r || echo -)" \
    "$(test -w "$path" && echo w || echo -)" "$(test -x "$path" && echo x || echo -)"
done
"""
HOME_PROBES = {
    "python": (["python", "-c", """\
import os, pathlib
probe = pathlib.Path.home() / ".cache" / "probe" / "written"
probe.parent.mkdir(parents=True)
probe.write_text("ok")
print(os.path.expanduser("~"), probe, probe.read_text(), sep="\\n")
"""], f"{HOME}\n{HOME}/.cache/probe/written\nok\n"),
    "r": (["Rscript", "-e", """\
d <- tools::R_user_dir("probe", "cache")
dir.create(d, recursive = TRUE)
writeLines("ok", file.path(d, "written"))
cat(Sys.info()[["effective_user"]], path.expand("~"), d, readLines(file.path(d, "written")),
    sep = "\\n")
"""], f"unknown\n{HOME}\n{HOME}/.cache/R/probe\nok\n"),
}
# language -> an example of it, a script of it and its packages: the venv, R's site library
# (.libPaths()[1], where install-deps.R installs, in Debian's R and rocker's alike)
LANGUAGES = {
    "python": ("python-etl", ["/app/etl.py", "/opt/pipelinectl/venv",
                              "/opt/pipelinectl/venv/bin/python"]),
    "r": ("covid-cases-r", ["/app/fetch.R", "/usr/local/lib/R/site-library"]),
}


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_an_arbitrary_uid_has_the_image_users_rights_and_a_writable_home(
        built: dict[str, Built], language: str) -> None:
    name, installed = LANGUAGES[language]
    image = built[name].image
    uid = random_uid()
    # No --read-only here: HOME lives on the image's root filesystem, which restricted-v2
    # leaves writable (the tasks above show they write nothing there).
    as_uid = ("run", "--rm", f"--user={uid}:0", "--tmpfs", "/tmp", *HARDENED, image)
    assert docker(*as_uid, "sh", "-c", IDENTITY).stdout == (
        f"{uid}\n0\nno passwd entry\nHOME={HOME}\n")
    command, expected = HOME_PROBES[language]
    assert docker(*as_uid, *command).stdout == expected

    # g=u: the random uid may do what the image's user may, run as the image says (USER
    # 10001:0: `pipelinectl run`, the Docker-runner DAG), as the default Kubernetes flavor
    # runs it (runAsUser and runAsGroup 10001) and as OpenShift does.
    paths = ["/app", *installed, "/workspace", HOME]
    users = {"image": (), "kubernetes": ("--user=10001:10001",), "openshift": (f"--user={uid}:0",)}
    rights = {flavor: docker("run", "--rm", *user, "--tmpfs", "/tmp", *HARDENED, image, "sh",
                             "-c", RIGHTS, "rights", *paths).stdout
              for flavor, user in users.items()}
    assert rights["image"] == rights["kubernetes"] == rights["openshift"], rights
    table = [line.split() for line in rights["image"].splitlines()]
    assert [path for path, _ in table] == paths, table
    # The code and the packages: readable, not writable; /workspace and HOME: writable.
    assert [path for path, mode in table if mode[1] == "w"] == ["/workspace", HOME], table
    assert all(mode[0] == "r" for _, mode in table), table
    assert docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout == (
        IMAGE_USER + "\n")

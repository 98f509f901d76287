"""A generated monorepo of 1,000 pipelines: everything is found, checked and reported."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.monorepo import generate


def test_thousand_valid_pipelines(run, git_repo: Path) -> None:
    paths = generate(git_repo, 1000)
    result = run("validate", "--format", "json", cwd=git_repo)
    report = json.loads(result.out)
    assert result.code == 0
    assert report["problems"] == []
    assert len(report["files"]) == 1000
    assert report["files"] == [str(p.relative_to(git_repo)) for p in paths]


def test_problems_in_a_few_of_a_thousand(run, git_repo: Path) -> None:
    paths = generate(git_repo, 1000)
    spec_17 = paths[17].read_text()
    paths[17].write_text(spec_17.replace("team: default", "team: nobody"))
    (paths[503].parent / "requirements.txt").write_text("pandas>=2\n")
    # p0999 now claims the name of p0000: same team and name in one repo.
    name_0 = next(line for line in paths[0].read_text().splitlines() if "  name:" in line)
    text_999 = paths[999].read_text()
    own = next(line for line in text_999.splitlines() if "  name:" in line)
    paths[999].write_text(text_999.replace(own, name_0))
    team_line = _line_of(paths[17], "team: nobody")
    name_line = _line_of(paths[999], name_0)
    result = run("validate", cwd=git_repo)
    assert result.code == 1
    lines = [line for line in result.out.splitlines() if not line.startswith("  hint:")]
    assert lines == [
        f"pipelines/p0017/pipeline.yaml:{team_line}:9: metadata.team: unknown team 'nobody'",
        ("pipelines/p0503/requirements.txt:1:1: requirements: 'pandas>=2' is not pinned to one "
         "version"),
        (f"pipelines/p0999/pipeline.yaml:{name_line}:9: metadata.name: pipeline "
         f"'{name_0.split()[-1]}' of team 'default' is already declared in "
         "pipelines/p0000/pipeline.yaml"),
        "3 problems in 3 of 1000 pipeline files",
    ]


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_parallel_report_equals_serial_report(git_repo: Path) -> None:
    from pipelinectl.spec import platform
    from pipelinectl.spec.validation import validate_files
    paths = generate(git_repo, 300)
    paths[5].write_text(paths[5].read_text().replace("team: default", "team: x"))
    paths[250].write_text(paths[0].read_text())  # a copy of p0000: same name and team
    local = platform.load(None)
    serial = validate_files(paths, local, None, git_repo, jobs=1)
    parallel = validate_files(paths, local, None, git_repo, jobs=2)
    assert len(serial.problems) == 2
    assert parallel.problems == serial.problems
    assert parallel.files == serial.files
    assert parallel.invalid_files == serial.invalid_files
    assert [p.file for p in parallel.pipelines] == [p.file for p in serial.pipelines]
    assert len(parallel.pipelines) == 298
    light = validate_files(paths, local, None, git_repo, jobs=2, keep=False)
    assert (light.problems, light.pipelines) == (serial.problems, [])

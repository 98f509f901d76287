"""`pipelinectl init`: scaffold a pipeline that validates clean.

Values that reach the files (name, team, version) are written as JSON strings, which YAML reads
back exactly, so a name can never change the structure of the generated spec.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelinectl import files, wiring
from pipelinectl.errors import EXIT_OK, InvalidInput, PipelinectlError, UserError
from pipelinectl.spec import platform, schema
from pipelinectl.spec.discover import display_name, git_root, pipeline_root, repo_root
from pipelinectl.spec.validation import validate_one
from pipelinectl.vocabulary import PIPELINE_FILE, SCHEMA_COPY

_R_SCRIPT = """\
# An example task: replace it with your analysis.
# Tasks of one pipeline share /workspace: write outputs there for the next task.
out_dir <- if (dir.exists("/workspace")) "/workspace" else tempdir()
cases <- data.frame(region = c("North", "South", "East"), cases = c(12L, 7L, 21L))
print(cases)
write.csv(cases, file.path(out_dir, "cases.csv"), row.names = FALSE)
cat("wrote", file.path(out_dir, "cases.csv"), "\\n")
"""

_PY_SCRIPT = """\
\"\"\"An example task: replace it with your code.

Tasks of one pipeline share /workspace: write outputs there for the next task.
\"\"\"
import csv
import os
import tempfile

out_dir = "/workspace" if os.path.isdir("/workspace") else tempfile.gettempdir()
rows = [("North", 12), ("South", 7), ("East", 21)]
path = os.path.join(out_dir, "cases.csv")
with open(path, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["region", "cases"])
    writer.writerows(rows)
print("wrote", path)
"""

_REQUIREMENTS = """\
# Pin every package to one version (name==version); 'pip freeze' lists what you use.
"""


@dataclass(frozen=True)
class Args:
    directory: str
    language: Literal["r", "python"]
    name: str | None
    team: str | None
    schema_url: str | None
    platform: str | None


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    config = wiring.load_platform(args.platform, environ)
    inside = _inside_repo(cwd, args.directory)
    target = files.checked_below(*inside) if inside else (cwd / args.directory).resolve()
    spec_path = target / PIPELINE_FILE
    if spec_path.exists() or spec_path.is_symlink():
        raise UserError(f"{display_name(spec_path, cwd)} already exists",
                        hint="choose another directory, or edit the existing file")
    name = _checked_name(args.name) if args.name else _name_from(target)
    if args.schema_url is not None and not args.schema_url.isprintable():
        raise UserError("--schema-url: a URL on one line, without control characters",
                        hint="e.g. --schema-url https://example.org/pipeline.schema.json")
    team = _team(args.team, config)
    version = _version(args.language, config)
    contents = _files(args.language, name, team, version, _schema_url(args, target))
    existing = [n for n in contents if (target / n).exists() or (target / n).is_symlink()]
    if existing:
        raise UserError(f"{display_name(target / existing[0], cwd)} already exists",
                        hint="init writes pipeline.yaml, an example script and a dependency "
                             "file; choose an empty directory")
    _write(inside, target, contents)
    if not args.schema_url:
        _write_schema_copy(repo_root(target))
    _check_result(spec_path, cwd, config)
    for file in contents:
        print(f"created {display_name(target / file, cwd)}")
    print(f"next: edit the files, then run: pipelinectl validate {display_name(spec_path, cwd)}")
    return EXIT_OK


def _checked_name(name: str) -> str:
    """--name, checked before anything is written: it becomes metadata.name."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?", name):
        raise UserError(f"--name {name!r} is not a pipeline name",
                        hint="use 1 to 40 lowercase letters, digits and '-', starting and "
                             "ending with a letter or digit, e.g. --name covid-cases-daily")
    return name


def _name_from(target: Path) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", target.name.lower()).strip("-")[:40].strip("-")
    if not name or not name[0].isalnum():
        raise UserError(f"cannot make a pipeline name from the folder name {target.name!r}",
                        hint="give one with --name, e.g. --name covid-cases-daily")
    return name


def _team(option: str | None, config: platform.Platform) -> str:
    teams = sorted(config.teams)
    if option:
        if option not in config.teams:
            raise UserError(f"unknown team {option!r}", hint=f"teams: {', '.join(teams)}")
        return option
    if len(teams) == 1:
        return teams[0]
    raise UserError("the platform has several teams; say which one owns the pipeline",
                    hint=f"add --team, one of: {', '.join(teams)}")


def _version(language: str, config: platform.Platform) -> str:
    offered = sorted(config.base_images.get(language, {}),
                     key=lambda v: tuple(int(p) for p in v.split(".")))
    if not offered:
        raise UserError(f"the platform ({config.file}) offers no base image for {language}",
                        hint="ask the platform team to add one under base_images")
    return offered[-1]


def _schema_url(args: Args, target: Path) -> str:
    if args.schema_url:
        return str(args.schema_url)
    copy = repo_root(target) / SCHEMA_COPY
    return Path(os.path.relpath(copy, target)).as_posix()


def _files(language: str, name: str, team: str, version: str, schema_url: str) -> dict[str, str]:
    script, deps = ("main.R", "DESCRIPTION") if language == "r" else ("main.py",
                                                                       "requirements.txt")
    program = "Rscript" if language == "r" else "python"
    spec = "\n".join([
        f"# yaml-language-server: $schema={schema_url}",
        "apiVersion: pipelinectl/v1",
        "kind: Pipeline",
        "metadata:",
        f"  name: {json.dumps(name)}",
        f"  team: {json.dumps(team)}",
        "  description: What this pipeline does, in one sentence",
        "image:",
        f"  language: {language}",
        f"  version: {json.dumps(version)}",
        f"  dependencies: {deps}",
        "schedule:",
        "  cron: \"0 7 * * *\"        # every day at 07:00",
        "  timezone: UTC",
        "defaults:",
        "  resources: {cpu: 500m, memory: 1Gi}",
        "  timeout: 1h",
        "tasks:",
        "  - name: main",
        f"    command: [{program}, {script}]",
        "",
    ])
    dependencies = _description(name) if language == "r" else _REQUIREMENTS
    return {PIPELINE_FILE: spec, script: _R_SCRIPT if language == "r" else _PY_SCRIPT,
            deps: dependencies}


def _description(name: str) -> str:
    package = re.sub(r"[^A-Za-z0-9.]", ".", name)
    package = package if package[0].isalpha() else "p" + package
    return (f"Package: {package}\nTitle: Dependencies of the {name} pipeline\n"
            "Version: 0.0.1\nDepends: R (>= 4.0)\n")


def _inside_repo(cwd: Path, directory: str) -> tuple[Path, Path] | None:
    """(repository root, DIR below it) when DIR is inside the repository of `cwd`: there it
    must be a real folder all the way down (a committed symlink is refused); a DIR outside
    the repository is the user's own choice."""
    root = repo_root(cwd)
    lexical = Path(os.path.normpath(cwd / directory))
    try:
        return root, lexical.relative_to(root)
    except ValueError:
        return None


def _write(inside: tuple[Path, Path] | None, target: Path, contents: dict[str, str]) -> None:
    if inside is not None:
        target = files.real_dir(*inside)
    else:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create {target}: {exc.strerror or exc}",
                            hint="choose a folder you can write to") from None
    for name, content in contents.items():
        files.create_new(target / name, content.encode("utf-8"))


def _write_schema_copy(root: Path) -> None:
    """The editor's copy of the schema, in pipelinectl's own folder of the repository (a real
    folder it makes: never through a committed symlink)."""
    text = schema.schema_text("pipeline")
    copy = files.checked_below(root, SCHEMA_COPY)
    try:
        current = files.read_regular(copy, len(text.encode()) + 1).decode("utf-8", "replace")
    except (OSError, files.NotRegular):
        current = None
    if current != text:
        files.write_under(root, SCHEMA_COPY, text.encode("utf-8"))


def _check_result(spec_path: Path, cwd: Path, config: platform.Platform) -> None:
    _, problems = validate_one(spec_path, display_name(spec_path, cwd),
                               pipeline_root(spec_path, git_root(cwd)), config, None)
    problems = [p for p in problems if not p.warning]
    if problems:
        sys.stderr.write(InvalidInput(problems).render() + "\n")
        raise PipelinectlError("init wrote a pipeline that does not validate")

"""Platform policy for one pipeline (docs/reference/platform.md): team, CI project, caps,
base images."""

from __future__ import annotations

import re
from pathlib import Path

from pipelinectl.errors import Collector, Location, did_you_mean
from pipelinectl.spec import repofiles
from pipelinectl.spec.model import Pipeline, Task
from pipelinectl.spec.platform import Platform, Team
from pipelinectl.spec.yamlio import where
from pipelinectl.units import parse_quantity, quantity_problem

REPO_ID_VARIABLES = ("CI_PROJECT_PATH", "GITHUB_REPOSITORY")
_ARG = re.compile(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$", re.IGNORECASE)
_FROM = re.compile(r"^FROM\s+(.*)$", re.IGNORECASE)
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def check(pipeline: Pipeline, platform: Platform, repo_id: str | None, repo_root: Path,
          pipeline_dir: Path, problems: Collector) -> None:
    team = _check_team(pipeline, platform, problems)
    if team is not None:
        _check_repo(pipeline, team, repo_id, problems)
        for task in pipeline.tasks:
            _check_caps(pipeline, task, team, problems)
    _check_base_image(pipeline, platform, problems)
    if pipeline.image.dockerfile is not None:
        found, _ = repofiles.inside(repo_root, pipeline_dir, pipeline.image.dockerfile)
        if found is not None and found.is_file():
            _check_from_lines(pipeline, platform, found, problems)


def _check_team(pipeline: Pipeline, platform: Platform, problems: Collector) -> Team | None:
    name = pipeline.metadata.team
    team = platform.teams.get(name)
    if team is None:
        teams = sorted(platform.teams)
        hint = did_you_mean(name, teams) or f"teams of {platform.file}: {', '.join(teams)}"
        problems.add(pipeline.source.at(("metadata", "team")),
                     f"metadata.team: unknown team {name!r}", hint, "team")
    return team


def _check_repo(pipeline: Pipeline, team: Team, repo_id: str | None,
                problems: Collector) -> None:
    if repo_id is None or team.repos is None or repo_id in team.repos:
        return
    problems.add(pipeline.source.at(("metadata", "team")),
                 f"metadata.team: project {repo_id!r} may not deploy as team {team.name!r}",
                 f"the platform config allows: {', '.join(team.repos) or 'no project'}; ask "
                 "the platform team to add this project to the team's repos", "repo-not-allowed")


def _check_caps(pipeline: Pipeline, task: Task, team: Team, problems: Collector) -> None:
    caps = team.max_task_resources
    if caps is None:
        return
    for field in ("cpu", "memory"):
        cap, asked = getattr(caps, field), getattr(task.resources, field)
        if not cap or quantity_problem(field, asked):
            continue
        if parse_quantity(asked) > parse_quantity(cap):
            path = pipeline.setting_path(task, "resources", field)
            problems.add(pipeline.source.at(path),
                         f"{where(path)}: task '{task.name}' asks for {field} {asked}, more "
                         f"than team {team.name!r} may use per task ({cap})",
                         f"lower it to at most {cap}, or split the work", "over-cap")


def _check_base_image(pipeline: Pipeline, platform: Platform, problems: Collector) -> None:
    image = pipeline.image
    if image.language is None or image.version is None:
        return
    if platform.base_image(image.language, image.version) is None:
        offered = sorted(platform.base_images.get(image.language, {}))
        language = {"r": "R", "python": "Python"}[image.language]
        hint = (f"versions offered for {language}: {', '.join(offered)}" if offered else
                f"the platform offers no {language} base image; ask the platform team")
        problems.add(pipeline.source.at(("image", "version")),
                     f"image.version: {language} {image.version} is not offered by the "
                     "platform", hint, "base-image")


def normalize_image(reference: str) -> str:
    """An image reference as registry/path, without tag or digest.

    python:3.12 -> docker.io/library/python; rocker/r-ver -> docker.io/rocker/r-ver.
    """
    name = reference.split("@", 1)[0]
    last_slash = name.rfind("/")
    if ":" in name[last_slash + 1:]:
        name = name[: name.rfind(":")]
    parts = name.split("/")
    if parts[0] == "index.docker.io":
        parts[0] = "docker.io"
    if len(parts) == 1:
        return "docker.io/library/" + parts[0]
    if "." in parts[0] or ":" in parts[0] or parts[0] == "localhost":
        return "/".join(parts)
    return "docker.io/" + "/".join(parts)


def image_allowed(reference: str, allowed: tuple[str, ...]) -> bool:
    name = normalize_image(reference)
    prefixes = [a.rstrip("/").replace("index.docker.io", "docker.io", 1) for a in allowed]
    return any(name == p or name.startswith(p + "/") for p in prefixes)


def _check_from_lines(pipeline: Pipeline, platform: Platform, dockerfile: Path,
                      problems: Collector) -> None:
    assert pipeline.image.dockerfile is not None
    shown = repofiles.display(pipeline, pipeline.image.dockerfile)
    try:
        text = dockerfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(Location(shown, 1, 1), f"cannot read the Dockerfile: {exc}", None,
                     "dockerfile")
        return
    for number, image, reason in from_images(text):
        location = Location(shown, number, 1)
        if reason:
            problems.add(location, f"FROM {image}: {reason}",
                         "write the base image in full, or give the ARG a default",
                         "base-image")
        elif not image_allowed(image, platform.allowed_base_registries):
            allowed = ", ".join(platform.allowed_base_registries) or "none"
            problems.add(location, f"FROM {image}: base image registry is not allowed by "
                         "the platform", f"allowed registries: {allowed}", "base-image")


def from_images(text: str) -> list[tuple[int, str, str | None]]:
    """(line, image, problem) for each FROM that names an image (not an earlier stage)."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    found: list[tuple[int, str, str | None]] = []
    seen_from = False
    for number, line in _instructions(text):
        arg = _ARG.match(line)
        if arg and not seen_from and arg.group(2) is not None:
            args[arg.group(1)] = arg.group(2).strip().strip("\"'")
        match = _FROM.match(line)
        if not match:
            continue
        seen_from = True
        words = [w for w in match.group(1).split() if not w.startswith("--")]
        if not words:
            continue
        if len(words) >= 3 and words[-2].lower() == "as":
            stages.add(words[-1].lower())
        image, reason = _expand(words[0], args)
        if image.lower() in stages or image == "scratch":
            continue
        found.append((number, image, reason))
    return found


def _expand(image: str, args: dict[str, str]) -> tuple[str, str | None]:
    missing = [v for v in _VAR.findall(image) if v not in args]
    if missing:
        return image, f"the base image depends on ARG {missing[0]}, which has no default"
    return _VAR.sub(lambda m: args[m.group(1)], image), None


def _instructions(text: str) -> list[tuple[int, str]]:
    """Dockerfile instructions with continuations joined, numbered by their first line."""
    result: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        result.append((start, (pending + line).strip()))
        pending = ""
    return result


def repo_id_from(environ: dict[str, str] | None, option: str | None) -> str | None:
    """The CI project deploying: --repo-id, else CI_PROJECT_PATH or GITHUB_REPOSITORY."""
    if option:
        return option
    for variable in REPO_ID_VARIABLES:
        if environ and environ.get(variable):
            return environ[variable]
    return None

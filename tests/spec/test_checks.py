"""Semantic checks and policy helpers, one rule at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelinectl.spec import checks, credentials, policy, repofiles, yamlio
from pipelinectl.spec import model as spec
from tests.support.repo import VALID_SPEC


def pipeline(text: str) -> spec.Pipeline:
    built, problems = spec.build(yamlio.load_bytes(text.encode(), "p.yaml"))
    assert problems == []
    return built


def tasks(*lines: str) -> spec.Pipeline:
    body = "".join(lines)
    return pipeline(VALID_SPEC.split("tasks:")[0] + "tasks:\n" + body)


@pytest.mark.parametrize("name, value, kind", [
    ("DB", "postgres://me:pw@db/x", "a URL with a password"),
    ("K", "AKIAIOSFODNN7EXAMPLE", "an AWS access key"),
    ("K", "-----BEGIN OPENSSH PRIVATE KEY-----", "a private key"),
    ("K", "ghp_" + "a" * 36, "a GitHub token"),
    ("K", "github_pat_" + "a" * 30, "a GitHub token"),
    ("K", "glpat-" + "a" * 20, "a GitLab token"),
    ("K", "xoxb-1234567890-abc", "a Slack token"),
    ("K", "--password=hunter2", "a password or token assignment"),
    ("K", "--token=abc", "a password or token assignment"),
    ("API_TOKEN", "abc", "a credential (the variable is named API_TOKEN)"),
    ("DB_PASSWORD", "x", "a credential (the variable is named DB_PASSWORD)"),
    # issue 13: what the hand-kept list missed, found by detect-secrets' detectors
    ("PGPASSWORD", "s3cret", "a credential (the variable is named PGPASSWORD)"),
    ("MYSQL_PWD", "hunter2", "a credential (the variable is named MYSQL_PWD)"),
    ("DB_PASS", "x9", "a credential (the variable is named DB_PASS)"),
    ("SECRET_KEY", "abc", "a credential (the variable is named SECRET_KEY)"),
    ("PGPASSWORD", "!#%", "a credential (the variable is named PGPASSWORD)"),
    ("K", "sk_live_" + "a1" * 12, "a Stripe secret key"),
    ("K", "AIza" + "b" * 35, "a Google API key"),
    ("CONN", "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + "A" * 86 + "==",
     "an Azure storage account key"),
    ("K", "SG." + "a" * 22 + "." + "b" * 43, "a SendGrid API Key"),
    ("K", "line one\n" + "a" * 5000 + " password=hunter2", "a password or token assignment"),
])
def test_credentials_are_recognised(name: str, value: str, kind: str) -> None:
    assert credentials.kind(name, value) == kind


@pytest.mark.parametrize("name, value", [
    ("TZ", "Europe/London"), ("DB_URL", "postgres://db.example.org/cases"),
    ("TOKEN_URL", "https://auth.example.org/token"), ("API_TOKEN", ""),
    ("PASSWORD_FILE", "/secrets/db/password"), ("MODE", "token-bucket"), ("PWD", "/app"),
    ("BYPASS", "yes"), ("DB_HOST", "10.0.0.5"), ("SHA", "a" * 64),
])
def test_ordinary_values_are_not_credentials(name: str, value: str) -> None:
    assert credentials.kind(name, value) is None


@pytest.mark.parametrize("value", [
    "password" * 4096, "api_key" * 4600, "sk-" * 10_000, "://a:" * 6000, "github_pat_" * 2900,
    "'x' == password" * 2000,
])
def test_credential_check_stays_linear(value: str) -> None:
    """detect-secrets' patterns backtrack on long hostile values ('password' * 4096 took 72 s
    in its keyword detector): pipelinectl hands them bounded pieces."""
    import time
    started = time.process_time()
    credentials.kind("NAME", value)
    assert time.process_time() - started < 5  # seconds; typically 0.1


def test_detectors_come_from_detect_secrets_and_are_cached(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    credentials.detectors.cache_clear()
    try:
        found = credentials.detectors()
        types = {d.secret_type for d in found}
        assert {"Stripe Access Key", "Secret Keyword", "AWS Access Key"} <= types
        assert "Public IP (ipv4)" not in types
        assert found[-1].secret_type == "Secret Keyword"
        record = list((tmp_path / "pipelinectl").glob("detect-secrets-*.json"))
        assert len(record) == 1
        credentials.detectors.cache_clear()
        assert credentials.detectors() == found  # read back from the record
        record[0].write_text('{"format": 1, "detectors": [{"module": 1}]}')
        credentials.detectors.cache_clear()
        assert credentials.detectors() == found  # a broken record is made again
    finally:
        credentials.detectors.cache_clear()


def test_chain_and_order() -> None:
    chain = tasks("  - {name: c, command: x, depends_on: [b]}\n",
                  "  - {name: a, command: x}\n",
                  "  - {name: b, command: x, depends_on: [a]}\n")
    assert checks.chain_problem(chain) is None
    assert chain.task_order() == ["a", "b", "c"]
    fan_in = tasks("  - {name: a, command: x}\n", "  - {name: b, command: x}\n",
                   "  - {name: c, command: x, depends_on: [a, b]}\n")
    assert checks.chain_problem(fan_in) == "2 tasks have no depends_on (a, b)"
    assert fan_in.task_order() == ["a", "b", "c"]


def test_cycle_in_a_long_chain_does_not_recurse() -> None:
    lines = ["  - {name: t0, command: x, depends_on: [t99]}\n"]
    lines += [f"  - {{name: t{i}, command: x, depends_on: [t{i - 1}]}}\n" for i in range(1, 100)]
    cycle = checks.find_cycle(tasks(*lines))
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == 101


@pytest.mark.parametrize("expression, problem", [
    ("0 7 * * 1-5", None), ("*/15 * * * *", None), ("@daily", None), ("0 7 * JAN MON", None),
    ("0 7 * * *  ", None), ("@reboot", "'@reboot' is not a supported cron macro"),
    ("0 7 * * 1#2", "'0 7 * * 1#2': day-of-week field '1#2' is not valid cron"),
    ("TZ=UTC 0 7 * * *", "'TZ=UTC 0 7 * * *' has 6 fields; cron needs 5"),
    ("60 * * * *", "'60 * * * *': minute 60 is out of range (0-59)"),
    ("0 0 31 4 *", "'0 0 31 4 *' never runs"),
    # issue 13: what Kubernetes (robfig/cron v3) refuses
    ("0 7 * * 7", "'0 7 * * 7': day-of-week 7 is out of range (0-6)"),
    ("1-0 * * * *", "'1-0 * * * *': minute range '1-0' ends before it starts"),
    ("0 0 * * sat-sun", "'0 0 * * sat-sun': day-of-week range 'sat-sun' ends before it starts"),
    ("*/0 * * * *", "'*/0 * * * *': minute step in '*/0' must be at least 1"),
    ("? * * * *", "'? * * * *': minute field '?': '?' is only allowed in day-of-month and "
                  "day-of-week"),
    ("0 0 * * MONDAY", "'0 0 * * MONDAY': day-of-week field 'MONDAY': 'MONDAY' is not a "
                       "day-of-week"),
    ("0 0 JAN * *", "'0 0 JAN * *': day-of-month field 'JAN': 'JAN' is not a day-of-month"),
    ("@every 1h", "'@every 1h' is not a supported cron macro"),
    (" @daily", None), ("0 7 * * 0", None), ("0 7 * * SUN", None), ("0 0 ? * MON-FRI", None),
    ("0 7\n* * *", "'0 7\\n* * *' has a character cron does not read: '\\n' is a control "
                  "character (U+000A line feed)"),
    ("0 7 * * \u202e1", "'0 7 * * \\u202e1' has a character cron does not read: '\\u202e' "
                       "(U+202E RIGHT-TO-LEFT OVERRIDE) is an invisible character that "
                       "reorders how text is shown"),
    ("9" * 150 + " * * * *", "'" + "9" * 76 + "...: minute 999999999... is out of range "
                             "(0-59)"),
])
def test_cron(expression: str, problem: str | None) -> None:
    found = checks.cron_problem(expression)
    assert (found[0] if found else None) == problem


def test_cron_hints() -> None:
    assert checks.cron_problem("0 7 * * 7") == (
        "'0 7 * * 7': day-of-week 7 is out of range (0-6)",
        "Kubernetes counts Sunday as 0 (or SUN), never 7")
    assert checks.cron_problem("@every 1h") == (
        "'@every 1h' is not a supported cron macro",
        "use one of @hourly, @daily, @weekly, @monthly (Airflow has no @every: write it as "
        "cron, e.g. \"*/30 * * * *\")")


@pytest.mark.parametrize("reference, normalized", [
    ("python:3.12-slim", "docker.io/library/python"),
    ("rocker/r-ver:4.4.2", "docker.io/rocker/r-ver"),
    ("index.docker.io/rocker/r-ver", "docker.io/rocker/r-ver"),
    ("registry.example.org:5000/team/img:1@sha256:" + "a" * 64,
     "registry.example.org:5000/team/img"),
    ("localhost/img", "localhost/img"),
])
def test_image_names(reference: str, normalized: str) -> None:
    assert policy.normalize_image(reference) == normalized


def test_allowed_registries_match_whole_path_segments() -> None:
    allowed = ("docker.io/rocker",)
    assert policy.image_allowed("rocker/r-ver:4.4", allowed)
    assert not policy.image_allowed("docker.io/rockerx/evil", allowed)
    assert not policy.image_allowed("python:3.12", allowed)


def test_dockerfile_from_lines() -> None:
    text = ("# syntax=docker/dockerfile:1\nARG BASE=python:3.12-slim\n"
            "FROM --platform=$X $BASE AS b\n"
            "FROM b\nFROM scratch\nFROM \\\n  ghcr.io/x/y:1\n")
    assert policy.from_images(text) == [(3, "python:3.12-slim", None), (6, "ghcr.io/x/y:1", None)]


@pytest.mark.parametrize("line, pinned", [
    ("pandas==2.2.3", True), ("Requests[socks]==2.32.3 ; python_version >= '3.8'", True),
    ("numpy===1.26.4", True), ("pkg @ https://example.org/pkg-1.0.tar.gz", True),
    ("--hash=sha256:abc", True), ("--index-url https://pypi.example.org/simple", True),
    ("pandas", False), ("pandas>=2", False), ("pandas==2.*,<3", False), ("-e .", False),
    ("--requirement=base.txt", False), ("--no-deps", False),
])
def test_requirement_pinning(line: str, pinned: bool) -> None:
    assert (repofiles.requirement_problem(line) is None) is pinned


def test_inside_the_repository(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    (root / "p").mkdir()
    (root / "p" / "ok.txt").write_text("x")
    (root / "p" / "out").symlink_to("/etc")
    (root / "p" / "in").symlink_to(root / "p" / "ok.txt")
    base = root / "p"
    assert repofiles.inside(root, base, "ok.txt") == (base / "ok.txt", None)
    assert repofiles.inside(root, base, "../p/ok.txt") == (base / "ok.txt", None)
    assert repofiles.inside(root, base, "in") == (base / "ok.txt", None)
    assert repofiles.inside(root, base, "/etc/hosts")[1] == "'/etc/hosts' is an absolute path"
    assert repofiles.inside(root, base, "~/x")[1] == "'~/x' is an absolute path"
    assert repofiles.inside(root, base, "../../x")[1] == "'../../x' points outside the repository"
    assert repofiles.inside(root, base, "out/hosts")[1] == \
        "'out/hosts' is a symlink to a place outside the repository"


def test_defaults_merge_into_tasks() -> None:
    built = pipeline(VALID_SPEC.replace("tasks:", "defaults:\n  resources: {memory: 2Gi}\n"
                                        "  env: {A: '1', B: '2'}\n  secrets: [db]\n  retries: 3\n"
                                        "tasks:") +
                     "    resources: {cpu: '2'}\n    env: {B: three}\n    secrets: []\n")
    task = built.tasks[0]
    assert task.resources == spec.Resources(cpu="2", memory="2Gi")
    assert task.env == (("A", "1"), ("B", "three"))
    assert task.secrets == ()
    assert task.retries == 3
    assert task.timeout == spec.BUILTIN_DEFAULTS["timeout"]
    assert built.resolved_engine == "cronjob"


@pytest.mark.parametrize("command", [
    "Rscript report.R --out /workspace/report.html", "  python\tetl.py \n --day  today ",
    "python -c 'print(1)'", 'Rscript -e "cat(\\"x\\")"', "a\\ b c", "echo # not a comment",
    "x=1 y", "", "   ", "naïve ünïcode",
])
def test_split_command_matches_shlex(command: str) -> None:
    import shlex
    assert spec.split_command(command) == shlex.split(command)

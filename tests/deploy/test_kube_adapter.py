"""pipelinectl.adapters.kube against the fake API server, through the real kubernetes client:
apply writes only what changed, transient errors are retried, refusals are explained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelinectl.adapters.kube import Kube, KubeError, applied_hash
from pipelinectl.vocabulary import APPLIED_HASH_ANNOTATION
from tests.support.fakekube import FakeKube


@pytest.fixture
def fake(fake_kube: FakeKube) -> FakeKube:
    fake_kube.add_namespace("team-a")
    return fake_kube


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def kube(fake: FakeKube, tmp_path: Path, sleeps: list[float]) -> Kube:
    connected = Kube.connect({"KUBECONFIG": str(tmp_path / "kubeconfig")})
    return Kube(connected._client, sleep=sleeps.append)


def cronjob(name: str, schedule: str = "0 7 * * *") -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": "team-a",
                         "labels": {"app.kubernetes.io/managed-by": "pipelinectl"}},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "m", "image": "x"}]}}}}}}


def test_apply_writes_once_and_skips_what_is_unchanged(kube: Kube, fake: FakeKube) -> None:
    assert kube.apply(cronjob("etl"), live=None) is True
    live = kube.get("CronJob", "team-a", "etl")
    assert live is not None
    assert live["metadata"]["annotations"][APPLIED_HASH_ANNOTATION] == applied_hash(cronjob("etl"))
    assert live["metadata"]["managedFields"][0]["manager"] == "pipelinectl"
    writes = len(fake.writes())
    assert kube.apply(cronjob("etl"), live=live) is False
    assert len(fake.writes()) == writes  # unchanged: not even a request
    assert kube.apply(cronjob("etl", "0 8 * * *"), live=live) is True
    assert kube.get("CronJob", "team-a", "etl")["spec"]["schedule"] == "0 8 * * *"  # type: ignore[index]


def test_list_get_delete(kube: Kube, fake: FakeKube) -> None:
    kube.apply(cronjob("a"), None)
    kube.apply(cronjob("b"), None)
    owned = kube.list("CronJob", "team-a", "app.kubernetes.io/managed-by=pipelinectl")
    assert [o["metadata"]["name"] for o in owned] == ["a", "b"]
    assert kube.get("CronJob", "team-a", "nope") is None
    assert kube.delete("CronJob", "team-a", "a") is True
    assert kube.delete("CronJob", "team-a", "a") is False
    assert kube.namespace_exists("team-a") and not kube.namespace_exists("team-b")


def test_transient_errors_are_retried_with_backoff(kube: Kube, fake: FakeKube,
                                                   sleeps: list[float]) -> None:
    fake.fail("PATCH", r"/cronjobs/etl$", 503, times=2)
    fake.fail("GET", r"/cronjobs$", 429, times=1)
    assert kube.apply(cronjob("etl"), None) is True
    assert kube.list("CronJob", "team-a", "") != []
    # Backoff 0.5 s, 1 s for the 503s; the 429 is retried after the server's Retry-After (0),
    # by us or, in newer clients, by urllib3 underneath.
    assert sleeps in ([0.5, 1.0], [0.5, 1.0, 0.0])
    assert [(r.method, r.status) for r in fake.requests if "cronjobs" in r.path] == [
        ("PATCH", 503), ("PATCH", 503), ("PATCH", 201), ("GET", 429), ("GET", 200)]


def test_retries_give_up_with_a_clear_error(kube: Kube, fake: FakeKube) -> None:
    fake.fail("PATCH", r"/cronjobs/etl$", 500, times=10)
    with pytest.raises(KubeError) as failed:
        kube.apply(cronjob("etl"), None)
    assert failed.value.message == ("the Kubernetes API answered 500 to apply CronJob "
                                    "team-a/etl: injected fault")
    assert failed.value.hint is not None and failed.value.hint.startswith(
        "transient errors were retried; run it again")
    assert sum(1 for r in fake.requests if r.method == "PATCH") == 6


def test_refusals_say_what_and_why(kube: Kube, fake: FakeKube) -> None:
    fake.fail("PATCH", r"/cronjobs/etl$", 403)
    with pytest.raises(KubeError) as forbidden:
        kube.apply(cronjob("etl"), None)
    assert forbidden.value.render() == (
        "error: the deploy credentials may not apply CronJob team-a/etl: injected fault\n"
        "  hint: the team's deployer Role must allow it (see manifests/)")
    body = cronjob("etl")
    body["metadata"]["namespace"] = "team-b"
    with pytest.raises(KubeError) as missing:
        kube.apply(body, None)
    assert missing.value.message == 'cannot apply CronJob team-b/etl: namespaces "team-b" not found'


def test_access_review(kube: Kube, fake: FakeKube) -> None:
    fake.denied.add(("delete", "cronjobs", "team-a"))
    assert kube.allowed("patch", "CronJob", "team-a")
    assert not kube.allowed("delete", "CronJob", "team-a")


def test_unreachable_api_server(tmp_path: Path, fake: FakeKube) -> None:
    config = fake.kubeconfig(tmp_path / "gone")
    fake.stop()
    connected = Kube.connect({"KUBECONFIG": str(config)})
    kube = Kube(connected._client, sleep=lambda _: None, retries=1)
    with pytest.raises(KubeError) as down:
        kube.get("CronJob", "team-a", "etl")
    assert down.value.message.startswith(f"cannot reach the Kubernetes API at {fake.url}: ")


def test_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeError) as none:
        Kube.connect({"KUBECONFIG": str(tmp_path / "missing")})
    assert none.value.message.startswith("no Kubernetes credentials: ")
    assert "fake-token" not in none.value.render()

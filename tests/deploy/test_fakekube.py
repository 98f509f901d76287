"""The fake API server (tests/support/fakekube.py) answers the real `kubernetes` client the way
an API server does: the deploy tests are only as good as this imitation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from tests.support.fakekube import FakeKube

CRONJOBS = ("batch", "v1", "cronjobs")


@pytest.fixture
def kube(fake_kube: FakeKube,
         tmp_path: Path) -> Iterator[tuple[FakeKube, kubernetes.client.ApiClient]]:
    fake_kube.add_namespace("team-a")
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(tmp_path / "kubeconfig"), client_configuration=config)
    with kubernetes.client.ApiClient(config) as client:
        yield fake_kube, client


def cronjob(name: str, schedule: str = "0 7 * * *", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": "team-a", "labels": labels},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "m", "image": "x"}]}}}}}}


def apply(client: kubernetes.client.ApiClient, body: dict[str, Any],
          force: bool = False) -> dict[str, Any]:
    """Server-side apply the way pipelinectl does it: the typed API, raw JSON back."""
    response = kubernetes.client.BatchV1Api(client).patch_namespaced_cron_job(
        body["metadata"]["name"], "team-a", body, field_manager="pipelinectl",
        force=force or None, _content_type="application/apply-patch+yaml",
        _preload_content=False)
    assert response.status in (200, 201)
    return json.loads(response.data)  # type: ignore[no-any-return]


def test_apply_creates_then_updates_with_resource_versions(kube) -> None:
    _fake, client = kube
    first = apply(client, cronjob("etl", team="a"))
    second = apply(client, cronjob("etl", "0 8 * * *", team="a"))
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["metadata"]["managedFields"][0]["manager"] == "pipelinectl"
    read = kubernetes.client.BatchV1Api(client).read_namespaced_cron_job("etl", "team-a")
    assert read.spec.schedule == "0 8 * * *"


def test_list_by_label_selector(kube) -> None:
    _fake, client = kube
    apply(client, cronjob("a", team="x", tier="1"))
    apply(client, cronjob("b", team="x"))
    apply(client, cronjob("c", team="y"))
    batch = kubernetes.client.BatchV1Api(client)

    def names(selector: str) -> list[str]:
        return [i.metadata.name for i in
                batch.list_namespaced_cron_job("team-a", label_selector=selector).items]

    assert names("team=x") == ["a", "b"]
    assert names("team!=x") == ["c"]
    assert names("team=x,tier") == ["a"]
    assert names("!tier") == ["b", "c"]
    assert names("team in (x, y),tier notin (1)") == ["b", "c"]


def test_conflict_with_another_manager_unless_forced(kube) -> None:
    fake, client = kube
    fake.put(CRONJOBS, "team-a", cronjob("etl"), manager="kubectl-client-side-apply")
    with pytest.raises(ApiException) as refused:
        apply(client, cronjob("etl"))
    assert refused.value.status == 409
    assert json.loads(refused.value.body)["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply"')
    assert apply(client, cronjob("etl"), force=True)["metadata"]["name"] == "etl"


def test_delete_missing_namespace_faults_and_the_log(kube) -> None:
    fake, client = kube
    batch = kubernetes.client.BatchV1Api(client)
    apply(client, cronjob("etl"))
    batch.delete_namespaced_cron_job("etl", "team-a")
    with pytest.raises(ApiException) as gone:
        batch.read_namespaced_cron_job("etl", "team-a")
    assert gone.value.status == 404
    with pytest.raises(ApiException) as no_namespace:
        batch.patch_namespaced_cron_job("x", "nope", cronjob("x"), field_manager="p",
                                        _content_type="application/apply-patch+yaml")
    assert no_namespace.value.status == 404
    assert json.loads(no_namespace.value.body)["message"] == 'namespaces "nope" not found'
    fake.fail("GET", r"/cronjobs$", 503, times=1)
    with pytest.raises(ApiException) as fault:
        batch.list_namespaced_cron_job("team-a")
    assert fault.value.status == 503
    assert batch.list_namespaced_cron_job("team-a").items == []
    assert [(r.method, r.status) for r in fake.requests[-2:]] == [("GET", 503), ("GET", 200)]
    assert [r.method for r in fake.writes()] == ["PATCH", "DELETE", "PATCH"]


def test_self_subject_access_review(kube) -> None:
    fake, client = kube
    fake.denied.add(("delete", "cronjobs", "team-a"))
    auth = kubernetes.client.AuthorizationV1Api(client)

    def allowed(verb: str) -> bool:
        review = kubernetes.client.V1SelfSubjectAccessReview(
            spec=kubernetes.client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=kubernetes.client.V1ResourceAttributes(
                    namespace="team-a", verb=verb, group="batch", resource="cronjobs")))
        return bool(auth.create_self_subject_access_review(review).status.allowed)

    assert allowed("patch") and not allowed("delete")


def test_discovery(kube) -> None:
    _fake, client = kube
    from kubernetes.dynamic import DynamicClient
    dynamic = DynamicClient(client)
    cronjobs = dynamic.resources.get(api_version="batch/v1", kind="CronJob")
    assert cronjobs.namespaced and cronjobs.name == "cronjobs"
    assert kubernetes.client.VersionApi(client).get_code().git_version == "v1.30.0"

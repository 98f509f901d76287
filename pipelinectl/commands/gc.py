"""`pipelinectl gc [--apply]`: delete the images no deploy can still need (admin/retention.py).

What a deploy may need is read from every environment the platform lists, and its previews:
the state objects (current and history: the rollback targets), the live CronJobs and the
delivered DAG files. An environment that cannot be read stops gc before it deletes anything:
it never guesses. Images are found through the registry's catalog (repositories below each
team's prefix), else, where the registry keeps its catalog to itself, in the repositories the
state objects name. A dry run unless --apply.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelinectl import wiring
from pipelinectl.admin import retention
from pipelinectl.build.images import split_repository
from pipelinectl.deploy import state
from pipelinectl.deploy.ports import Delivery
from pipelinectl.errors import EXIT_OK, UserError
from pipelinectl.render.dagfile import pipeline_literal
from pipelinectl.spec.discover import repo_root
from pipelinectl.spec.platform import Platform
from pipelinectl.vocabulary import DAG_FILE_KIND, DAG_LABEL


@dataclass(frozen=True)
class Args:
    apply: bool
    environment: list[str] | None  # ENV=KUBECONFIG: that environment's cluster
    platform: str | None


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    config = wiring.load_platform(args.platform, environ)
    clusters = _kubeconfigs(args.environment or [], config)
    root = repo_root(cwd)
    needed: dict[str, str] = {}
    for name, view in _views(config):
        local = {**environ, "KUBECONFIG": clusters[name]} if name in clusters else environ
        try:
            _read(view, name, root, local, needed)
        except UserError as exc:
            raise UserError(f"gc cannot read environment {name}: {exc.message}; it deletes "
                            "nothing while any environment is unknown",
                            hint="give gc read access to every environment's cluster (--"
                                 "environment NAME=KUBECONFIG for one in another cluster); "
                                 "see docs/how-to/registry-retention.md") from None
    tools = wiring.build_tools(config, environ)
    stored = _stored(config, tools, needed)
    digests = {k: v for k, v in needed.items() if not k.startswith("@")}
    decisions = retention.decide(stored, digests, _now(), config.keep_days)
    if args.apply:
        for decision in decisions:
            if not decision.keep:
                host, _ = split_repository(config.registry)
                tools.registry(host).delete(decision.image.repository,  # type: ignore[attr-defined]
                                            decision.image.digest)
    sys.stdout.write(retention.table(decisions, args.apply))
    return EXIT_OK


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _kubeconfigs(options: list[str], config: Platform) -> dict[str, str]:
    found = {}
    for option in options:
        name, sep, path = option.partition("=")
        if not sep or not path or name not in config.environments:
            raise UserError(f"--environment {option!r}: expected NAME=KUBECONFIG with NAME one "
                            f"of the platform's environments ({', '.join(config.environments)})",
                            hint="e.g. --environment production=/secrets/production.kubeconfig")
        found[name] = path
    return found


def _views(config: Platform) -> list[tuple[str, Platform]]:
    views = [(name, config.in_environment(name)) for name in config.environments]
    if config.previews is not None:
        views.append(("previews", config.in_previews()))
    return views


def _read(view: Platform, name: str, root: Path, environ: Mapping[str, str],
          needed: dict[str, str]) -> None:
    """What environment `name` (a view of the platform) runs and may roll back to."""
    cluster = wiring.cluster(view, root, environ)
    with wiring.delivery(view, root, environ) as delivery:
        for team in view.teams.values():
            namespace = team.namespace
            if not cluster.namespace_exists(namespace):
                continue  # nothing deployed here
            for pipeline, record in state.read_all(cluster, namespace).items():
                for number, deploy in enumerate(record.history):
                    why = (f"deployed in {name} ({namespace}/{pipeline})" if number == 0 else
                           f"in {name}'s history of {namespace}/{pipeline}: a rollback target")
                    _need(needed, deploy.image, why)
                _dag_images(delivery, record, name, needed)
            for job in cluster.list("CronJob", namespace, ""):
                for image in _images(job):
                    _need(needed, image, f"in the live CronJob {namespace}/"
                                         f"{job['metadata']['name']} of {name}")
        dags = view.airflow.dags
        if dags.kind == "configmap" and cluster.namespace_exists(dags.namespace):
            for obj in cluster.list("ConfigMap", dags.namespace, f"{DAG_LABEL}=true"):
                for text in (obj.get("data") or {}).values():
                    _need(needed, _dag_image(str(text)),
                          f"in the delivered DAG {obj['metadata']['name']} of {name}")


def _dag_images(delivery: Delivery | None, record: state.State, name: str,
                needed: dict[str, str]) -> None:
    if delivery is None:
        return
    for item in record.inventory:
        if item.kind == DAG_FILE_KIND:
            text = delivery.read(item.name)
            if text is not None:
                _need(needed, _dag_image(text), f"in the delivered DAG {item.name} of {name}")


def _dag_image(text: str) -> str:
    try:
        return str(pipeline_literal(text).get("image", ""))
    except (ValueError, SyntaxError):
        return ""


def _images(obj: Mapping[str, Any]) -> list[str]:
    """Every container image of a CronJob's pods (init containers too)."""
    spec = (((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {})
    pod = ((spec.get("template") or {}).get("spec") or {})
    return [str(c.get("image", "")) for key in ("initContainers", "containers")
            for c in pod.get(key) or [] if isinstance(c, dict)]


def _need(needed: dict[str, str], image: str, why: str) -> None:
    """Record that `image` (<repository>@sha256:...) is needed; the repository is recorded
    too (under the key "@<repository>"), for a registry without a catalog."""
    name, _, digest = image.partition("@")
    if digest.startswith("sha256:"):
        needed.setdefault(digest, why)
        needed.setdefault("@" + split_repository(name)[1], "")


def _stored(config: Platform, tools: Any, needed: Mapping[str, str]
            ) -> list[retention.Stored]:
    """Every image of every team's pipeline repositories."""
    host, path = split_repository(config.registry)
    registry = tools.registry(host)
    repositories: set[str] = set()
    for team in config.teams:
        prefix = f"{path}/{team}" if path else team
        try:
            repositories.update(registry.repositories(prefix))
        except UserError:  # a registry that keeps its catalog to itself: what states name
            repositories.update(key[1:] for key in needed
                                if key.startswith("@" + prefix + "/"))
    found = []
    for repository in sorted(repositories):
        by_digest: dict[str, list[str]] = {}
        for tag in registry.tags(repository):
            digest = registry.manifest_digest(repository, tag)
            if digest:
                by_digest.setdefault(digest, []).append(tag)
        team, pipeline = repository.rsplit("/", 2)[-2:]
        for digest, tags in sorted(by_digest.items()):
            created, blobs = registry.image(repository, digest)
            found.append(retention.Stored(repository, f"{team}/{pipeline}", digest,
                                          tuple(tags), created, blobs))
    return found

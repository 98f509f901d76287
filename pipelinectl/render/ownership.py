"""The labels and annotations that mark a rendered object as a pipeline's own (pure).

The deploy step prunes only objects that carry them, in the team's namespace
(docs/reference/labels.md); their names are in pipelinectl.vocabulary.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields, is_dataclass
from typing import Any

from pipelinectl.spec.model import Pipeline
from pipelinectl.vocabulary import (
    GIT_SHA_ANNOTATION,
    MANAGED_BY,
    MANAGER,
    PIPELINE_LABEL,
    PREVIEW_LABEL,
    SPEC_DIGEST_ANNOTATION,
    TEAM_LABEL,
)


def labels_of(pipeline: Pipeline) -> dict[str, str]:
    """The pipeline's own labels, then the ownership labels (validation keeps them apart)."""
    owned = {MANAGED_BY: MANAGER, PIPELINE_LABEL: pipeline.metadata.name,
             TEAM_LABEL: pipeline.metadata.team}
    if pipeline.preview is not None:
        owned[PREVIEW_LABEL] = str(pipeline.preview)
    return {**dict(pipeline.metadata.labels), **owned}


def annotations_of(pipeline: Pipeline, revision: str) -> dict[str, str]:
    """`revision`: the last commit that changed the pipeline's files, not the deploying one
    (which the state object records), so that an unrelated commit changes no annotation."""
    return {GIT_SHA_ANNOTATION: revision, SPEC_DIGEST_ANNOTATION: spec_digest(pipeline)}


def spec_digest(pipeline: Pipeline) -> str:
    """sha256 of the pipeline's meaning: the typed spec with defaults applied, not its text.

    Comments, key order and quoting do not change it; any setting that reaches a task does.
    Backfills do not: they start runs of the same tasks, and change nothing deployed.
    """
    document = {f.name: _plain(getattr(pipeline, f.name)) for f in fields(pipeline)
                if f.name not in ("file", "source", "folder", "document", "environment",
                                  "preview", "backfills")}
    if not document["params"]:  # a pipeline without params keeps the digest it always had
        del document["params"]
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value

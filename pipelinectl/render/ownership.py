"""Ownership labels, annotations and the fixed run environment shared by every renderer.

Labels mark what pipelinectl owns: the deploy step prunes only objects that carry them, in the
team's namespace (SPEC.md section 3).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields, is_dataclass
from typing import Any

from pipelinectl.spec.model import Pipeline

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "pipelinectl"
PIPELINE_LABEL = "pipelinectl.io/pipeline"
TEAM_LABEL = "pipelinectl.io/team"
TASK_LABEL = "pipelinectl.io/task"
GIT_SHA_ANNOTATION = "pipelinectl.io/git-sha"
SPEC_DIGEST_ANNOTATION = "pipelinectl.io/spec-digest"

# Set in every task's environment; user env may not use the PIPELINECTL_ prefix.
ENV_PIPELINE = "PIPELINECTL_PIPELINE"
ENV_TEAM = "PIPELINECTL_TEAM"
ENV_TASK = "PIPELINECTL_TASK"
ENV_RUN_ID = "PIPELINECTL_RUN_ID"


def ownership_labels(pipeline: Pipeline) -> dict[str, str]:
    """The pipeline's own labels, then the ownership labels (validation keeps them apart)."""
    owned = {MANAGED_BY: MANAGER, PIPELINE_LABEL: pipeline.metadata.name,
             TEAM_LABEL: pipeline.metadata.team}
    return {**dict(pipeline.metadata.labels), **owned}


def ownership_annotations(pipeline: Pipeline, git_sha: str) -> dict[str, str]:
    return {GIT_SHA_ANNOTATION: git_sha, SPEC_DIGEST_ANNOTATION: spec_digest(pipeline)}


def spec_digest(pipeline: Pipeline) -> str:
    """sha256 of the pipeline's meaning: the typed spec with defaults applied, not its text.

    Comments, key order and quoting do not change it; any setting that reaches a task does.
    """
    document = {f.name: _plain(getattr(pipeline, f.name)) for f in fields(pipeline)
                if f.name not in ("file", "source")}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value

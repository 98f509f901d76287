"""Reading a DAG file back (pure): its one `PIPELINE = {...}` literal, with
ast.literal_eval (never executed), and whether it is a pipeline's own generated DAG."""

from __future__ import annotations

import ast
from typing import Any

from pipelinectl.vocabulary import MANAGED_BY, MANAGER, PIPELINE_LABEL, TEAM_LABEL


def pipeline_literal(text: str) -> dict[str, Any]:
    for node in ast.parse(text).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and \
                node.target.id == "PIPELINE" and node.value is not None:
            value = ast.literal_eval(node.value)
            if isinstance(value, dict):
                return value
    raise ValueError("not a DAG file written by pipelinectl (no PIPELINE literal)")


def owned_by(text: str | None, pipeline: str, team: str | None = None) -> bool:
    """Whether `text` is a DAG file pipelinectl generated for `pipeline` (of `team`): its
    PIPELINE literal carries the ownership labels."""
    if text is None:
        return False
    try:
        literal = pipeline_literal(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False
    labels = literal.get("labels") or {}
    return bool(isinstance(labels, dict) and labels.get(MANAGED_BY) == MANAGER and
                labels.get(PIPELINE_LABEL) == pipeline and
                (team is None or labels.get(TEAM_LABEL) == team))

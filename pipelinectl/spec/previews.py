"""Merge-request previews (docs/how-to/previews.md): a pipeline as its preview deploys it.

A preview of merge request N is the pipeline, as the environment the merge request goes into
runs it, with its names suffixed: the CronJob (and every name made from the pipeline's)
`<name>-mr<N>`, the DAG `<team>__<name>__mr<N>`, everything labelled pipelinectl.io/preview:
N, and its schedule always suspended (a DAG paused): a reviewer starts a run by hand. A
pipeline name has at most 40 characters, so with a merge request number of at most
MAX_DIGITS digits a CronJob name stays within Kubernetes' 52.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from pipelinectl.errors import UserError
from pipelinectl.spec.model import Pipeline

MAX_DIGITS = 9  # 40 + len("-mr") + 9 = 52: the longest CronJob name Kubernetes takes
NAME_LIMIT = 40  # metadata.name's own limit (the schema's)
CRONJOB_NAME_LIMIT = 52
_PULL_REF = re.compile(r"refs/pull/([0-9]+)/(?:merge|head)")


def suffix(number: int) -> str:
    return f"-mr{number}"


def as_preview(pipeline: Pipeline, number: int) -> Pipeline:
    """`pipeline` (already in its environment) as preview `number` deploys it."""
    schedule = pipeline.schedule
    if schedule is not None:
        schedule = dataclasses.replace(schedule, suspend=True)
    metadata = dataclasses.replace(pipeline.metadata,
                                   name=pipeline.metadata.name + suffix(number))
    return dataclasses.replace(pipeline, metadata=metadata, schedule=schedule, preview=number)


def number(option: int | str | None, environ: Mapping[str, str]) -> int:
    """The merge request: --mr, else CI's (GitLab's CI_MERGE_REQUEST_IID, GitHub's
    pull-request ref)."""
    found: int | str | None = option
    if found is None:
        found = environ.get("CI_MERGE_REQUEST_IID") or None
    if found is None:
        match = _PULL_REF.fullmatch(environ.get("GITHUB_REF", ""))
        found = match.group(1) if match else None
    if found is None:
        raise UserError("no merge request to preview",
                        hint="pass --mr N, or run it in a merge-request pipeline (GitLab: "
                             "CI_MERGE_REQUEST_IID; GitHub: a pull_request event); see "
                             "docs/how-to/previews.md")
    text = str(found)
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > MAX_DIGITS \
            or int(text) <= 0:
        raise UserError(f"merge request {text!r} is not a number of 1 to {MAX_DIGITS} digits",
                        hint="a preview's names carry it: -mr<N> must keep a CronJob name "
                             f"within {CRONJOB_NAME_LIMIT} characters")
    return int(text)

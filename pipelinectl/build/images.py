"""The image plan of a pipeline: where it lives, what goes into it, its tags and labels (pure)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelinectl.build import context, digest
from pipelinectl.checkout import GitState
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Platform
from pipelinectl.vocabulary import (
    IMAGE_CONTENT_LABEL,
    IMAGE_INPUTS_LABEL,
    IMAGE_PIPELINE_LABEL,
    IMAGE_TEAM_LABEL,
)
from pipelinectl.vocabulary import OCI_LABEL_PREFIX as OCI


@dataclass(frozen=True)
class ImagePlan:
    pipeline: Pipeline
    pipeline_dir: Path
    repository: str  # <registry>/<team>/<pipeline>
    build: context.BuildInputs
    inputs: digest.Inputs
    content_digest: str

    @property
    def name(self) -> str:
        return self.pipeline.metadata.name

    @property
    def content_tag(self) -> str:
        return digest.content_tag(self.content_digest)

    def reference(self, image_digest: str) -> str:
        return f"{self.repository}@{image_digest}"

    def input_paths(self) -> list[Path]:
        """The files and folders whose uncommitted changes would change the image."""
        image = self.pipeline.image
        if image.dockerfile is not None:
            return [self.pipeline_dir / (image.context or "."), self.pipeline_dir /
                    image.dockerfile]
        paths = [self.pipeline_dir]
        if image.dependencies is not None:
            paths.append(self.pipeline_dir / image.dependencies)
        return paths


def split_repository(repository: str) -> tuple[str, str]:
    """registry.example.org/team/name -> (registry.example.org, team/name)."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", repository


def repository(platform: Platform, pipeline: Pipeline) -> str:
    return f"{platform.registry.rstrip('/')}/{pipeline.metadata.team}/{pipeline.metadata.name}"


def plan(pipeline: Pipeline, pipeline_dir: Path, platform: Platform,
         tracked: context.Tracked | None = None) -> ImagePlan:
    image = pipeline.image
    base = None
    if image.language is not None and image.version is not None:
        base = platform.base_image(image.language, image.version)
    build = context.collect(pipeline, pipeline_dir, base, tracked)
    inputs = digest.inputs_of(build)
    return ImagePlan(pipeline, pipeline_dir, repository(platform, pipeline), build, inputs,
                     inputs.digest)


def source_folders(pipeline: Pipeline, root: Path) -> tuple[str, ...]:
    """The folders (relative to the repository root `root`, with /; "" for the root itself)
    whose files make the pipeline: its own folder, and a custom Dockerfile's context when
    that reaches beyond it. A commit that changes no file below them changes nothing the
    pipeline renders to (its revision: docs/explanation/how-deploy-decides.md)."""
    folders = [pipeline.folder]
    if pipeline.image.dockerfile is not None:
        folders.append(Path(os.path.normpath(pipeline.folder / (pipeline.image.context or "."))))
    found = []
    for folder in folders:
        try:
            relative = folder.relative_to(root).as_posix()
        except ValueError:
            continue
        found.append("" if relative == "." else relative)
    return tuple(sorted(set(found)))


def labels(image: ImagePlan, git: GitState | None, clean: bool) -> dict[str, str]:
    """OCI labels plus ours. Times come from the commit, so a rebuild gives the same labels;
    a checkout with uncommitted changes gets no revision (it would not be true)."""
    meta = image.pipeline.metadata
    result = {
        OCI + "title": meta.name,
        IMAGE_PIPELINE_LABEL: meta.name,
        IMAGE_TEAM_LABEL: meta.team,
        IMAGE_CONTENT_LABEL: image.content_digest,
        IMAGE_INPUTS_LABEL: image.inputs.label(),
    }
    if meta.description:
        result[OCI + "description"] = meta.description
    if image.build.base_image:
        result[OCI + "base.name"] = image.build.base_image
    if git is not None:
        result[OCI + "created"] = git.committed_at
        if git.source_url:
            result[OCI + "source"] = git.source_url
        if clean:
            result[OCI + "revision"] = git.commit
    return result

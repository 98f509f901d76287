"""`pipelinectl render`: the CronJob manifests and DAG files of pipelines, written to a folder.

Images are referenced by the digest the build step produced for the pipeline's current
inputs (looked up in the registry by content tag), or by a marked zero digest with
--image-placeholder. Everything is rendered in memory first: a pipeline that cannot be rendered
stops the command before any file is written.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelinectl import files, wiring
from pipelinectl.build import imagebuild, images
from pipelinectl.build.ports import Tools
from pipelinectl.errors import EXIT_OK, UserError
from pipelinectl.render import outputs
from pipelinectl.spec.discover import display_name
from pipelinectl.vocabulary import RENDER_DIR, RENDERED_AIRFLOW_DIR, RENDERED_KUBERNETES_DIR


@dataclass(frozen=True)
class Args:
    paths: list[str]
    output: str | None
    image_placeholder: bool
    repo_id: str | None
    platform: str | None
    environment: str | None = None


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    loaded = wiring.load(args.paths, args.platform, args.repo_id, environ, cwd)
    loaded = loaded.in_environment(wiring.environment(loaded.config, args.environment, environ,
                                                      loaded.root))
    config, root = loaded.config, loaded.root
    plans = loaded.plans()
    if args.image_placeholder:
        digests = {plan.pipeline.file: outputs.PLACEHOLDER_DIGEST for plan in plans}
        sys.stderr.write(f"warning: images referenced by the placeholder digest "
                         f"{outputs.PLACEHOLDER_DIGEST[:15]}...: these files cannot run "
                         "until rendered again after `pipelinectl build`\n")
    else:
        digests = _resolved(plans, wiring.build_tools(config, environ))
    revision = wiring.revisions(root, [plan.pipeline for plan in plans])
    rendered = [outputs.render_pipeline(plan.pipeline, config,
                                        plan.reference(digests[plan.pipeline.file]),
                                        revision[plan.pipeline.file])
                for plan in plans]
    if args.output:  # the folder named is the user's; what pipelinectl makes below it is real
        out = Path(os.path.normpath(cwd / args.output))
        base, folder = out.parent, out.name
    else:
        base, folder = root, RENDER_DIR
    written = _write(base, folder, rendered, prune=not args.paths)
    for path in sorted(written):
        sys.stdout.write(f"{display_name(path, cwd)}\n")
    return EXIT_OK


def _resolved(plans: list[images.ImagePlan], tools: Tools) -> dict[str, str]:
    found = imagebuild.lookup(plans, tools)
    missing = [plan for plan in plans if found.get(plan.pipeline.file) is None]
    if missing:
        names = ", ".join(f"{plan.name} ({plan.repository}:{plan.content_tag[:20]}...)"
                          for plan in missing)
        raise UserError(f"no image in the registry for the current inputs of: {names}",
                        hint="run `pipelinectl build` first, or render with "
                             "--image-placeholder for a look at the output")
    return {file: digest for file, digest in found.items() if digest}


def _write(base: Path, folder: str, rendered: list[outputs.Rendered],
           prune: bool) -> list[Path]:
    """Each file replaced atomically, in real folders made below `base`; with `prune`,
    files of pipelines gone are removed, but only files pipelinectl generated."""
    written = [files.write_under(base, f"{folder}/{item.path}", item.content.encode("utf-8"))
               for item in rendered]
    if prune:
        keep = set(written)
        out = files.real_dir(base, folder)
        for stale in _rendered_files(out):
            if stale not in keep and _ours(stale):
                stale.unlink()
    return written


def _rendered_files(out: Path) -> list[Path]:
    """<kind>/<group>/<file>.yaml|.py below `out`, never through a symlink."""
    found = []
    for kind in (RENDERED_KUBERNETES_DIR, RENDERED_AIRFLOW_DIR):
        for group in _real_children(out / kind, folders=True):
            found += [p for p in _real_children(group, folders=False)
                      if p.suffix in (".yaml", ".py")]
    return sorted(found)


def _real_children(folder: Path, folders: bool) -> list[Path]:
    try:
        children = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    wanted = stat.S_ISDIR if folders else stat.S_ISREG
    return [c for c in children if wanted(os.lstat(c).st_mode)]


def _ours(path: Path) -> bool:
    try:
        text = files.read_regular(path, outputs.MAX_RENDERED_BYTES).decode("utf-8")
    except (OSError, files.NotRegular, UnicodeDecodeError):
        return False
    return outputs.generated(path.name, text)

"""`pipelinectl plan`: what a deploy would change, in words, then as a diff. Writes nothing.

Against `--against DIR` (the `render` output of the target branch: no cluster needed, for
merge requests), or else against what is deployed (the live CronJobs and DAGs, and the state
objects for pipelines that would be removed).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipelinectl import files, wiring
from pipelinectl.build import imagebuild
from pipelinectl.deploy import dagruns, drift, state
from pipelinectl.deploy.ports import AirflowApi, Cluster, Delivery
from pipelinectl.errors import EXIT_OK, UserError
from pipelinectl.render import changes, outputs
from pipelinectl.render.airflow import dag_id
from pipelinectl.render.outputs import MAX_RENDERED_BYTES
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.platform import Environment, Platform
from pipelinectl.textsafe import code_span, fence, inline
from pipelinectl.vocabulary import (
    APPLIED_HASH_ANNOTATION,
    DAG_FILE_KIND,
    RENDERED_AIRFLOW_DIR,
    RENDERED_KUBERNETES_DIR,
    TEAM_LABEL,
)
from pipelinectl.yamlout import dump_all

_HEADING = "### pipelinectl plan\n\n"
DAG_WORD = "dag:"  # marks a drifted entry of a DAG (its own words, not the file's)
_SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "creationTimestamp",
                  "generation", "selfLink")


@dataclass
class Entry:
    title: str  # "etl (CronJob default/etl)"
    path: str
    old: str | None
    new: str | None
    words: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Args:
    paths: list[str]
    against: str | None
    format: Literal["text", "markdown"]
    output: str | None
    repo_id: str | None
    platform: str | None
    environment: str | None = None


def run(args: Args, environ: Mapping[str, str], cwd: Path) -> int:
    loaded = wiring.load(args.paths, args.platform, args.repo_id, environ, cwd)
    several = len(loaded.config.environments) > 1
    everywhere = loaded.config
    loaded = loaded.in_environment(wiring.environment(loaded.config, args.environment, environ,
                                                      loaded.root))
    config, root, repo_id, pipelines = loaded.config, loaded.root, loaded.repo_id, \
        loaded.pipelines
    git = wiring.git_state(root, environ)
    decided = imagebuild.decide(loaded.plans(), wiring.image_settings(config, environ, git,
                                                                      root))
    revision = wiring.revisions(root, pipelines)
    new = {}
    image_words = {}
    for outcome in decided:
        pipeline = outcome.plan.pipeline
        pending = outcome.digest is None
        image = outcome.plan.reference(outcome.digest or outputs.PLACEHOLDER_DIGEST)
        rendered = outputs.render_pipeline(pipeline, config, image, revision[pipeline.file])
        new[rendered.path] = (pipeline.metadata.name, rendered.content)
        image_words[rendered.path] = [] if not pending else [_missing(everywhere, config)] \
            if config.environment is not None and not config.environment.build else \
            ["image rebuild: " + "; ".join(outcome.reasons)]
    present = None if not args.paths else {p.metadata.name for p in pipelines}
    # path -> a pause done by hand (only against a cluster): the word the change says, and
    # why (a DAG's pause lives in Airflow, not in its file: it has an entry of its own)
    drifted: dict[str, str] = {}
    old = _against_folder(Path(args.against), set(new) if present else None) \
        if args.against else _against_cluster(config, pipelines, root, environ,
                                               wiring.source(repo_id, git, root), present,
                                               drifted)
    entries = _entries(new, old, image_words, drifted)
    text = _markdown(entries) if args.format == "markdown" else _text(entries)
    if several:  # say where: a promotion's plan is about the environment it goes into
        assert config.environment is not None
        where = _where(config.environment, args.format)
        text = text.replace(_HEADING, _HEADING + where, 1) if args.format == "markdown" \
            else where + text
    if args.output:
        files.write_report(Path(args.output), text)
    sys.stdout.write(text)
    return EXIT_OK


def _against_folder(folder: Path, only: set[str] | None) -> dict[str, str]:
    """The render output of the target branch (only `only`'s files when PATHs were given):
    files pipelinectl rendered, each read back into a summary now, so that one it cannot read
    is a clear error here, not a crash later."""
    if not folder.is_dir():
        raise UserError(f"--against {folder}: not a folder",
                        hint="name the output folder of `pipelinectl render -o DIR`")
    found = {}
    for kind in (RENDERED_KUBERNETES_DIR, RENDERED_AIRFLOW_DIR):
        for path in sorted((folder / kind).glob("*/*")):
            if path.suffix in (".yaml", ".py") and path.is_file() and not path.is_symlink():
                relative = path.relative_to(folder).as_posix()
                if only is None or relative in only:
                    found[relative] = _rendered_text(path, relative)
    return found


def _rendered_text(path: Path, relative: str) -> str:
    try:
        text = files.read_regular(path, MAX_RENDERED_BYTES).decode("utf-8")
        changes.summarize(relative, text)
    except (OSError, files.NotRegular, UnicodeDecodeError, *_UNREADABLE) as exc:
        raise UserError(f"{path}: not a file pipelinectl rendered ({_why_unreadable(exc)})",
                        hint="--against takes the folder of a `pipelinectl render -o DIR` "
                             "run, unchanged") from None
    return text


def _why_unreadable(exc: BaseException) -> str:
    """Why a rendered file could not be read back, in words."""
    if isinstance(exc, KeyError):
        return f"no {str(exc.args[0])[:80]!r} field"
    if isinstance(exc, TypeError | IndexError | AttributeError):
        return "a field has the wrong type"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, SyntaxError):
        return f"not valid Python: {exc.msg} on line {exc.lineno}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return (str(exc).splitlines() or [""])[0][:200]


def _against_cluster(config: Platform, pipelines: list[Pipeline], root: Path,
                     environ: Mapping[str, str], deployer: str,
                     present: set[str] | None, drifted: dict[str, str]) -> dict[str, str]:
    """What is deployed for this repository's pipelines (all it deployed, without PATHs),
    and in `drifted` the pauses done by hand against what the state recorded."""
    cluster = wiring.cluster(config, root, environ)
    api = wiring.airflow_api(config, environ)
    found: dict[str, str] = {}
    namespaces = sorted({config.teams[p.metadata.team].namespace for p in pipelines})
    with wiring.delivery(config, root, environ) as delivery:
        for namespace in namespaces:
            for record in state.read_all(cluster, namespace).values():
                if record.source != deployer or (present is not None and
                                                 record.pipeline not in present):
                    continue
                before = set(found)
                for item in record.inventory:
                    _read_item(cluster, delivery, item, found, record, drifted)
                pipeline = next((p for p in pipelines if p.metadata.name == record.pipeline
                                 and p.metadata.team == record.team), None)
                if api is not None and pipeline is not None and \
                        pipeline.resolved_engine == "airflow":
                    _dag_drift(api, pipeline, record, set(found) - before, drifted)
    return found


def _dag_drift(api: AirflowApi, pipeline: Pipeline, record: state.State, paths: set[str],
               drifted: dict[str, str]) -> None:
    """A pause done by hand in Airflow, read through its REST API (a DAG it has not parsed
    yet has none)."""
    hand = dagruns.pause_drift(record.current.paused, api.dag(dag_id(pipeline)))
    if hand is None:
        return
    word = "resumed" if hand.live_paused else "paused"
    for path in paths:
        if path.startswith(RENDERED_AIRFLOW_DIR + "/"):
            drifted[path] = f"{DAG_WORD}{word}: the DAG was {hand.describe(wiring.now())}"


def _read_item(cluster: Cluster, delivery: Delivery | None, item: state.Item,
               found: dict[str, str], record: state.State, drifted: dict[str, str]) -> None:
    if item.kind == "CronJob":
        live = cluster.get("CronJob", item.namespace, item.name)
        if live is not None:
            path = f"{RENDERED_KUBERNETES_DIR}/{item.namespace}/{item.name}.yaml"
            found[path] = dump_all([_as_applied(live)])
            hand = drift.of_pause(record.current.paused, live)
            if hand is not None:
                drifted[path] = hand.describe(wiring.now())
    elif item.kind == DAG_FILE_KIND and delivery is not None:
        text = delivery.read(item.name)
        if text is not None:
            team = item.name.rsplit("/", 2)[-2]
            found[f"{RENDERED_AIRFLOW_DIR}/{team}/{item.name.rsplit('/', 1)[-1]}"] = text
    elif item.kind == "ConfigMap":
        live = cluster.get("ConfigMap", item.namespace, item.name)
        for name, text in ((live or {}).get("data") or {}).items():
            team = (live or {}).get("metadata", {}).get("labels", {}).get(TEAM_LABEL, "")
            found[f"{RENDERED_AIRFLOW_DIR}/{team}/{name}"] = text


def _as_applied(live: dict[str, Any]) -> dict[str, Any]:
    """The live object without what the server adds, to compare with a rendering."""
    meta = {k: v for k, v in live["metadata"].items() if k not in _SERVER_FIELDS}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != APPLIED_HASH_ANNOTATION}
    if annotations:
        meta["annotations"] = annotations
    ordered = {"apiVersion": live["apiVersion"], "kind": live["kind"], "metadata": meta}
    ordered.update({k: v for k, v in live.items()
                    if k not in ("apiVersion", "kind", "metadata", "status")})
    return ordered


def _entries(new: Mapping[str, tuple[str, str]], old: Mapping[str, str],
             image_words: Mapping[str, list[str]],
             drifted: Mapping[str, str] | None = None) -> list[Entry]:
    entries = []
    for path in sorted(set(new) | set(old)):
        name, text = new.get(path, ("", None))
        before = old.get(path)
        dag_hand = (drifted or {}).get(path, "")
        dag_hand = dag_hand.removeprefix(DAG_WORD) if dag_hand.startswith(DAG_WORD) else ""
        if before == text and not dag_hand:
            continue
        old_summary = _summary(path, before)
        new_summary = _summary(path, text)
        words = changes.describe(old_summary, new_summary)
        if image_words.get(path):
            words = [w for w in words if not w.startswith("image ")] + list(image_words[path])
        if dag_hand:  # the deploy sets the DAG's pause back through Airflow's API
            words = [w for w in words if w not in ("paused", "resumed")] + [dag_hand]
        elif (drifted or {}).get(path):  # the deploy undoes a hand change: say which
            words = [_undone(w, (drifted or {})[path]) for w in words]
        summary = new_summary or old_summary
        if summary is None:  # a live object that cannot be read as one pipelinectl rendered
            title = f"{name or path} ({path})"
        else:
            where = summary.name if summary.kind == "DAG" else \
                f"{path.split('/')[1]}/{summary.name}"
            title = f"{name or summary.name} ({summary.kind} {where})"
        entries.append(Entry(title, path, before, text, words))
    return entries


def _undone(word: str, hand: str) -> str:
    """`resumed` (live paused, git running) says why: the pause was done by hand."""
    return f"{word}: the live CronJob was {hand}" if word in ("paused", "resumed") else word


_UNREADABLE = (ValueError, SyntaxError, KeyError, TypeError, IndexError, AttributeError,
               RecursionError, yaml.YAMLError)


def _summary(path: str, text: str | None) -> changes.Summary | None:
    """The summary of a rendering; None when there is none, or when a live object edited by
    hand cannot be read as one (the diff still shows it)."""
    if text is None:
        return None
    try:
        return changes.summarize(path, text)
    except _UNREADABLE:
        return None


def _missing(everywhere: Platform, config: Platform) -> str:
    """A promotion's words for an image no environment built yet: deploy would refuse."""
    assert config.environment is not None
    names = list(everywhere.environments)
    builder = next((everywhere.environments[n] for n in reversed(
        names[:names.index(config.environment.name)]) if everywhere.environments[n].build),
        None)
    where = f"environment {builder.name} (branch {builder.branch})" if builder else \
        "an environment that builds"
    return (f"image missing: {config.environment.name} does not build, and no image has this "
            f"content yet; {where} must build it first, or the deploy is refused")


def _where(env: Environment, output: str) -> str:
    if output == "markdown":
        return (f"Environment {code_span(env.name)} (branch {code_span(env.branch)})"
                f"{', promoted: no build' if not env.build else ''}\n\n")
    return (f"environment {inline(env.name)} (branch {inline(env.branch)})"
            f"{', promoted: no build' if not env.build else ''}\n\n")


def _text(entries: list[Entry]) -> str:
    if not entries:
        return "No changes.\n"
    out = []
    for entry in entries:
        out.append(f"{inline(entry.title)}:\n")
        out += [f"  {inline(word)}\n" for word in entry.words or ["changes outside the summary"]]
    out.append("\n")
    for entry in entries:
        out.append(changes.diff(entry.path, entry.old, entry.new))
    return "".join(out)


_PLAIN = re.compile(r"[A-Za-z0-9 ._/:()-]+")


def _heading(title: str) -> str:
    """The title in bold when it is plain names (as rendered objects' are), else in code."""
    return f"**{title}**" if _PLAIN.fullmatch(title) else f"**{code_span(title)}**"


def _markdown(entries: list[Entry]) -> str:
    """For merge-request notes and job summaries: every value in a code span or a fence it
    cannot close, on a line that starts with pipelinectl's own text (GitLab runs quick
    actions at the start of a note's lines)."""
    if not entries:
        return _HEADING + "No changes.\n"
    out = [_HEADING]
    for entry in entries:
        out.append(f"{_heading(entry.title)}\n\n")
        out += [f"- {code_span(word)}\n" for word in entry.words or
                ["changes outside the summary"]]
        if entry.old == entry.new:  # a DAG paused by hand: nothing to show in its file
            out.append("\n")
            continue
        out.append(f"\n<details><summary>diff</summary>\n\n"
                   f"{fence(changes.diff(entry.path, entry.old, entry.new), 'diff')}"
                   "\n</details>\n\n")
    return "".join(out)

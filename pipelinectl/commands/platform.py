"""`pipelinectl platform manifests`: what the platform admin applies once per team."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from pipelinectl import manifests, platform
from pipelinectl.errors import EXIT_OK, UserError, did_you_mean
from pipelinectl.render.yamlout import dump_all


def run(args: argparse.Namespace, environ: Mapping[str, str], cwd: Path) -> int:
    config = platform.load(platform.resolve(args.platform, environ))
    teams = sorted(config.teams)
    chosen = args.team or teams
    for team in chosen:
        if team not in config.teams:
            raise UserError(f"no team {team!r} in {config.file}",
                            hint=did_you_mean(team, teams) or f"its teams: {', '.join(teams)}")
    for team in chosen:
        text = dump_all(manifests.team_manifests(config, team))
        if args.output:
            folder = Path(args.output)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{team}.yaml").write_text(text, encoding="utf-8")
            sys.stdout.write(f"{folder / f'{team}.yaml'}\n")
        else:
            sys.stdout.write(text)
    return EXIT_OK

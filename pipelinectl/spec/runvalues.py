"""What one run is started with: `--param NAME=VALUE` and `--logical-date`, checked against
the pipeline's params (docs/reference/pipeline-yaml.md#params), for `run` and `trigger`.

Every problem is reported at once, before anything is built, created or run.
"""

from __future__ import annotations

import datetime
import re

from pipelinectl.errors import UserError, did_you_mean
from pipelinectl.spec.model import Pipeline
from pipelinectl.spec.text import show
from pipelinectl.vocabulary import ENV_LOGICAL_DATE

_DATE_HINT = "write a date (2026-03-31) or a date and time (2026-03-31T06:00:00Z, read as UTC " \
             "without an offset)"
MAX_VALUE = 1000  # as the schema holds a default to


def parse_params(pipeline: Pipeline, items: list[str]) -> dict[str, str]:
    """Each param's value for this run: the given one, else the default (file order)."""
    given: dict[str, str] = {}
    problems: list[str] = []
    known = [p.name for p in pipeline.params]
    for item in items:
        name, equals, value = item.partition("=")
        param = pipeline.param(name)
        if not equals or not name:
            problems.append(f"--param {show(item)}: not NAME=VALUE")
        elif param is None:
            hint = did_you_mean(name, known)
            problems.append(f"--param {show(name)}: {pipeline.metadata.name} has no such param"
                            + (f" ({hint})" if hint else
                               f" (its params: {', '.join(known) or 'none'})"))
        elif name in given:
            problems.append(f"--param {name}: given twice")
        elif len(value) > MAX_VALUE:
            problems.append(f"--param {name}: longer than {MAX_VALUE} characters")
        elif (why := param.refusal(value)) is not None:
            allowed = f" ({', '.join(show(v) for v in param.enum)})" if param.enum else ""
            problems.append(f"--param {name}: {show(value)} {why}{allowed}")
        else:
            given[name] = value
    if problems:
        raise UserError("; ".join(problems) if len(problems) == 1 else
                        f"{len(problems)} problems with --param:\n  " + "\n  ".join(problems),
                        hint="give each param of pipeline.yaml as NAME=VALUE, at most once")
    return {p.name: given.get(p.name, p.default) for p in pipeline.params}


def parse_logical_date(text: str | None) -> str | None:
    """--logical-date as ISO 8601 in UTC (2026-03-31T00:00:00+00:00, as Airflow writes it);
    a date alone is its midnight UTC, a time without an offset is UTC."""
    if text is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = datetime.datetime.combine(datetime.date.fromisoformat(text),
                                               datetime.time(), datetime.UTC)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?", text):
            moment = datetime.datetime.fromisoformat(text)
        else:
            raise ValueError
    except ValueError:
        raise UserError(f"--logical-date {show(text)}: not a date or date-time",
                        hint=_DATE_HINT) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).isoformat()


def run_env(pipeline: Pipeline, values: dict[str, str], logical_date: str | None
            ) -> dict[str, str]:
    """The variables a run's values give every task."""
    found = {p.env_name: values[p.name] for p in pipeline.params}
    if logical_date is not None:
        found[ENV_LOGICAL_DATE] = logical_date
    return found

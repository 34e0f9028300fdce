"""``piu search`` and ``piu rank``: the matcher from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import settings
from core.console import fail, print_json
from matcher.need import scope_from_message
from matcher.service import MatchService, QueryError
from matcher.territories import TerritoryResolver


def _resolver(service: MatchService) -> TerritoryResolver:
    with service.db.session() as session:
        return TerritoryResolver.from_session(session)


def search(
    text: Annotated[str, typer.Argument(help="The need, in your own words")],
    top: Annotated[int, typer.Option("--top", "-n", min=1, max=100)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per result")] = False,
    language: Annotated[str, typer.Option("--lang")] = "fr",
) -> None:
    """Search the catalogue like the chat does: the message is read as the chat reads it
    (problem statement searched; place, size, stage from the rest), then hybrid ranking."""
    service = MatchService.ready(settings(), progress=not as_json)
    read = scope_from_message(text, language=language, resolver=_resolver(service))
    if read.understanding.changed and not as_json:
        typer.echo(f"besoin / need: {read.scope.text}", err=True)
    try:
        result = service.search(read.scope, top=top)
    except QueryError as exc:
        fail(f"Requête invalide / invalid query: {exc}")
        return
    for notice in result.notices:
        typer.echo(f"note: {notice}", err=True)
    for rank, m in enumerate(result.matches, 1):
        if as_json:
            print_json(
                {
                    "rank": rank,
                    "id": m.external_id,
                    "title": m.title,
                    "score": m.score,
                    "trust_level": m.trust_level,
                    "reasons": [{"code": r.code, **r.params} for r in m.reasons],
                }
            )
        else:
            typer.echo(f"{rank:>2}. {m.title}  [{m.external_id}]  {m.score:.3f}")
            typer.echo(f"    {m.mission[:140]}")
    for m in result.tried_elsewhere:
        typer.echo(f" -. {m.title}  [{m.external_id}]  (arrêté / stopped)")


def rank(
    queries: Annotated[Path, typer.Option("--queries", exists=True, dir_okay=False)],
    field: Annotated[str, typer.Option("--field", help="short | long | text")] = "short",
    top: Annotated[int, typer.Option("--top", min=1, max=100)] = 10,
) -> None:
    """Print one JSON line per query with its qid and the ranked external ids, best first."""
    service = MatchService.ready(settings(), progress=False)
    resolver = _resolver(service)
    with queries.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                query = json.loads(line)
                text = query[field]
                qid = query.get("qid", str(line_no))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                fail(f"line {line_no}: cannot read field {field!r}: {exc}")
                return
            try:
                ranked = service.rank_ids(text, top=top, resolver=resolver)
            except QueryError:
                ranked = []
            print_json({"qid": qid, "ranked": ranked})

"""``piu privacy``: retention sweep, export and erasure of one person.

Erasures bump the catalogue version: running workers drop the erased needs from
their index at their next search, and a later index load never sees them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import database, settings
from core.console import fail, print_json
from core.models import utcnow
from core.privacy import delete_person, export_person, retention_sweep

app = typer.Typer(
    help="Personal data: retention sweep, export and erasure (GDPR).", no_args_is_help=True
)


@app.command("sweep")
def sweep(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show who would be warned or erased, change nothing")
    ] = False,
    warn_days: Annotated[int, typer.Option(min=1, help="notice period before erasure")] = 30,
) -> None:
    """Warn users inactive for (retention_years - 1 month), erase those warned long enough ago."""
    s = settings()
    db = database(s)
    try:
        with db.session() as session:
            warned, deleted = retention_sweep(
                session, now=utcnow(), years=s.retention_years, warn_days=warn_days,
                dry_run=dry_run,
            )  # fmt: skip
            if dry_run:
                session.rollback()
    finally:
        db.dispose()
    print_json(
        {"dry_run": dry_run, "retention_years": s.retention_years,
         "warned": warned, "deleted": deleted}
    )  # fmt: skip


@app.command("export")
def export(person_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Print everything stored about PERSON_ID as JSON."""
    db = database()
    try:
        with db.session() as session:
            try:
                data = export_person(session, person_id)
            except LookupError:
                fail(f"no person {person_id}")
                return
    finally:
        db.dispose()
    print_json(data)


@app.command("delete")
def delete(
    person_id: Annotated[int, typer.Argument(min=1)],
    yes: Annotated[
        bool, typer.Option("--yes", help="confirm: the erasure cannot be undone")
    ] = False,
) -> None:
    """Erase PERSON_ID's personal data everywhere (needs --yes)."""
    if not yes:
        fail("refusing to erase without --yes")
    db = database()
    try:
        with db.session() as session:
            report = delete_person(session, person_id, now=utcnow())
    finally:
        db.dispose()
    if not report.found:
        fail(f"no person {person_id}")
    print_json(report.as_dict())

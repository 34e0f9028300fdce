"""A catalogue entry's full card ("Fiche"): what a buyer reads before asking to be put in
touch — what it does, who carries it, for whom, references, pricing, website, and the
collectivités that used it (the REX linked to it) with their outcome; and a REX's sheet
as the public web directory shows it. Public facts only: no contact detail is ever part
of a sheet."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.catalogue import public_experience, publishable_solution
from core.models import Experience, Solution

__all__ = ["RexSheet", "SheetRex", "SolutionSheet", "rex_sheet", "safe_url", "solution_sheet"]

#: REX listed on a sheet, at most (most recent first).
SHEET_REX = 5


@dataclass(frozen=True)
class SheetRex:
    """A collectivité that used the entry, and what happened."""

    territory_name: str | None
    territory_kind: str | None
    population: int | None
    title: str
    outcome: str
    period: str | None
    lessons: str
    id: int | None = None  # the REX's own sheet (the web directory links it)


@dataclass(frozen=True)
class SolutionSheet:
    id: int
    external_id: str
    title: str
    mission: str
    description: str
    organisation: str | None
    maturity: str | None
    phase: str | None
    trust_level: str
    themes: list[str]
    target_kinds: list[str]
    target_bands: list[str]
    references: list[str]
    pricing: str | None
    website: str | None  # http(s) only (see safe_url)
    rex: list[SheetRex] = field(default_factory=list)
    rex_total: int = 0


def safe_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) address without spaces or control characters."""
    value = (url or "").strip()
    lowered = value.lower()
    if not lowered.startswith(("http://", "https://")) or len(value) > 500:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ch in "<>\"'`" for ch in value):
        return None
    return value if "." in value.split("/")[2] else None


def solution_sheet(session: Session, solution_id: int) -> SolutionSheet | None:
    """The full card of a published entry; ``None`` if unknown or not public."""
    sol = session.scalar(
        select(Solution).where(Solution.id == solution_id, *publishable_solution())
    )
    if sol is None:
        return None
    rows = list(
        session.scalars(
            select(Experience)
            .where(Experience.solution_id == solution_id, *public_experience())
            .order_by(Experience.period_start.desc(), Experience.id.desc())
        )
    )
    rex = [
        SheetRex(
            territory_name=r.territory_name or r.organisation_name,
            territory_kind=r.territory_kind,
            population=r.population,
            title=r.title,
            outcome=str(r.outcome),
            period="–".join(p for p in (r.period_start, r.period_end) if p) or None,
            lessons=r.lessons or "",
            id=r.id,
        )
        for r in rows[:SHEET_REX]
    ]
    return SolutionSheet(
        id=sol.id,
        external_id=sol.external_id,
        title=sol.title,
        mission=sol.mission or "",
        description=sol.description or "",
        organisation=sol.organisation_name,
        maturity=sol.maturity,
        phase=sol.phase,
        trust_level=str(sol.trust_level),
        themes=list(sol.themes or []),
        target_kinds=list(sol.target_kinds or []),
        target_bands=list(sol.target_size_bands or []),
        references=list(sol.references or []),
        pricing=sol.pricing_model,
        website=safe_url(sol.website),
        rex=rex,
        rex_total=len(rows),
    )


@dataclass(frozen=True)
class RexSheet:
    """A REX as the public reads it: who (territory, size), the problem, what was tried,
    with which catalogue entry, when, the outcome and the lessons. Never the contact
    person, their role or whether they agreed to be contacted."""

    id: int
    title: str
    territory_name: str | None
    territory_kind: str | None
    population: int | None
    problem: str
    tried: str
    solution_id: int | None  # a published catalogue entry only
    solution_title: str | None
    period_start: str | None
    period_end: str | None
    outcome: str
    lessons: str
    themes: list[str]
    links: list[str]  # http(s) only (see safe_url)


def rex_sheet(session: Session, experience_id: int) -> RexSheet | None:
    """The sheet of a public REX; ``None`` if unknown, waiting for review or rejected."""
    rex = session.scalar(
        select(Experience).where(Experience.id == experience_id, *public_experience())
    )
    if rex is None:
        return None
    solution = None
    if rex.solution_id is not None:
        solution = session.scalar(
            select(Solution).where(Solution.id == rex.solution_id, *publishable_solution())
        )
    links = [url for url in (safe_url(x) for x in rex.links or []) if url]
    return RexSheet(
        id=rex.id,
        title=rex.title,
        territory_name=rex.territory_name or rex.organisation_name,
        territory_kind=rex.territory_kind,
        population=rex.population,
        problem=rex.problem or "",
        tried=rex.tried or "",
        solution_id=solution.id if solution is not None else None,
        solution_title=solution.title if solution is not None else None,
        period_start=rex.period_start,
        period_end=rex.period_end,
        outcome=str(rex.outcome or "unknown"),
        lessons=rex.lessons or "",
        themes=list(rex.themes or []),
        links=links,
    )

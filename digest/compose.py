"""What is new for one subscriber since their watermark, and how it reads.

``collect`` queries the database (and the matcher) for one subscriber and returns a
:class:`DigestContent`; ``render`` is pure: content -> one or more :class:`Part`
(text <= 4096 characters, with buttons whose callback data the chat engine
interprets: ``digest:sol:<id>``, ``digest:rex:<id>``,
``digest:need:<id>``, ``digest:intro:<id>``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.domain import IntroStatus, Moderation, NeedStatus, Role, SolutionStatus, fold, size_band
from core.messages import t
from core.models import (
    Experience,
    FinancingScheme,
    Introduction,
    Need,
    Organisation,
    Person,
    Solution,
    Subscription,
    Territory,
)
from matcher.anonymise import dep_name, masked_problem
from matcher.communities import new_members
from matcher.financing import Buyer, FinancingHint, Scheme, financing_why, suggest_financing
from matcher.themes import theme_label
from matcher.types import Reason

__all__ = [
    "MAX_CHARS",
    "DigestContent",
    "DigestMatcher",
    "GroupItem",
    "IntroItem",
    "NeedItem",
    "Part",
    "RexItem",
    "SolutionItem",
    "collect",
    "render",
    "split_text",
]

MAX_CHARS = 4096
MAX_ITEMS = 8  # per section; the rest is counted ("and N more")
MAX_BUTTONS = 8  # per message
SNIPPET = 160


# -- content ------------------------------------------------------------------------------
@dataclass
class SolutionItem:
    external_id: str
    title: str
    mission: str
    need_text: str  # the open need it answers
    score: float
    db_id: int = 0  # button ids carry the row id: external ids may exceed 64 bytes


@dataclass
class RexItem:
    external_id: str
    title: str
    territory_name: str | None
    outcome: str
    db_id: int = 0


@dataclass
class NeedItem:
    """An open need for a start-up, anonymised (``matcher.anonymise``)."""

    need_id: int
    text: str
    where: str | None  # the département, never the commune
    solution_title: str
    score: float


@dataclass
class FinancingItem:
    """A scheme added to the financing table that fits one of the buyer's open needs."""

    external_id: str
    name: str
    name_en: str | None
    funder: str
    url: str | None
    need_text: str
    reasons: list[dict[str, Any]] = field(default_factory=list)  # Reason as dicts (JSON)


@dataclass
class IntroItem:
    intro_id: int
    requester: str | None
    message: str | None


@dataclass
class GroupItem:
    """A new member of a thematic group the subscriber belongs to (anonymised)."""

    community_id: int
    theme: str
    size_band: str
    summary: str


@dataclass
class DigestContent:
    role: str
    since: dt.datetime
    until: dt.datetime
    solutions: list[SolutionItem] = field(default_factory=list)
    rex: list[RexItem] = field(default_factory=list)
    needs: list[NeedItem] = field(default_factory=list)
    intros: list[IntroItem] = field(default_factory=list)
    financing: list[FinancingItem] = field(default_factory=list)
    groups: list[GroupItem] = field(default_factory=list)
    older_intros: int = 0  # still waiting from before: a reminder, not news
    activity: dict[str, int] = field(default_factory=dict)  # facilitators

    @property
    def is_empty(self) -> bool:
        return not (
            self.solutions
            or self.rex
            or self.needs
            or self.intros
            or self.financing
            or self.groups
            or any(self.activity.values())
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Part:
    """One message: text and rows of (label, callback data) buttons."""

    text: str
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "buttons": [[list(b) for b in row] for row in self.buttons]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Part:
        return cls(data["text"], [[(b[0], b[1]) for b in row] for row in data.get("buttons", [])])


# -- matching -----------------------------------------------------------------------------
class DigestMatcher(Protocol):
    def solutions_for_need(self, need: Need, candidates: set[int]) -> list[tuple[int, float]]:
        """(solution id, score) among ``candidates`` that answer ``need``, best first."""
        ...

    def needs_for_solution(self, solution_id: int, candidates: set[int]) -> list[tuple[int, float]]:
        """(need id, score) among ``candidates`` (open needs) a solution answers, best first."""
        ...


# -- collection ---------------------------------------------------------------------------
def _themes_ok(item_themes: list[str] | None, wanted: set[str]) -> bool:
    if not wanted:
        return True
    have = {fold(x) for x in item_themes or []}
    return any(w in h or h in w for w in wanted for h in have)


def _published():  # type: ignore[no-untyped-def]
    return (
        Solution.status == SolutionStatus.PUBLISHED,
        Solution.moderation.not_in([Moderation.REJECTED, Moderation.MERGED]),
    )


def _snippet(text: str | None, limit: int = SNIPPET) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def collect(
    session: Session,
    matcher: DigestMatcher,
    sub: Subscription,
    person: Person,
    *,
    since: dt.datetime,
    until: dt.datetime,
    cache: dict[Any, Any] | None = None,
) -> DigestContent:
    """Everything new for ``person`` in (since, until], filtered by the subscription's themes.

    ``cache`` (one dict per run) shares the window queries between subscribers with
    the same watermark.
    """
    role = str(person.role or Role.BUYER)
    content = DigestContent(role=role, since=since, until=until)
    content._cache = cache if cache is not None else {}  # type: ignore[attr-defined]
    wanted = {fold(x) for x in sub.themes or [] if fold(x)}
    if role == Role.FACILITATOR:
        _collect_activity(session, content, wanted)
    elif role == Role.STARTUP:
        _collect_startup(session, matcher, person, content, wanted)
    else:
        _collect_buyer(session, matcher, person, content, wanted)
    return content


def _window(column: Any, content: DigestContent) -> tuple[Any, Any]:
    return column > content.since, column <= content.until


def _collect_buyer(
    session: Session,
    matcher: DigestMatcher,
    person: Person,
    content: DigestContent,
    wanted: set[str],
) -> None:
    needs = _cached(content, "open_needs", lambda: _open_needs_by_owner(session)).get(person.id, [])
    new_solutions = {
        s.id: s
        for s in _cached(
            content,
            "solutions",
            lambda: list(
                session.scalars(
                    select(Solution).where(*_window(Solution.created_at, content), *_published())
                )
            ),
        )
        if _themes_ok(s.themes, wanted) and s.submitted_by_id != person.id
    }
    best: dict[int, tuple[float, Need]] = {}
    if new_solutions:
        for need in needs:
            for sol_id, score in matcher.solutions_for_need(need, set(new_solutions)):
                if sol_id not in best or score > best[sol_id][0]:
                    best[sol_id] = (score, need)
    for sol_id, (score, need) in sorted(best.items(), key=lambda kv: -kv[1][0]):
        sol = new_solutions[sol_id]
        content.solutions.append(
            SolutionItem(
                sol.external_id,
                sol.title,
                _snippet(sol.mission),
                _snippet(need.raw_text, 80),
                score,
                sol.id,
            )
        )
    _collect_financing(session, needs, content)
    bands = {n.size_band for n in needs if n.size_band}
    if person.territory_code:
        pop = session.scalar(
            select(Territory.population).where(Territory.code == person.territory_code).limit(1)
        )
        if size_band(pop) is not None:
            bands.add(str(size_band(pop)))
    if bands:
        for rex in _cached(
            content,
            "rex",
            lambda: list(
                session.scalars(
                    select(Experience)
                    .where(*_window(Experience.created_at, content))
                    .order_by(Experience.created_at.desc(), Experience.id)
                )
            ),
        ):
            band = size_band(rex.population)
            if band is not None and str(band) in bands and _themes_ok(rex.themes, wanted):
                content.rex.append(
                    RexItem(
                        rex.external_id, rex.title, rex.territory_name, str(rex.outcome), rex.id
                    )
                )
    for group, member in new_members(session, person.id, content.since, content.until):
        content.groups.append(
            GroupItem(group.id, group.theme, group.size_band, _snippet(member.summary, 120))
        )


def _collect_financing(session: Session, needs: list[Need], content: DigestContent) -> None:
    """Schemes added to the financing table in the window that fit an open need (each
    scheme once, for the first need it fits; closed calls never)."""
    if not needs:
        return
    added = _cached(
        content,
        "financing",
        lambda: [
            Scheme.of(row)
            for row in session.scalars(
                select(FinancingScheme)
                .where(*_window(FinancingScheme.created_at, content))
                .order_by(FinancingScheme.id)
            )
        ],
    )
    if not added:
        return
    seen: set[str] = set()
    for need in needs:
        for hint in suggest_financing(Buyer.of(need), added, limit=len(added)):
            if hint.scheme.id in seen:
                continue
            seen.add(hint.scheme.id)
            scheme = hint.scheme
            content.financing.append(
                FinancingItem(
                    scheme.id,
                    scheme.name,
                    scheme.name_en,
                    scheme.funder,
                    scheme.url,
                    _snippet(need.raw_text, 80),
                    [asdict(r) for r in hint.reasons],
                )
            )


def _collect_startup(
    session: Session,
    matcher: DigestMatcher,
    person: Person,
    content: DigestContent,
    wanted: set[str],
) -> None:
    solutions = _cached(content, "by_submitter", lambda: _solutions_by_submitter(session)).get(
        person.id, []
    )
    needs: dict[int, Need] = {}
    if solutions:
        needs = {
            n.id: n
            for n in _cached(
                content,
                "needs",
                lambda: list(
                    session.scalars(
                        select(Need).where(
                            Need.status == NeedStatus.OPEN, *_window(Need.created_at, content)
                        )
                    )
                ),
            )
        }
    best: dict[int, tuple[float, Solution]] = {}
    for sol in solutions if needs else []:
        for need_id, score in matcher.needs_for_solution(sol.id, set(needs)):
            if need_id not in best or score > best[need_id][0]:
                best[need_id] = (score, sol)
    if best:
        for need_id, (score, sol) in sorted(best.items(), key=lambda kv: -kv[1][0]):
            need = needs.get(need_id)
            # a buyer who turned proposals off does not want start-ups to come to them:
            # the need is left out of start-ups' digests as it is of /besoinsouverts
            if (
                need is None
                or need.owner_id == person.id
                or not need.proposals_open
                or not _themes_ok(need.themes, wanted)
            ):
                continue
            # anonymised as in /besoinsouverts: who asked is told only if the buyer accepts;
            # read once per run, however many start-ups the need is shown to
            text, where = _cached(
                content,
                f"anonymised_need:{need.id}",
                lambda n=need: (masked_problem(session, n, 120), dep_name(session, n)),
            )
            content.needs.append(NeedItem(need.id, text, where, sol.title, score))
    waiting = [IntroStatus.REQUESTED]
    for intro, requester, org in session.execute(
        select(Introduction, Person.display_name, Organisation.name)
        .outerjoin(Person, Person.id == Introduction.requester_id)
        .outerjoin(Organisation, Organisation.id == Person.organisation_id)
        .where(
            Introduction.target_person_id == person.id,
            Introduction.status.in_(waiting),
            *_window(Introduction.created_at, content),
        )
        .order_by(Introduction.created_at)
    ):
        content.intros.append(IntroItem(intro.id, org or requester, _snippet(intro.message)))
    content.older_intros = int(
        session.scalar(
            select(func.count())
            .select_from(Introduction)
            .where(
                Introduction.target_person_id == person.id,
                Introduction.status.in_(waiting),
                Introduction.created_at <= content.since,
            )
        )
        or 0
    )


def _open_needs_by_owner(session: Session) -> dict[int, list[Need]]:
    """Open needs per owner, in one query (one run reads them all anyway)."""
    out: dict[int, list[Need]] = {}
    for need in session.scalars(
        select(Need).where(Need.status == NeedStatus.OPEN).order_by(Need.id)
    ):
        if need.owner_id is not None:
            out.setdefault(need.owner_id, []).append(need)
    return out


def _solutions_by_submitter(session: Session) -> dict[int, list[Solution]]:
    """Published solutions per submitter, in one query (submitted_by_id has no index)."""
    out: dict[int, list[Solution]] = {}
    for sol in session.scalars(
        select(Solution)
        .where(Solution.submitted_by_id.is_not(None), *_published())
        .order_by(Solution.id)
    ):
        out.setdefault(sol.submitted_by_id, []).append(sol)  # type: ignore[arg-type]
    return out


def _cached(content: DigestContent, name: str, load: Any) -> Any:
    cache = content._cache  # type: ignore[attr-defined]
    key = (name, content.since, content.until)
    if key not in cache:
        cache[key] = load()
    return cache[key]


def _collect_activity(session: Session, content: DigestContent, wanted: set[str]) -> None:
    key = ("activity", content.since, content.until, tuple(sorted(wanted)))
    if key in content._cache:  # type: ignore[attr-defined]
        content.activity = dict(content._cache[key])  # type: ignore[attr-defined]
        return

    def count(model: Any, *where: Any) -> int:
        if wanted:  # theme filter: count in Python over the (small) weekly window
            rows = session.scalars(select(model).where(*_window(model.created_at, content), *where))
            return sum(1 for r in rows if _themes_ok(getattr(r, "themes", None), wanted))
        stmt = select(func.count()).select_from(model)
        return int(session.scalar(stmt.where(*_window(model.created_at, content), *where)) or 0)

    content.activity = {
        "needs": count(Need, Need.status == NeedStatus.OPEN),
        "solutions": count(Solution, *_published()),
        "rex": count(Experience),
        "introductions": int(
            session.scalar(
                select(func.count())
                .select_from(Introduction)
                .where(*_window(Introduction.created_at, content))
            )
            or 0
        ),
    }
    content._cache[key] = dict(content.activity)  # type: ignore[attr-defined]


# -- rendering (pure) ---------------------------------------------------------------------
def _date(value: dt.datetime, lang: str) -> str:
    return value.strftime("%d/%m/%Y") if lang == "fr" else value.strftime("%Y-%m-%d")


def render(content: DigestContent, lang: str, *, max_chars: int = MAX_CHARS) -> list[Part]:
    """The digest as messages of at most ``max_chars`` characters (none when empty)."""
    if content.is_empty:
        return []
    lang = lang if lang in ("fr", "en") else "fr"
    blocks: list[tuple[str, list[tuple[str, str]]]] = []  # (text, buttons for that text)
    header = t("digest_header", lang, since=_date(content.since, lang))
    blocks.append((header, []))

    def section(
        title_key: str, lines: list[tuple[str, tuple[str, str] | None]], total: int
    ) -> None:
        blocks.append((t(title_key, lang), []))
        for text, button in lines[:MAX_ITEMS]:
            blocks.append((text, [button] if button else []))
        if total > MAX_ITEMS:
            blocks.append((t("digest_more", lang, n=total - MAX_ITEMS), []))

    if content.solutions:
        section(
            "digest_solutions_title",
            [
                (
                    t(
                        "digest_solution_line",
                        lang,
                        title=s.title,
                        mission=s.mission,
                        need=s.need_text,
                    ),
                    (_label(s.title), f"digest:sol:{s.db_id}"),
                )
                for s in content.solutions
            ],
            len(content.solutions),
        )
    if content.financing:
        section(
            "digest_financing_title",
            [(_financing_line(f, lang), None) for f in content.financing],
            len(content.financing),
        )
    if content.rex:
        section(
            "digest_rex_title",
            [
                (
                    t(
                        "digest_rex_line",
                        lang,
                        title=r.title,
                        where=r.territory_name or "?",
                        outcome=t(f"digest_outcome_{r.outcome}", lang),
                    ),
                    (_label(r.title), f"digest:rex:{r.db_id}"),
                )
                for r in content.rex
            ],
            len(content.rex),
        )
    if content.needs:
        section(
            "digest_needs_title",
            [
                (
                    t(
                        "digest_need_line",
                        lang,
                        text=n.text,
                        where=n.where or "?",
                        solution=n.solution_title,
                    ),
                    (_label(n.text), f"digest:need:{n.need_id}"),
                )
                for n in content.needs
            ],
            len(content.needs),
        )
    if content.intros:
        section(
            "digest_intros_title",
            [
                (
                    t("digest_intro_line", lang, who=i.requester or "?", message=i.message or ""),
                    (t("digest_intro_button", lang), f"digest:intro:{i.intro_id}"),
                )
                for i in content.intros
            ],
            len(content.intros),
        )
    if content.groups:
        section(
            "digest_groups_title",
            [
                (
                    t(
                        "digest_group_line",
                        lang,
                        group=t(
                            "group_name",
                            lang,
                            theme=theme_label(g.theme, lang),
                            band=t(f"size_{g.size_band}", lang),
                        ),
                        text=g.summary,
                    ),
                    (t("group_show_button", lang), f"grp:show:{g.community_id}"),
                )
                for g in content.groups
            ],
            len(content.groups),
        )
    if content.older_intros and content.intros:
        blocks.append((t("digest_older_intros", lang, n=content.older_intros), []))
    if content.activity and any(content.activity.values()):
        blocks.append((t("digest_activity", lang, **content.activity), []))
    blocks.append((t("digest_footer", lang), []))
    return _pack(blocks, max_chars)


def _financing_line(item: FinancingItem, lang: str) -> str:
    scheme = Scheme(
        id=item.external_id, name=item.name, funder=item.funder, kinds=(), themes=(), funds=(),
        stages=(), name_en=item.name_en, url=item.url,
    )  # fmt: skip
    hint = FinancingHint(
        scheme, 0.0, [Reason(r["code"], r.get("params") or {}) for r in item.reasons]
    )
    return t(
        "digest_financing_line",
        lang,
        name=(item.name_en if lang == "en" else None) or item.name,
        funder=item.funder,
        why=financing_why(hint, lang),
        need=item.need_text,
        link=item.url or t("fin_no_link", lang),
    )


def _label(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _pack(blocks: list[tuple[str, list[tuple[str, str]]]], max_chars: int) -> list[Part]:
    """Group blocks into parts under ``max_chars``; buttons follow their block's part."""
    parts: list[Part] = []
    text = ""
    buttons: list[list[tuple[str, str]]] = []
    for block, block_buttons in blocks:
        for piece in split_text(block, max_chars):
            candidate = f"{text}\n\n{piece}" if text else piece
            too_many = len(buttons) + len(block_buttons) > MAX_BUTTONS
            if text and (len(candidate) > max_chars or too_many):
                parts.append(Part(text, buttons))
                text, buttons = piece, []
            else:
                text = candidate
        buttons.extend([b] for b in block_buttons)
    if text:
        parts.append(Part(text, buttons))
    return parts


def split_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Split ``text`` into pieces of at most ``max_chars``, at line then word boundaries."""
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    rest = text
    while len(rest) > max_chars:
        cut = rest.rfind("\n", 0, max_chars + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, max_chars + 1)
        if cut <= 0:
            cut = max_chars
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces

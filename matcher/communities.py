"""Thematic communities: buyers with similar open needs, one group per theme and size band.

A buyer whose open need has a theme and a size band may join the group of that theme and
band (opt-in; leaving is one button). Members see each other's need summaries, anonymised:
the kind of collectivité, its size band, its département and the need's text, never a
name, an e-mail or a phone. A member may ask another to be put in touch: the request goes
through :mod:`matcher.introductions` (double opt-in, monthly cap), because joining means
agreeing to be *asked* by members, never to have one's contact shown.

``offer`` says what to show under a buyer's peers ("3 collectivités de votre taille
travaillent aussi sur ce sujet"): how many other buyers of the same band have an open
need on the theme or are members of its group.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.domain import NeedStatus
from core.models import Community, CommunityMember, Need, utcnow
from matcher.need import problem_statement
from matcher.text import without_place
from matcher.themes import find_theme

__all__ = [
    "CommunityOffer",
    "MemberView",
    "group_of",
    "join",
    "leave",
    "member_of_need",
    "members",
    "memberships",
    "new_members",
    "offer",
]


@dataclass(frozen=True)
class CommunityOffer:
    theme: str  # theme id
    size_band: str
    others: int  # other buyers of that band on that theme (open needs or members)
    community_id: int | None  # the group, if it exists
    joined: bool  # the asker is already a member


@dataclass(frozen=True)
class MemberView:
    """What a member sees of another: no name, no contact."""

    need_id: int | None
    kind: str | None
    size_band: str | None
    dep: str | None
    summary: str
    joined_at: dt.datetime
    own: bool


def group_of(need: Need) -> tuple[str, str] | None:
    """(theme id, size band) of a need: its first taxonomy theme and its band."""
    if not need.size_band:
        return None
    for value in need.themes or []:
        theme = find_theme(value)
        if theme is not None:
            return theme.id, need.size_band
    return None


def _community(session: Session, theme: str, band: str) -> Community | None:
    return session.scalar(
        select(Community).where(Community.theme == theme, Community.size_band == band)
    )


def offer(session: Session, need: Need, person_id: int) -> CommunityOffer | None:
    """What to offer under the peers of ``need``; ``None`` when it has no group (no theme
    or no size) or nobody else is there."""
    key = group_of(need)
    if key is None:
        return None
    theme, band = key
    group = _community(session, theme, band)
    owners: set[int] = set()
    for owner_id, themes in session.execute(
        select(Need.owner_id, Need.themes).where(
            Need.status == NeedStatus.OPEN,
            Need.size_band == band,
            Need.owner_id.is_not(None),
            Need.owner_id != person_id,
        )
    ):
        if owner_id is not None and any(
            (t := find_theme(x)) is not None and t.id == theme for x in themes or []
        ):
            owners.add(owner_id)
    joined = False
    if group is not None:
        member_ids = set(
            session.scalars(
                select(CommunityMember.person_id).where(CommunityMember.community_id == group.id)
            )
        )
        joined = person_id in member_ids
        owners |= member_ids - {person_id}
    if not owners and group is None:
        return None
    return CommunityOffer(theme, band, len(owners), group.id if group else None, joined)


def join(
    session: Session, person_id: int, need: Need, *, now: dt.datetime | None = None
) -> tuple[Community, bool]:
    """Join the group of ``need`` (created on first join). Returns (group, newly joined).
    Raises ``ValueError`` when the need is not the person's open need or has no group."""
    if need.owner_id != person_id or need.status != NeedStatus.OPEN:
        raise ValueError("only the owner of an open need joins its group")
    key = group_of(need)
    if key is None:
        raise ValueError("this need has no theme or no size band")
    now = now or utcnow()
    group = _community(session, *key)
    if group is None:
        group = Community(theme=key[0], size_band=key[1], created_at=now)
        session.add(group)
        session.flush()
    member = session.scalar(
        select(CommunityMember).where(
            CommunityMember.community_id == group.id, CommunityMember.person_id == person_id
        )
    )
    if member is not None:
        member.need_id = need.id  # the latest need is the one shown
        return group, False
    session.add(
        CommunityMember(community_id=group.id, person_id=person_id, need_id=need.id, joined_at=now)
    )
    session.flush()
    return group, True


def leave(session: Session, person_id: int, community_id: int) -> bool:
    """Leave a group; ``False`` if the person was not in it."""
    member = session.scalar(
        select(CommunityMember).where(
            CommunityMember.community_id == community_id, CommunityMember.person_id == person_id
        )
    )
    if member is None:
        return False
    session.delete(member)
    session.flush()
    return True


def memberships(session: Session, person_id: int) -> list[tuple[Community, int]]:
    """The groups a person is in, with their member counts."""
    groups = list(
        session.scalars(
            select(Community)
            .join(CommunityMember, CommunityMember.community_id == Community.id)
            .where(CommunityMember.person_id == person_id)
            .order_by(Community.id)
        )
    )
    counts = dict(
        session.execute(
            select(CommunityMember.community_id, func.count())
            .where(CommunityMember.community_id.in_([g.id for g in groups]))
            .group_by(CommunityMember.community_id)
        ).all()
    )
    return [(g, int(counts.get(g.id, 0))) for g in groups]


def members(session: Session, community_id: int, viewer_id: int) -> list[MemberView] | None:
    """The members of a group as a member sees them; ``None`` if the viewer is not one."""
    rows = list(
        session.execute(
            select(CommunityMember, Need)
            .outerjoin(Need, Need.id == CommunityMember.need_id)
            .where(CommunityMember.community_id == community_id)
            .order_by(CommunityMember.joined_at, CommunityMember.id)
        )
    )
    if not any(m.person_id == viewer_id for m, _ in rows):
        return None
    return [
        MemberView(
            need_id=need.id if need is not None and need.status == NeedStatus.OPEN else None,
            kind=need.territory_kind if need is not None else None,
            size_band=need.size_band if need is not None else None,
            dep=need.dep if need is not None else None,
            summary=_summary(need),
            joined_at=m.joined_at,
            own=m.person_id == viewer_id,
        )
        for m, need in rows
    ]


def _summary(need: Need | None) -> str:
    """The need's problem statement without its writer's self-introduction, size, budget,
    timing or place name: what is shared with the group."""
    if need is None:
        return ""
    text = without_place(problem_statement(need.raw_text), need.territory_name)
    return " ".join(text.split())


def member_of_need(session: Session, need_id: int) -> bool:
    """Whether the need's owner shared it in a group (members may then ask to meet them)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(CommunityMember)
            .join(Need, Need.id == CommunityMember.need_id)
            .where(CommunityMember.need_id == need_id, CommunityMember.person_id == Need.owner_id)
        )
        or 0
    ) > 0


def new_members(
    session: Session, person_id: int, since: dt.datetime, until: dt.datetime
) -> list[tuple[Community, MemberView]]:
    """Members who joined a group of ``person_id`` in (since, until], for the digest."""
    mine = [g for g, _ in memberships(session, person_id)]
    out: list[tuple[Community, MemberView]] = []
    for group in mine:
        for view in members(session, group.id, person_id) or []:
            joined = (
                view.joined_at.replace(tzinfo=dt.UTC)
                if view.joined_at.tzinfo is None
                else view.joined_at
            )
            if not view.own and since < joined <= until:
                out.append((group, view))
    return out

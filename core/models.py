"""Database models (SQLAlchemy 2, typed). The database is the source of truth.

Enumerated columns store the enum's string value (portable across SQLite and
PostgreSQL); list-valued columns are JSON arrays.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.domain import (
    Cadence,
    FinancingStatus,
    IntroKind,
    IntroStatus,
    Moderation,
    NeedStatus,
    OrgKind,
    Outcome,
    PilotOutcome,
    Role,
    SolutionStatus,
    StrEnum,
    TerritoryKind,
    TrustLevel,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Timezone-aware now, in UTC (all timestamps are stored in UTC)."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored timestamp as an aware UTC datetime (SQLite returns naive ones, in UTC)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def enum_column(enum_cls: type[StrEnum], **kw: Any) -> Any:
    """A VARCHAR column holding an enum's value (no native DB enum type)."""
    return mapped_column(
        Enum(
            enum_cls,
            native_enum=False,
            length=32,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
        ),
        **kw,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: DateTime(timezone=True)}  # noqa: RUF012


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Territory(Base):
    """A French territory (commune, EPCI, EPT, département, région), INSEE/DGCL 2026."""

    __tablename__ = "territory"
    __table_args__ = (UniqueConstraint("kind", "code", name="uq_territory_kind_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TerritoryKind] = enum_column(TerritoryKind)
    code: Mapped[str] = mapped_column(String(16), index=True)
    siren: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    name_folded: Mapped[str] = mapped_column(String(200), index=True)
    subtype: Mapped[str | None] = mapped_column(String(16))
    population: Mapped[int | None] = mapped_column(Integer)
    dep: Mapped[str | None] = mapped_column(String(8))
    dep_name: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(8))
    region_name: Mapped[str | None] = mapped_column(String(100))
    epci: Mapped[str | None] = mapped_column(String(16))
    epci_name: Mapped[str | None] = mapped_column(String(200))
    chef_lieu: Mapped[str | None] = mapped_column(String(16))


class Organisation(TimestampMixin, Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OrgKind] = enum_column(OrgKind)
    name: Mapped[str] = mapped_column(String(300))
    website: Mapped[str | None] = mapped_column(String(500))
    territory_code: Mapped[str | None] = mapped_column(String(16))
    territory_kind: Mapped[str | None] = mapped_column(String(16))


class Person(TimestampMixin, Base):
    """A user. Name, e-mail and phone are personal data: stored only with consent."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="SET NULL")
    )
    role: Mapped[Role | None] = enum_column(Role, nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    language_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    share_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    territory_code: Mapped[str | None] = mapped_column(String(16))
    territory_kind: Mapped[str | None] = mapped_column(String(16))
    last_active_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: "Stop asking": no follow-up question is ever sent again (matcher.followups).
    followups_off: Mapped[bool] = mapped_column(Boolean, default=False)
    retention_warned_at: Mapped[dt.datetime | None] = mapped_column()

    organisation: Mapped[Organisation | None] = relationship()
    identities: Mapped[list[ChatIdentity]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )


class ChatIdentity(Base):
    """How a person is reached on one transport (Telegram chat id, web session, terminal)."""

    __tablename__ = "chat_identity"
    __table_args__ = (
        UniqueConstraint("transport", "external_id", name="uq_chat_identity_transport"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    transport: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="identities")


class ConsentRecord(Base):
    __tablename__ = "consent_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column()


class Solution(TimestampMixin, Base):
    """An innovation offered to collectivités (catalogue entry)."""

    __tablename__ = "solution"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    mission: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    usertypes: Mapped[list[str]] = mapped_column(JSON, default=list)
    target_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    target_size_bands: Mapped[list[str]] = mapped_column(JSON, default=list)
    maturity: Mapped[str | None] = mapped_column(String(32))
    phase: Mapped[str | None] = mapped_column(String(64))
    pricing_model: Mapped[str | None] = mapped_column(String(300))
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    website: Mapped[str | None] = mapped_column(String(500))
    contact: Mapped[str | None] = mapped_column(String(320))
    organisation_name: Mapped[str | None] = mapped_column(String(300))
    trust_level: Mapped[TrustLevel] = enum_column(TrustLevel, default=TrustLevel.DECLARED)
    status: Mapped[SolutionStatus] = enum_column(SolutionStatus, default=SolutionStatus.PUBLISHED)
    moderation: Mapped[Moderation] = enum_column(Moderation, default=Moderation.NONE)
    moderation_reason: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("solution.id"))
    source: Mapped[str] = mapped_column(String(64), default="import")
    submitted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL")
    )
    content_hash: Mapped[str] = mapped_column(String(64), default="")

    #: the columns :meth:`text_of` reads (``indexable_documents`` selects only these)
    index_columns = ("title", "mission", "themes", "description")

    @staticmethod
    def text_of(title: str, mission: str, themes: list[str] | None, description: str) -> str:
        parts = [title, mission, " ".join(themes or []), description]
        return "\n".join(p for p in parts if p)

    def index_text(self) -> str:
        """The text embedded and indexed for retrieval."""
        return self.text_of(self.title, self.mission, self.themes, self.description)


class Need(TimestampMixin, Base):
    """A buyer's need, scoped in chat."""

    __tablename__ = "need"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    raw_text: Mapped[str] = mapped_column(Text)
    #: The problem statement searched (matcher.need), as confirmed on the scope card.
    problem: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    territory_code: Mapped[str | None] = mapped_column(String(16))
    territory_kind: Mapped[str | None] = mapped_column(String(16))
    territory_name: Mapped[str | None] = mapped_column(String(200))
    population: Mapped[int | None] = mapped_column(Integer)
    size_band: Mapped[str | None] = mapped_column(String(16))
    dep: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str | None] = mapped_column(String(8))
    competence_level: Mapped[str | None] = mapped_column(String(16))
    stage: Mapped[str | None] = mapped_column(String(16))
    budget_eur: Mapped[int | None] = mapped_column(Integer)
    budget_band: Mapped[str | None] = mapped_column(String(16))
    timing: Mapped[str | None] = mapped_column(String(64))
    constraints: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[NeedStatus] = enum_column(NeedStatus, default=NeedStatus.DRAFT)
    #: Why its owner closed it (/mesbesoins): ``met`` (by ``met_by_solution_id``, if
    #: given), ``abandoned`` or ``other``.
    close_reason: Mapped[str | None] = mapped_column(String(16))
    met_by_solution_id: Mapped[int | None] = mapped_column(
        ForeignKey("solution.id", ondelete="SET NULL")
    )
    #: Start-ups may propose their solution to it (anonymised listing, matcher.proposals);
    #: chosen when confirming the need, changed in /mesbesoins. Old rows are open.
    proposals_open: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    index_columns = ("problem", "raw_text", "themes")

    @staticmethod
    def text_of(problem: str | None, raw_text: str, themes: list[str] | None) -> str:
        return "\n".join([problem or raw_text, " ".join(themes or [])])

    def index_text(self) -> str:
        return self.text_of(self.problem, self.raw_text, self.themes)


class Experience(TimestampMixin, Base):
    """A REX (retour d'expérience): what a collectivité tried and what happened."""

    __tablename__ = "experience"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    territory_code: Mapped[str | None] = mapped_column(String(16))
    territory_kind: Mapped[str | None] = mapped_column(String(16))
    territory_name: Mapped[str | None] = mapped_column(String(200))
    population: Mapped[int | None] = mapped_column(Integer)
    dep: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str | None] = mapped_column(String(8))
    organisation_name: Mapped[str | None] = mapped_column(String(300))
    problem: Mapped[str] = mapped_column(Text, default="")
    tried: Mapped[str] = mapped_column(Text, default="")
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    solution_id: Mapped[int | None] = mapped_column(ForeignKey("solution.id", ondelete="SET NULL"))
    need_id: Mapped[int | None] = mapped_column(ForeignKey("need.id", ondelete="SET NULL"))
    period_start: Mapped[str | None] = mapped_column(String(16))
    period_end: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[Outcome] = enum_column(Outcome, default=Outcome.UNKNOWN)
    lessons: Mapped[str] = mapped_column(Text, default="")
    contact_role: Mapped[str | None] = mapped_column(String(300))
    contact_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL")
    )
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(64), default="import")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    #: A REX told in chat (/rex) waits as ``pending`` until a facilitator approves it.
    moderation: Mapped[Moderation] = enum_column(Moderation, default=Moderation.NONE)
    duration_months: Mapped[int | None] = mapped_column(Integer)
    cost_band: Mapped[str | None] = mapped_column(String(16))
    recommend: Mapped[str | None] = mapped_column(String(16))  # yes / no / depends

    index_columns = ("title", "problem", "tried", "themes", "lessons")

    @staticmethod
    def text_of(
        title: str,
        problem: str | None,
        tried: str | None,
        themes: list[str] | None,
        lessons: str | None,
    ) -> str:
        parts = [title, problem, tried, " ".join(themes or []), lessons]
        return "\n".join(p for p in parts if p)

    def index_text(self) -> str:
        return self.text_of(self.title, self.problem, self.tried, self.themes, self.lessons)


class Introduction(TimestampMixin, Base):
    """A request to be put in touch (double opt-in): with a peer or a solution carrier."""

    __tablename__ = "introduction"
    __table_args__ = (
        # one proposal per (solution, need); a request has one of the two only (NULLs
        # never collide), so this binds proposals alone
        UniqueConstraint("kind", "solution_id", "need_id", name="uq_introduction_proposal"),
        Index("ix_introduction_need_kind", "need_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    need_id: Mapped[int | None] = mapped_column(ForeignKey("need.id", ondelete="SET NULL"))
    solution_id: Mapped[int | None] = mapped_column(ForeignKey("solution.id", ondelete="SET NULL"))
    experience_id: Mapped[int | None] = mapped_column(
        ForeignKey("experience.id", ondelete="SET NULL")
    )
    target_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    target_label: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[IntroStatus] = enum_column(IntroStatus, default=IntroStatus.REQUESTED)
    message: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[dt.datetime | None] = mapped_column()
    #: The requester's own need this request serves (``need_id`` is a need as *target*).
    requester_need_id: Mapped[int | None] = mapped_column(
        ForeignKey("need.id", ondelete="SET NULL"), index=True
    )
    pilot_started_at: Mapped[dt.datetime | None] = mapped_column()
    pilot_end_at: Mapped[dt.datetime | None] = mapped_column()  # planned, then actual
    pilot_outcome: Mapped[PilotOutcome | None] = enum_column(PilotOutcome, nullable=True)
    #: The buyer agreed that the start-up hears how it went.
    share_outcome: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``request`` (someone asked to meet the target) or ``proposal`` (a start-up proposed
    #: ``solution_id`` to the target's need ``need_id``; the pitch is ``message``).
    kind: Mapped[IntroKind] = enum_column(
        IntroKind, default=IntroKind.REQUEST, server_default=IntroKind.REQUEST.value
    )
    #: A proposal's fit (the need's dense similarity to the solution): best fit first.
    fit: Mapped[float | None] = mapped_column(Float)


class FollowUp(Base):
    """One follow-up question due to a buyer (matcher.followups): sent exactly once.

    ``kind``: ``after_accept`` (N days after an accepted introduction) or ``pilot_end``
    (at the pilot's planned end). Sending claims the row (``sent_at``) and queues the
    question in the outbox in one transaction.
    """

    __tablename__ = "follow_up"
    __table_args__ = (
        UniqueConstraint("introduction_id", "kind", "round", name="uq_follow_up_round"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    introduction_id: Mapped[int] = mapped_column(
        ForeignKey("introduction.id", ondelete="CASCADE"), index=True
    )
    need_id: Mapped[int | None] = mapped_column(ForeignKey("need.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer, default=0)  # asked again after "in discussion"
    due_at: Mapped[dt.datetime] = mapped_column(index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    answer: Mapped[str | None] = mapped_column(String(32))


class IntroductionEvent(Base):
    """Every step of an introduction, for the audit and the facilitators' funnel."""

    __tablename__ = "introduction_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    introduction_id: Mapped[int] = mapped_column(
        ForeignKey("introduction.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[IntroStatus] = enum_column(IntroStatus)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class Community(Base):
    """A thematic group of buyers: one per theme and size band, joined by opt-in."""

    __tablename__ = "community"
    __table_args__ = (UniqueConstraint("theme", "size_band", name="uq_community_theme_band"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    theme: Mapped[str] = mapped_column(String(64))  # matcher.themes id
    size_band: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CommunityMember(Base):
    """A buyer in a community, with the open need that brought them (its summary is what
    other members see; never a contact). Personal data: exported and deleted with the person."""

    __tablename__ = "community_member"
    __table_args__ = (
        UniqueConstraint("community_id", "person_id", name="uq_community_member_person"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("community.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    need_id: Mapped[int | None] = mapped_column(ForeignKey("need.id", ondelete="SET NULL"))
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    __tablename__ = "subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True)
    cadence: Mapped[Cadence] = enum_column(Cadence, default=Cadence.WEEKLY)
    weekday: Mapped[int] = mapped_column(Integer, default=0)  # Monday
    hour: Mapped[int] = mapped_column(Integer, default=9)
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    last_sent_at: Mapped[dt.datetime | None] = mapped_column()
    watermark: Mapped[dt.datetime | None] = mapped_column()
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The digest's e-mail address (personal data, given in chat): used once confirmed
    #: through the link sent to it (double opt-in); ``email_confirmed_at`` None: not yet.
    email: Mapped[str | None] = mapped_column(String(320))
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column()
    #: Instant alerts (off by default): a new entry that fits an open need very well is
    #: sent at once, at most once a day; otherwise it waits for the weekly digest.
    alerts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SolutionFollow(Base):
    """A person follows a catalogue entry ("Suivre" on its card): listed with /suivis."""

    __tablename__ = "solution_follow"
    __table_args__ = (UniqueConstraint("person_id", "solution_id", name="uq_solution_follow"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    solution_id: Mapped[int] = mapped_column(ForeignKey("solution.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DigestDelivery(Base):
    """One composed digest for one subscriber and period: sent exactly once."""

    __tablename__ = "digest_delivery"
    __table_args__ = (UniqueConstraint("subscription_id", "period", name="uq_digest_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(32))
    #: ``telegram``, ``email`` or ``inbox`` (the web chat's inbox only: written with the row)
    channel: Mapped[str] = mapped_column(String(16), default="telegram", server_default="telegram")
    payload: Mapped[list[Any]] = mapped_column(JSON, default=list)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column()


class ConversationState(Base):
    """Where a chat user is in a flow; written after every step."""

    __tablename__ = "conversation_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True)
    flow: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Outbox(Base):
    """Messages to deliver to a person on their transport (introductions, moderation)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column()


class MatchEvent(Base):
    """A solution shown to a buyer for a need (analytics: matches shown)."""

    __tablename__ = "match_event"
    __table_args__ = (Index("ix_match_event_need", "need_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int | None] = mapped_column(ForeignKey("need.id", ondelete="SET NULL"))
    solution_id: Mapped[int | None] = mapped_column(ForeignKey("solution.id", ondelete="SET NULL"))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    shown_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A facilitator's admin key; only its SHA-256 hash is stored."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class AdminSession(Base):
    """A facilitator's browser login (analytics page): the cookie holds a random token,
    only its SHA-256 is stored, with the hash of the key that opened it, so revoking the
    key or logging out ends the session on every worker."""

    __tablename__ = "admin_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Meta(Base):
    """Key/value facts about the database (catalogue version, import fingerprints)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class FinancingScheme(TimestampMixin, Base):
    """A public financing scheme collectivités use (grant, loan, engineering support),
    shipped as data (``data/financing.csv``) and edited by facilitators; every row cites
    the pages its facts were read on and the date they were checked."""

    __tablename__ = "financing_scheme"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str | None] = mapped_column(String(300))
    funder: Mapped[str] = mapped_column(String(300))
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # TerritoryKind values
    min_population: Mapped[int | None] = mapped_column(Integer)
    max_population: Mapped[int | None] = mapped_column(Integer)
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)  # theme ids; [] = all
    funds: Mapped[list[str]] = mapped_column(JSON, default=list)  # study, experimentation...
    stages: Mapped[list[str]] = mapped_column(JSON, default=list)  # Stage values
    rate: Mapped[str | None] = mapped_column(Text)
    cap: Mapped[str | None] = mapped_column(Text)
    summary_fr: Mapped[str] = mapped_column(Text, default="")
    summary_en: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(500))
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    checked: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[FinancingStatus] = enum_column(FinancingStatus, default=FinancingStatus.OPEN)
    notes: Mapped[str] = mapped_column(Text, default="")


class EntryVector(Base):
    """The embedding of one searchable text, computed once by the process that wrote the
    text and loaded by every other one (the FAISS files are derived from these rows).

    ``vector`` holds ``dim`` little-endian float16 values; a row is valid for a text
    only while ``model_id`` and ``text_hash`` (``index.store.text_hash``) match.
    """

    __tablename__ = "entry_vector"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    doc_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    model_id: Mapped[str] = mapped_column(String(255))
    text_hash: Mapped[str] = mapped_column(String(16))
    vector: Mapped[bytes] = mapped_column(LargeBinary)

"""Request and response models of the HTTP API.

Every text field has a maximum length (longer input -> 422); every list endpoint
answers a :class:`Page` (``items``, ``total``, ``limit``, ``offset``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from core.domain import (
    IntroStatus,
    Maturity,
    Moderation,
    NeedStatus,
    Outcome,
    SizeBand,
    SolutionStatus,
    TerritoryKind,
    TrustLevel,
    clean_text,
)

T = TypeVar("T")

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_OFFSET = 1_000_000


def _clean(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


def Str(max_length: int, *, min_length: int = 0) -> Any:
    """A cleaned string (control characters removed, trimmed) of bounded length."""
    return Annotated[
        str,
        BeforeValidator(_clean),
        StringConstraints(min_length=min_length, max_length=max_length),
    ]


def StrList(item_length: int, *, max_items: int = 50) -> Any:
    return Annotated[list[Str(item_length)], Field(max_length=max_items)]  # type: ignore[valid-type, misc]


ExternalId = Annotated[
    str,
    BeforeValidator(_clean),
    StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\s][^/]*$"),
]
Period = Annotated[str, StringConstraints(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")]
Reason = Str(1000, min_length=1)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def _no_email(value: str) -> str:
    if _EMAIL.search(value):
        raise ValueError("must be a role, not an e-mail address")
    return value


ContactRole = Annotated[
    str,
    BeforeValidator(_clean),
    StringConstraints(max_length=300),
    AfterValidator(_no_email),
]


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes: every stored timestamp is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Message(BaseModel):
    detail: str


# --------------------------------------------------------------------------- solutions


class SolutionFields(_In):
    """What a facilitator may set on a catalogue entry (trust goes through /qualify)."""

    title: Str(300, min_length=1)  # type: ignore[valid-type]
    mission: Str(2000) = ""  # type: ignore[valid-type]
    description: Str(20000) = ""  # type: ignore[valid-type]
    themes: StrList(100) = []  # type: ignore[valid-type]
    usertypes: StrList(200) = []  # type: ignore[valid-type]
    target_kinds: Annotated[list[TerritoryKind], Field(max_length=10)] = []
    target_size_bands: Annotated[list[SizeBand], Field(max_length=10)] = []
    maturity: Maturity | None = None
    phase: Str(64) | None = None  # type: ignore[valid-type]
    pricing_model: Str(300) | None = None  # type: ignore[valid-type]
    references: StrList(500) = []  # type: ignore[valid-type]
    website: Str(500) | None = None  # type: ignore[valid-type]
    contact: Str(320) | None = None  # type: ignore[valid-type]
    organisation_name: Str(300) | None = None  # type: ignore[valid-type]
    status: SolutionStatus = SolutionStatus.PUBLISHED


class SolutionCreate(SolutionFields):
    external_id: ExternalId


class SolutionPatch(_In):
    """Partial update: only the fields given change."""

    title: Str(300, min_length=1) | None = None  # type: ignore[valid-type]
    mission: Str(2000) | None = None  # type: ignore[valid-type]
    description: Str(20000) | None = None  # type: ignore[valid-type]
    themes: StrList(100) | None = None  # type: ignore[valid-type]
    usertypes: StrList(200) | None = None  # type: ignore[valid-type]
    target_kinds: Annotated[list[TerritoryKind], Field(max_length=10)] | None = None
    target_size_bands: Annotated[list[SizeBand], Field(max_length=10)] | None = None
    maturity: Maturity | None = None
    phase: Str(64) | None = None  # type: ignore[valid-type]
    pricing_model: Str(300) | None = None  # type: ignore[valid-type]
    references: StrList(500) | None = None  # type: ignore[valid-type]
    website: Str(500) | None = None  # type: ignore[valid-type]
    contact: Str(320) | None = None  # type: ignore[valid-type]
    organisation_name: Str(300) | None = None  # type: ignore[valid-type]
    status: SolutionStatus | None = None


class SolutionOut(BaseModel):
    """A public catalogue entry (``contact`` is the entry's public contact)."""

    external_id: str
    title: str
    mission: str
    description: str
    themes: list[str]
    usertypes: list[str]
    target_kinds: list[str]
    target_size_bands: list[str]
    maturity: str | None
    phase: str | None
    pricing_model: str | None
    references: list[str]
    website: str | None
    contact: str | None
    organisation_name: str | None
    trust_level: TrustLevel
    status: SolutionStatus
    created_at: UtcDatetime
    updated_at: UtcDatetime


class SolutionAdminOut(SolutionOut):
    id: int
    moderation: Moderation
    moderation_reason: str | None
    merged_into: str | None
    source: str
    submitted_by_id: int | None


class MatchReason(BaseModel):
    code: str
    params: dict[str, Any]


class SolutionHit(SolutionOut):
    score: float
    reasons: list[MatchReason]


class SolutionSearchPage(Page[SolutionHit]):
    notices: list[str] = []


class QualifyIn(_In):
    level: TrustLevel
    reason: Reason  # type: ignore[valid-type]


class RejectIn(_In):
    reason: Reason  # type: ignore[valid-type]


class MergeIn(_In):
    into: ExternalId


class AuditOut(BaseModel):
    id: int
    actor: str
    action: str
    entity_type: str
    entity_id: int | None
    detail: dict[str, Any]
    at: UtcDatetime


# --------------------------------------------------------------------------- REX


class ExperienceFields(_In):
    title: Str(300, min_length=1)  # type: ignore[valid-type]
    territory_code: Str(16) | None = None  # type: ignore[valid-type]
    territory_kind: TerritoryKind | None = None
    territory_name: Str(200) | None = None  # type: ignore[valid-type]
    population: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    dep: Str(8) | None = None  # type: ignore[valid-type]
    region: Str(8) | None = None  # type: ignore[valid-type]
    organisation_name: Str(300) | None = None  # type: ignore[valid-type]
    problem: Str(20000) = ""  # type: ignore[valid-type]
    tried: Str(20000) = ""  # type: ignore[valid-type]
    themes: StrList(100) = []  # type: ignore[valid-type]
    solution_external_id: ExternalId | None = None
    period_start: Period | None = None
    period_end: Period | None = None
    outcome: Outcome = Outcome.UNKNOWN
    lessons: Str(20000) = ""  # type: ignore[valid-type]
    contact_role: ContactRole | None = None
    contact_consent: bool = False
    links: StrList(500) = []  # type: ignore[valid-type]


class ExperienceCreate(ExperienceFields):
    external_id: ExternalId


class ExperiencePatch(_In):
    title: Str(300, min_length=1) | None = None  # type: ignore[valid-type]
    territory_code: Str(16) | None = None  # type: ignore[valid-type]
    territory_kind: TerritoryKind | None = None
    territory_name: Str(200) | None = None  # type: ignore[valid-type]
    population: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    dep: Str(8) | None = None  # type: ignore[valid-type]
    region: Str(8) | None = None  # type: ignore[valid-type]
    organisation_name: Str(300) | None = None  # type: ignore[valid-type]
    problem: Str(20000) | None = None  # type: ignore[valid-type]
    tried: Str(20000) | None = None  # type: ignore[valid-type]
    themes: StrList(100) | None = None  # type: ignore[valid-type]
    solution_external_id: ExternalId | None = None
    period_start: Period | None = None
    period_end: Period | None = None
    outcome: Outcome | None = None
    lessons: Str(20000) | None = None  # type: ignore[valid-type]
    contact_role: ContactRole | None = None
    contact_consent: bool | None = None
    links: StrList(500) | None = None  # type: ignore[valid-type]


class ExperienceOut(BaseModel):
    """A public REX: a role to contact at most, never a person."""

    external_id: str
    title: str
    territory_code: str | None
    territory_kind: str | None
    territory_name: str | None
    population: int | None
    dep: str | None
    region: str | None
    organisation_name: str | None
    problem: str
    tried: str
    themes: list[str]
    solution_external_id: str | None
    period_start: str | None
    period_end: str | None
    outcome: Outcome
    lessons: str
    contact_role: str | None
    links: list[str]
    source: str
    moderation: Moderation = Moderation.NONE  # pending: told in chat, not yet approved
    duration_months: int | None = None
    cost_band: str | None = None
    recommend: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


# --------------------------------------------------------------------------- needs, intros


class NeedOut(BaseModel):
    id: int
    status: NeedStatus
    raw_text: str
    language: str
    themes: list[str]
    territory_code: str | None
    territory_kind: str | None
    territory_name: str | None
    population: int | None
    size_band: str | None
    dep: str | None
    region: str | None
    stage: str | None
    budget_band: str | None
    timing: str | None
    created_at: UtcDatetime


class IntroductionOut(BaseModel):
    id: int
    status: IntroStatus
    need_id: int | None
    solution_external_id: str | None
    experience_external_id: str | None
    target_label: str | None
    message: str | None
    created_at: UtcDatetime
    responded_at: UtcDatetime | None


class IntroductionPatch(_In):
    """A facilitator relays the answer to a queued introduction."""

    status: IntroStatus
    note: Str(1000) | None = None  # type: ignore[valid-type]  # internal: the audit trail
    #: Sent to the requester in chat with the outcome (e.g. how to reach the peer).
    message: Str(1000) | None = None  # type: ignore[valid-type]


class ImportResult(BaseModel):
    kind: str
    created: int
    updated: int
    unchanged: int
    rejected: int
    seconds: float


# --------------------------------------------------------------------------- health, analytics


class Health(BaseModel):
    status: str
    db: bool
    indexes_loaded: bool
    indexes: dict[str, int | None]
    model: str
    catalogue_version: int | None


class FunnelStage(BaseModel):
    stage: str
    count: int
    rate_from_previous: float | None
    rate_from_start: float | None


class Funnel(BaseModel):
    since: dt.date | None
    stages: list[FunnelStage]


# --------------------------------------------------------------------------- financing


class FinancingOut(BaseModel):
    """A row of the financing table, with the pages its facts were read on (``sources``)
    and the date they were checked."""

    external_id: str
    name: str
    name_en: str | None
    funder: str
    kinds: list[str]
    min_population: int | None
    max_population: int | None
    themes: list[str] = Field(description="theme ids; empty: every theme")
    funds: list[str]
    stages: list[str]
    rate: str | None
    cap: str | None
    summary_fr: str
    summary_en: str
    url: str | None
    sources: list[str]
    checked: dt.date
    status: str = Field(description="open, closed (never suggested) or closed_list")
    notes: str
    created_at: UtcDatetime
    updated_at: UtcDatetime

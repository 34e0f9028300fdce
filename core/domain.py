"""Domain vocabulary shared by every layer: enumerations and small pure helpers."""

from __future__ import annotations

import enum
import re
import unicodedata


class StrEnum(enum.StrEnum):
    """A string enumeration whose value is what is stored and shown in APIs."""


class OrgKind(StrEnum):
    COLLECTIVITE = "collectivite"
    STARTUP = "startup"
    COMPANY = "company"
    LAB = "lab"
    FACILITATOR = "facilitator"


class Role(StrEnum):
    BUYER = "buyer"
    STARTUP = "startup"
    FACILITATOR = "facilitator"


class TrustLevel(StrEnum):
    DECLARED = "declared"
    QUALIFIED = "qualified"
    PILOT_CONFIRMED = "pilot_confirmed"


TRUST_ORDER = [TrustLevel.DECLARED, TrustLevel.QUALIFIED, TrustLevel.PILOT_CONFIRMED]


class SolutionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Moderation(StrEnum):
    NONE = "none"  # loaded by a facilitator or an import: nothing to moderate
    PENDING = "pending"  # registered in chat, waiting for a facilitator
    APPROVED = "approved"
    REJECTED = "rejected"
    MERGED = "merged"


class Maturity(StrEnum):
    IDEA = "idea"
    PROTOTYPE = "prototype"
    PILOT = "pilot"
    DEPLOYED = "deployed"
    STOPPED = "stopped"


class Stage(StrEnum):
    EXPLORE = "explore"
    EXPERIMENT = "experiment"
    BUY = "buy"


class NeedStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Outcome(StrEnum):
    ONGOING = "ongoing"
    SUCCESS = "success"
    STOPPED = "stopped"
    FAILED = "failed"
    UNKNOWN = "unknown"
    PARTIAL = "partial"  # a pilot that met part of its goals


class IntroStatus(StrEnum):
    REQUESTED = "requested"
    QUEUED = "queued"  # the peer is not a chat user: a facilitator relays it
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    # after an accepted introduction (matcher.followups): what the buyer reports
    PILOT_STARTED = "pilot_started"
    PILOT_ENDED = "pilot_ended"
    CONTRACT_SIGNED = "contract_signed"
    NO_CONTRACT = "no_contract"  # closed without a contract (no follow-up, or after a pilot)


#: The statuses an introduction moves through, in order; the funnel counts a need at
#: every stage up to the furthest one an introduction of it reached.
INTRO_PROGRESS = (
    IntroStatus.REQUESTED,
    IntroStatus.ACCEPTED,
    IntroStatus.PILOT_STARTED,
    IntroStatus.PILOT_ENDED,
    IntroStatus.CONTRACT_SIGNED,
)


class IntroKind(StrEnum):
    """Who started an introduction: someone asking to meet (a buyer, mostly), or a
    start-up proposing its solution to an open need (matcher.proposals)."""

    REQUEST = "request"
    PROPOSAL = "proposal"


class PilotOutcome(StrEnum):
    SUCCESS = "success"
    PARTIAL = "partial"
    STOPPED = "stopped"


class TerritoryKind(StrEnum):
    COMMUNE = "commune"
    EPCI = "epci"
    EPT = "ept"
    DEPARTEMENT = "departement"
    REGION = "region"


class FinancingStatus(StrEnum):
    """Whether a financing scheme can be suggested: a closed call never is; a closed list
    (a programme for towns chosen once) only with that caveat."""

    OPEN = "open"
    CLOSED = "closed"
    CLOSED_LIST = "closed_list"


class Cadence(StrEnum):
    WEEKLY = "weekly"
    OFF = "off"


class SizeBand(StrEnum):
    """Population strata used to compare collectivités of similar size."""

    XS = "lt2k"
    S = "2k-10k"
    M = "10k-50k"
    L = "50k-200k"
    XL = "gt200k"


SIZE_BAND_ORDER = [SizeBand.XS, SizeBand.S, SizeBand.M, SizeBand.L, SizeBand.XL]
_BAND_LIMITS = [2_000, 10_000, 50_000, 200_000]


def size_band(population: int | None) -> SizeBand | None:
    """The stratum of a population (``None`` when unknown)."""
    if population is None or population < 0:
        return None
    for limit, band in zip(_BAND_LIMITS, SIZE_BAND_ORDER, strict=False):
        if population < limit:
            return band
    return SizeBand.XL


def size_band_value(population: int | None) -> str | None:
    """:func:`size_band` as the plain string stored in scopes and rows."""
    band = size_band(population)
    return band.value if band is not None else None


def band_distance(a: SizeBand | str | None, b: SizeBand | str | None) -> int | None:
    """How many strata separate two bands (``None`` if either is unknown)."""
    if a is None or b is None:
        return None
    return abs(SIZE_BAND_ORDER.index(SizeBand(a)) - SIZE_BAND_ORDER.index(SizeBand(b)))


def fold(text: str) -> str:
    """Lower-case, strip accents and collapse punctuation to single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = stripped.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")
    return re.sub(r"[^0-9a-z]+", " ", stripped).strip()


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis past ``limit``."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")


def clean_text(text: str) -> str:
    """Remove control and zero-width characters, normalise to NFC and trim."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()

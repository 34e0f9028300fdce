"""Value types that flow message -> scope -> matcher -> ranked matches -> reply."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Scope:
    """What a buyer needs, as far as the conversation established it."""

    text: str
    language: str = "fr"
    themes: list[str] = field(default_factory=list)
    territory_code: str | None = None
    territory_kind: str | None = None  # commune | epci | ept | departement | region
    territory_name: str | None = None
    population: int | None = None
    size_band: str | None = None  # core.domain.SizeBand value
    dep: str | None = None
    region: str | None = None
    stage: str | None = None  # core.domain.Stage value
    budget_eur: int | None = None
    budget_band: str | None = None
    timing: str | None = None
    constraints: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scope:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Reason:
    """One real signal behind a match, rendered in the user's language by the bot."""

    code: str  # e.g. "words", "themes", "size_fit", "trust", "rex_count", "maturity"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class SolutionMatch:
    solution_id: int
    external_id: str
    title: str
    score: float
    trust_level: str
    reasons: list[Reason] = field(default_factory=list)
    mission: str = ""
    website: str | None = None
    maturity: str | None = None
    pitch: str = ""  # one sentence on what it does (catalogue text, French)
    organisation: str | None = None  # who carries it (organisation or incubator)
    phase: str | None = None  # the catalogue's phase (why a stopped service stopped)


@dataclass
class PeerMatch:
    experience_id: int | None
    territory_name: str | None
    territory_kind: str | None
    population: int | None
    score: float
    title: str
    outcome: str
    period: str | None
    reasons: list[Reason] = field(default_factory=list)
    need_id: int | None = None  # "same need, let's talk" peers have a need, no REX
    contact_available: bool = False


@dataclass
class NeedMatch:
    need_id: int
    score: float
    text: str
    territory_name: str | None
    size_band: str | None
    reasons: list[Reason] = field(default_factory=list)

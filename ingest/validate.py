"""Pure validation: raw rows (any supported source format) -> clean, typed rows.

Each kind has a pydantic model holding the *native* field names of the database; the
``normalise_*`` functions first map the known foreign formats (beta.gouv.fr catalogue,
ANCT investigations and engagement CSVs) onto those names, remembering the original
field name so that problems are reported with the name the user wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from core.domain import (
    FinancingStatus,
    Maturity,
    Outcome,
    SizeBand,
    SolutionStatus,
    Stage,
    TerritoryKind,
    TrustLevel,
    clean_text,
    fold,
)
from ingest import KINDS, IngestError
from ingest.readers import Record
from matcher.themes import find_theme

# --------------------------------------------------------------------------- helpers


def _clean(value: Any) -> Any:
    """Strings are cleaned (control characters, NFC, trim); empty strings become None."""
    if isinstance(value, str):
        if value.isascii() and value.isprintable():  # fast path: nothing to normalise
            return value.strip() or None
        return clean_text(value) or None
    return value


def _as_list(value: Any) -> Any:
    """Lists stay lists; CSV cells ``a|b`` / ``a;b`` / JSON arrays become lists."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                value = parsed
            else:
                return value  # let the model reject it
        else:
            sep = "|" if "|" in text else (";" if ";" in text else ",")
            value = text.split(sep)
    if isinstance(value, list | tuple):
        out: list[Any] = []
        for item in value:
            item = clean_text(item) if isinstance(item, str) else item
            if item in (None, ""):
                continue
            if item not in out:
                out.append(item)
        return out
    return value


def _as_bool(value: Any) -> Any:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes", "oui", "y", "o", "vrai"):
            return True
        if low in ("false", "0", "no", "non", "n", "faux", ""):
            return False
    return value


def _as_int(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().replace(" ", "").replace("\u202f", "").replace("\xa0", "")
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"-?\d+\.0+", text):
            return int(float(text))
    return value


def _lower(value: Any) -> Any:
    value = _clean(value)
    return value.lower() if isinstance(value, str) else value


Str = Annotated[str, BeforeValidator(_clean)]
Text = Annotated[str, BeforeValidator(lambda v: "" if v is None else _clean(v) or "")]


def _s(max_length: int) -> Any:
    return Annotated[str, BeforeValidator(_clean), StringConstraints(max_length=max_length)]


def _opt(max_length: int) -> Any:
    return Annotated[
        Annotated[str, StringConstraints(max_length=max_length)] | None,
        BeforeValidator(_clean),
    ]


def _list(item: Any) -> Any:
    return Annotated[list[item], BeforeValidator(_as_list)]


Id = Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=200)]
OptInt = Annotated[Annotated[int, Field(ge=0)] | None, BeforeValidator(_as_int)]
Bool = Annotated[bool, BeforeValidator(_as_bool)]
Period = Annotated[
    Annotated[str, StringConstraints(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")] | None,
    BeforeValidator(_clean),
]


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


# --------------------------------------------------------------------------- models


class SolutionRow(_Row):
    external_id: Id
    title: Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=300)]
    mission: Text = ""
    description: Text = ""
    themes: _list(_s(100)) = []  # type: ignore[valid-type]
    usertypes: _list(_s(200)) = []  # type: ignore[valid-type]
    target_kinds: Annotated[list[TerritoryKind], BeforeValidator(_as_list)] = []
    target_size_bands: Annotated[list[SizeBand], BeforeValidator(_as_list)] = []
    maturity: Annotated[Maturity | None, BeforeValidator(_lower)] = None
    phase: _opt(64) = None  # type: ignore[valid-type]
    pricing_model: _opt(300) = None  # type: ignore[valid-type]
    references: _list(_s(500)) = []  # type: ignore[valid-type]
    website: _opt(500) = None  # type: ignore[valid-type]
    contact: _opt(320) = None  # type: ignore[valid-type]
    organisation_name: _opt(300) = None  # type: ignore[valid-type]
    trust_level: Annotated[TrustLevel | None, BeforeValidator(_lower)] = None
    status: Annotated[SolutionStatus | None, BeforeValidator(_lower)] = None
    source: _opt(64) = None  # type: ignore[valid-type]


class ExperienceRow(_Row):
    external_id: Id
    title: Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=300)]
    territory_code: _opt(16) = None  # type: ignore[valid-type]
    territory_kind: Annotated[TerritoryKind | None, BeforeValidator(_lower)] = None
    territory_name: _opt(200) = None  # type: ignore[valid-type]
    population: OptInt = None
    dep: _opt(8) = None  # type: ignore[valid-type]
    region: _opt(8) = None  # type: ignore[valid-type]
    organisation_name: _opt(300) = None  # type: ignore[valid-type]
    problem: Text = ""
    tried: Text = ""
    themes: _list(_s(100)) = []  # type: ignore[valid-type]
    solution_external_id: _opt(200) = None  # type: ignore[valid-type]
    period_start: Period = None
    period_end: Period = None
    outcome: Annotated[Outcome, BeforeValidator(lambda v: _lower(v) or "unknown")] = Outcome.UNKNOWN
    lessons: Text = ""
    contact_role: _opt(300) = None  # type: ignore[valid-type]
    contact_consent: Bool = False
    links: _list(_s(500)) = []  # type: ignore[valid-type]
    source: _opt(64) = None  # type: ignore[valid-type]

    @field_validator("contact_role")
    @classmethod
    def _no_email(cls, value: str | None) -> str | None:
        if value and re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", value):
            raise ValueError("must be a role, not an e-mail address")
        return value


class TerritoryRow(_Row):
    kind: Annotated[TerritoryKind, BeforeValidator(_lower)]
    code: Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=16)]
    siren: _opt(16) = None  # type: ignore[valid-type]
    name: Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=200)]
    subtype: _opt(16) = None  # type: ignore[valid-type]
    population: OptInt = None
    dep: _opt(8) = None  # type: ignore[valid-type]
    dep_name: _opt(100) = None  # type: ignore[valid-type]
    region: _opt(8) = None  # type: ignore[valid-type]
    region_name: _opt(100) = None  # type: ignore[valid-type]
    epci: _opt(16) = None  # type: ignore[valid-type]
    epci_name: _opt(200) = None  # type: ignore[valid-type]
    chef_lieu: _opt(16) = None  # type: ignore[valid-type]


def _sources(value: Any) -> Any:
    """``url (note) ; url`` -> one item per page read (``;`` only between pages)."""
    if isinstance(value, str):
        return [p for p in (clean_text(x) for x in value.split(" ; ")) if p]
    return _as_list(value)


def _theme_ids(value: Any) -> Any:
    """Theme ids (labels accepted); ``all`` (or nothing) means every theme: ``[]``."""
    items = _as_list(value)
    if not isinstance(items, list):
        return items
    if [fold(str(x)) for x in items] in ([], ["all"], ["tous"]):
        return []
    out = []
    for item in items:
        theme = find_theme(str(item))
        if theme is None:
            raise ValueError(f"unknown theme {item!r} (a theme id such as 'mobilite', or 'all')")
        if theme.id not in out:
            out.append(theme.id)
    return out


class FinancingRow(_Row):
    external_id: Id
    name: Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=300)]
    name_en: _opt(300) = None  # type: ignore[valid-type]
    funder: Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=300)]
    kinds: Annotated[list[TerritoryKind], BeforeValidator(_as_list), Field(min_length=1)]
    min_population: OptInt = None
    max_population: OptInt = None
    themes: Annotated[list[str], BeforeValidator(_theme_ids)] = []
    funds: Annotated[
        list[Literal["study", "experimentation", "investment", "operation"]],
        BeforeValidator(_as_list),
        Field(min_length=1),
    ]
    stages: Annotated[list[Stage], BeforeValidator(_as_list), Field(min_length=1)]
    rate: _opt(1000) = None  # type: ignore[valid-type]
    cap: _opt(1000) = None  # type: ignore[valid-type]
    summary_fr: Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1)]
    summary_en: Text = ""
    url: Annotated[
        Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=500)] | None,
        BeforeValidator(_clean),
    ] = None
    sources: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^https?://\S+")]],
        BeforeValidator(_sources),
        Field(min_length=1),
    ]
    checked: dt.date
    status: Annotated[FinancingStatus, BeforeValidator(_lower)] = FinancingStatus.OPEN
    notes: Text = ""

    @model_validator(mode="after")
    def _population_range(self) -> FinancingRow:
        low, high = self.min_population, self.max_population
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_population {low} is above max_population {high}")
        return self


# --------------------------------------------------------------------------- formats

#: beta.gouv.fr phases -> maturity
PHASE_MATURITY = {
    "investigation": Maturity.IDEA,
    "construction": Maturity.PROTOTYPE,
    "acceleration": Maturity.PILOT,
    "consolidation": Maturity.DEPLOYED,
    "transfere": Maturity.DEPLOYED,
    "transfert": Maturity.DEPLOYED,
    "opere": Maturity.DEPLOYED,
    "abandon": Maturity.STOPPED,
    "abandon-investigation": Maturity.STOPPED,
}

COLLECTIVITE_KINDS = ["commune", "epci", "departement", "region"]

Renames = dict[str, str]  # native field -> field name in the source row


def _rename(row: dict[str, Any], renames: Renames, native: str, *sources: str) -> None:
    """Copy the first present source field to ``native`` unless the row already has it."""
    if row.get(native) not in (None, "", []):
        return
    for source in sources:
        if source in row and row[source] not in (None, ""):
            row[native] = row[source]
            renames[native] = source
            return


def normalise_catalogue(raw: dict[str, Any]) -> tuple[dict[str, Any], Renames]:
    row = dict(raw)
    renames: Renames = {}
    betagouv = any(k in raw for k in ("thematiques", "incubator", "sponsors", "solution"))
    _rename(row, renames, "external_id", "id")
    _rename(row, renames, "description", "solution")
    _rename(row, renames, "themes", "thematiques")
    _rename(row, renames, "website", "link")
    if row.get("organisation_name") in (None, ""):
        incubator = raw.get("incubator")
        sponsors = raw.get("sponsors")
        if isinstance(incubator, str) and incubator.strip():
            row["organisation_name"] = incubator
            renames["organisation_name"] = "incubator"
        elif isinstance(sponsors, list) and sponsors:
            names = [str(s).rsplit("/", 1)[-1] for s in sponsors if s]
            row["organisation_name"] = ", ".join(names)
            renames["organisation_name"] = "sponsors"
    phase = raw.get("phase")
    if isinstance(phase, str) and row.get("maturity") in (None, ""):
        maturity = PHASE_MATURITY.get(phase.strip().lower())
        if maturity is not None:
            row["maturity"] = maturity.value
    if row.get("target_kinds") in (None, "", []):
        usertypes = _as_list(row.get("usertypes"))
        if isinstance(usertypes, list) and any(
            isinstance(u, str) and fold(u) in ("collectivite territoriale", "collectivites")
            for u in usertypes
        ):
            row["target_kinds"] = list(COLLECTIVITE_KINDS)
    if betagouv and row.get("source") in (None, ""):
        row["source"] = "betagouv"
    return row, renames


_INV_STATUS_ONGOING = {"en_cours"}
_STOPPED_WORDS = ("pas de suite", "abandon", "arret", "stoppe", "non retenu", "sans suite")
_SUCCESS_WORDS = (
    "reintegr",
    "deploy",
    "phase de construction",
    "perenn",
    "generalis",
    "mise en oeuvre",
    "souhaite desormais deployer",
)


def outcome_from_investigation(status: str | None, conclusion: str | None) -> Outcome:
    """ANCT investigation status (+ its conclusion when finished) -> outcome."""
    status = (status or "").strip().lower()
    if status in _INV_STATUS_ONGOING:
        return Outcome.ONGOING
    if status in ("abandonne", "abandoned", "stopped", "arrete", "abandon"):
        return Outcome.STOPPED
    if status == "termine" and conclusion:
        text = fold(conclusion)
        if any(w in text for w in _STOPPED_WORDS):
            return Outcome.STOPPED
        if any(w in text for w in _SUCCESS_WORDS):
            return Outcome.SUCCESS
    return Outcome.UNKNOWN


def parse_territories_field(value: str | None, populations: str | None) -> list[dict[str, Any]]:
    """``kind:code:name;kind:code:name`` (+ aligned ``pop;pop``) -> list of dicts."""
    if not value:
        return []
    pops = (populations or "").split(";") if populations else []
    out: list[dict[str, Any]] = []
    for index, item in enumerate(value.split(";")):
        parts = item.strip().split(":", 2)
        if len(parts) != 3:
            continue
        pop = _as_int(pops[index].strip()) if index < len(pops) else None
        out.append(
            {
                "kind": parts[0].strip(),
                "code": parts[1].strip(),
                "name": parts[2].strip(),
                "population": pop if isinstance(pop, int) else None,
            }
        )
    return out


def _contact_roles(value: Any) -> str | None:
    """Roles and e-mail domains only (never names): ``Coach (beta.gouv.fr); Intrapreneur``."""
    if not value:
        return None
    items = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            return None
    if not isinstance(items, list):
        return None
    labels: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        role = clean_text(str(item.get("role") or "")) or "Contact"
        domain = clean_text(str(item.get("email_domain") or ""))
        label = f"{role} ({domain})" if domain else role
        if label not in labels:
            labels.append(label)
    text = "; ".join(labels)
    return text[:300] or None


def _short(text: Any, limit: int = 300) -> Any:
    """A title from a longer text (first ``limit`` characters, cut on a word)."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _investigation(raw: dict[str, Any]) -> tuple[dict[str, Any], Renames]:
    renames: Renames = {"title": "nom", "problem": "fiche_de_probleme", "lessons": "conclusion"}
    ident = _clean(raw.get("id"))
    territories = parse_territories_field(raw.get("territoires"), raw.get("populations"))
    first = territories[0] if territories else None
    lines: list[str] = []
    if raw.get("mission"):
        lines.append(str(raw["mission"]).strip())
    if raw.get("promotion"):
        lines.append(f"Promotion : {str(raw['promotion']).strip()}")
    if len(territories) > 1:
        lines.append(
            "Territoires : "
            + ", ".join(f"{t['name']} ({t['kind']} {t['code']})" for t in territories)
        )
    links = [raw.get(k) for k in ("service_url", "beta_url", "repo_url") if raw.get(k)]
    row: dict[str, Any] = {
        "external_id": f"anct-inv-{ident}" if ident else None,
        "title": raw.get("nom") or _short(raw.get("mission")),
        "tried": "\n".join(lines),
        "problem": raw.get("fiche_de_probleme") or "",
        "lessons": raw.get("conclusion") or "",
        "outcome": outcome_from_investigation(raw.get("status"), raw.get("conclusion")).value,
        "period_start": raw.get("start_date"),
        "contact_role": _contact_roles(raw.get("contact_roles")),
        "contact_consent": False,
        "links": links,
        "source": "anct-investigations",
        "organisation_name": first["name"] if first else None,
    }
    if first:
        row.update(
            territory_kind=first["kind"],
            territory_code=first["code"],
            territory_name=first["name"],
            population=first["population"],
        )
        renames.update(territory_kind="territoires", territory_code="territoires")
    if ident:
        renames["external_id"] = "id"
    return row, renames


_ENG_PERIOD_YEARS = re.compile(r"(\d{4})")


def _engagement(raw: dict[str, Any], current_year: int = 2026) -> tuple[dict[str, Any], Renames]:
    renames: Renames = {"title": "dispositif"}
    ident = _clean(raw.get("id"))
    dispositif = _clean(raw.get("dispositif")) or ""
    theme = _clean(raw.get("theme"))
    period = _clean(raw.get("periode"))
    years = [int(y) for y in _ENG_PERIOD_YEARS.findall(period or "")]
    outcome = Outcome.UNKNOWN
    if years and max(years) >= current_year:
        outcome = Outcome.ONGOING
    kind = _lower(raw.get("kind"))
    code = _clean(raw.get("code"))
    valid_kind = kind in {k.value for k in TerritoryKind}
    title = f"Engagement citoyen ANCT : programme {dispositif}" if dispositif else None
    if title and theme:
        title += f" — {theme}"
    tried_parts = (
        [f"Programme d'engagement citoyen de l'ANCT : {dispositif}."] if dispositif else []
    )
    if period:
        tried_parts.append(f"Période : {period}.")
    if theme:
        tried_parts.append(f"Thème : {theme}.")
    name = _clean(raw.get("nom"))
    if not valid_kind and kind:
        tried_parts.append(f"Structure : {name} ({kind}).")
    start = end = None
    if len(years) >= 1:
        start = str(years[0])
        end = str(years[-1]) if len(years) > 1 else None
    row: dict[str, Any] = {
        "external_id": f"anct-eng-{ident}" if ident else None,
        "title": title,
        "territory_kind": kind if valid_kind else None,
        "territory_code": code if valid_kind and code and not code.startswith("#") else None,
        "territory_name": name,
        "population": raw.get("population"),
        "dep": (raw.get("dep") or "").split("|", 1)[0] or None,
        "region": raw.get("region"),
        "organisation_name": name,
        "tried": " ".join(tried_parts),
        "themes": [theme] if theme else [],
        "period_start": start,
        "period_end": end,
        "outcome": outcome.value,
        "links": [raw["url"]] if raw.get("url") else [],
        "source": "anct-engagement",
    }
    renames.update(territory_kind="kind", territory_code="code", territory_name="nom")
    if ident:
        renames["external_id"] = "id"
    return row, renames


def normalise_rex(raw: dict[str, Any]) -> tuple[dict[str, Any], Renames]:
    if "fiche_de_probleme" in raw or ("territoires" in raw and "nom" in raw):
        return _investigation(raw)
    if "dispositif" in raw:
        return _engagement(raw)
    row = dict(raw)
    renames: Renames = {}
    _rename(row, renames, "external_id", "id")
    return row, renames


def normalise_territory(raw: dict[str, Any]) -> tuple[dict[str, Any], Renames]:
    row = dict(raw)
    renames: Renames = {}
    _rename(row, renames, "name", "nom")
    _rename(row, renames, "dep_name", "dep_nom")
    _rename(row, renames, "region_name", "region_nom")
    _rename(row, renames, "epci_name", "epci_nom")
    dep = row.get("dep")
    if isinstance(dep, str) and "|" in dep:  # EPCI spanning several départements: the main one
        row["dep"] = dep.split("|", 1)[0]
    return row, renames


def normalise_financing(raw: dict[str, Any]) -> tuple[dict[str, Any], Renames]:
    """``data/financing.csv`` columns: ``id``, ``source``; a file without a ``status``
    column says it in its notes ("CLOS…": closed call; "Liste fermée": closed list)."""
    row = dict(raw)
    renames: Renames = {}
    _rename(row, renames, "external_id", "id")
    _rename(row, renames, "sources", "source")
    if row.get("status") in (None, ""):
        notes = str(row.get("notes") or "")
        if notes.startswith("CLOS"):
            row["status"] = FinancingStatus.CLOSED.value
        elif "liste fermee" in fold(notes):
            row["status"] = FinancingStatus.CLOSED_LIST.value
    return row, renames


NORMALISERS: dict[str, Callable[[dict[str, Any]], tuple[dict[str, Any], Renames]]] = {
    "catalogue": normalise_catalogue,
    "rex": normalise_rex,
    "territories": normalise_territory,
    "financing": normalise_financing,
}
MODELS: dict[str, type[_Row]] = {
    "catalogue": SolutionRow,
    "rex": ExperienceRow,
    "territories": TerritoryRow,
    "financing": FinancingRow,
}


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        expected = ", ".join(KINDS[:-1]) + f" or {KINDS[-1]}"
        raise IngestError(f"unknown kind {kind!r} (expected {expected})")
    return kind


def row_key(kind: str, row: dict[str, Any]) -> str:
    """The identity of a validated row: external id, or ``kind:code`` for territories."""
    if kind == "territories":
        return f"{row['kind']}:{row['code']}"
    return str(row["external_id"])


def _message(error: dict[str, Any]) -> str:
    msg = str(error.get("msg", "invalid"))
    if error.get("type") == "missing" or (
        error.get("input") is None and str(error.get("type", "")).endswith("_type")
    ):
        return "field required"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg[:1].lower() + msg[1:]


def validate_records(kind: str, records: list[Record]) -> list[tuple[str, dict[str, Any]]]:
    """Every record validated; returns ``(where, clean row)`` or raises with all problems.

    Clean rows contain only the fields the source gave (plus derived ones), so that an
    update never resets a value (e.g. a facilitator's trust level) the file did not set.
    """
    check_kind(kind)
    if not records:
        raise IngestError("file is empty")
    normalise = NORMALISERS[kind]
    model = MODELS[kind]
    problems: list[str] = []
    rejected = 0
    out: list[tuple[str, dict[str, Any]]] = []
    first_seen: dict[str, str] = {}
    for where, raw in records:
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected an object")
            rejected += 1
            continue
        row, renames = normalise(raw)
        try:
            obj = model.model_validate(row)
        except ValidationError as exc:
            rejected += 1
            for err in exc.errors():
                loc = err.get("loc") or ()
                field = str(loc[0]) if loc else "?"
                field = renames.get(field, field)
                if len(loc) > 1:
                    field += "".join(f"[{p}]" for p in loc[1:])
                problems.append(f"{where}: field {field!r}: {_message(dict(err))}")
            continue
        given = set(obj.model_fields_set)
        clean = {k: v for k, v in obj.model_dump(mode="json").items() if k in given}
        key = row_key(kind, clean)
        if key in first_seen:
            rejected += 1
            problems.append(f"{where}: duplicate id {key!r} (first seen {first_seen[key]})")
            continue
        first_seen[key] = where
        out.append((where, clean))
    if problems:
        raise IngestError(problems, rejected=rejected)
    return out

"""What a start-up may read of a buyer's need before the buyer agreed to meet it.

A need shown to start-ups (open needs, proposals) is anonymised: the theme, the size
band, the département, the stage, budget and timing bands, and its problem statement
with the names that would say who asked masked — the need's territory, the owner's
organisation and name, and anything that looks like an e-mail address or a phone
number. Masking is accent-, case- and hyphen-insensitive ("Lons le saunier" is
"Lons-le-Saunier"); a place the text names that is neither of those (a district, a
neighbouring town) is not recognised, which is why the listing shows a shortened
statement and never the raw message.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.domain import shorten
from core.models import Need, Person, Territory

__all__ = ["MASK", "anonymous_label", "dep_name", "mask_names", "masked_problem", "names_of"]

#: What a masked name becomes (language-neutral).
MASK = "[…]"

_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PHONE = re.compile(r"(?<!\d)(?:\+33\s?|0)[1-9](?:[\s.\-]?\d{2}){4}(?!\d)")


def _fold_char(char: str) -> str:
    """One character folded (lower case, no accent); anything else than a letter or a
    digit becomes a space, so that "Lons-le-Saunier" matches "lons le saunier"."""
    base = "".join(
        c for c in unicodedata.normalize("NFKD", char.lower()) if not unicodedata.combining(c)
    )
    base = base.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")
    return base if base.isalnum() else " " * max(len(base), 1)


def _folded_with_map(text: str) -> tuple[str, list[int]]:
    """``text`` folded, and for each folded character the index of its source character."""
    folded: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        part = _fold_char(char)
        folded.append(part)
        origin.extend([i] * len(part))
    return "".join(folded), origin


def mask_names(text: str, names: Iterable[str | None]) -> str:
    """``text`` with every whole-word occurrence of ``names`` (and e-mail addresses and
    phone numbers) replaced by :data:`MASK`."""
    text = _PHONE.sub(MASK, _EMAIL.sub(MASK, text))
    tokens_of = sorted(
        {tuple(_fold_char_str(n).split()) for n in names if n and len(n.strip()) >= 2},
        key=len,
        reverse=True,
    )
    for tokens in tokens_of:
        if not tokens:
            continue
        folded, origin = _folded_with_map(text)
        pattern = re.compile(
            r"(?<![a-z0-9])" + r"\s+".join(map(re.escape, tokens)) + r"(?![a-z0-9])"
        )
        spans = [(origin[m.start()], origin[m.end() - 1] + 1) for m in pattern.finditer(folded)]
        for start, end in reversed(spans):
            text = text[:start] + MASK + text[end:]
    return text


def _fold_char_str(text: str) -> str:
    return "".join(_fold_char(c) for c in text)


def names_of(session: Session, need: Need) -> list[str]:
    """The names that would say who wrote ``need``: its territory, the owner's
    organisation, name and contact details."""
    names: list[str | None] = [need.territory_name]
    owner = session.get(Person, need.owner_id) if need.owner_id else None
    if owner is not None:
        names += [owner.display_name, owner.email, owner.phone]
        if owner.organisation is not None:
            names.append(owner.organisation.name)
    return [n for n in names if n]


def masked_problem(session: Session, need: Need, limit: int = 240) -> str:
    """The need's problem statement, names masked, on one line, cut at a word."""
    return shorten(mask_names(need.problem or need.raw_text, names_of(session, need)), limit)


def dep_name(session: Session, need: Need) -> str | None:
    """The name of the need's département (its code when the name is unknown)."""
    if not need.dep:
        return None
    name = session.scalar(
        select(Territory.name).where(Territory.kind == "departement", Territory.code == need.dep)
    )
    if name is None:
        name = session.scalar(select(Territory.dep_name).where(Territory.dep == need.dep).limit(1))
    return name or need.dep


def anonymous_label(session: Session, need: Need) -> str:
    """Who asked, for the record of a proposal, without naming them: the département and
    the size band (``"Jura · 10k-50k"``)."""
    return " · ".join(p for p in (dep_name(session, need), need.size_band) if p)

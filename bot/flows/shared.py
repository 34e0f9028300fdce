"""Helpers shared by several flows. Flow modules import from here, never from each other."""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Any

from bot.render import (
    _label,
    _outcome_label,
    render_result_card,
    render_tried_elsewhere,
    result_card,
    shorten,
)
from bot.types import Button, Ctx, FlowState, OutMessage
from core.domain import Moderation, SolutionStatus, size_band
from core.messages import t
from core.models import Experience, Need, Solution
from matcher.themes import THEMES, find_theme, theme_label
from matcher.types import SolutionMatch

log = logging.getLogger(__name__)

#: Global button action of the digest settings (``/digest``), offered by other flows too.
DIGEST_SETTINGS_ACTION = "dset"
#: Global button action of the reason for closing a need (``nwhy:<verb>:<need>[:<sol>]``),
#: offered by /mesbesoins, answered by the follow-up flow.
NEED_REASON_ACTION = "nwhy"
#: Global button actions of a catalogue entry (bot.flows.solutions): open its full card,
#: ask to be put in touch with its carrier, follow or unfollow it. Valid at any step.
SHEET_ACTION = "fiche"
SHEET_INTRO_ACTION = "solmeet"
SHEET_FOLLOW_ACTION = "solfol"
#: Global button action of the REX sheet: ``rex:show:<id>`` opens it, ``rex:meet:<id>``
#: asks for a contact (installed by :mod:`bot.flows.peers`).
REX_ACTION = "rex"
#: Global button action of the thematic communities (installed by :mod:`bot.flows.peers`):
#: ``grp:join:<need id>``, ``grp:show:<id>``, ``grp:leave:<id>``, ``grp:meet:<need id>``.
GROUP_ACTION = "grp"
#: Global button actions of the proposals flow (bot.flows.proposals): ``opn:list`` shows
#: the open needs that fit a start-up's solutions; ``prop:<verb>:<id>`` are the buyer's
#: buttons (proposals off/on for a need, the proposals received).
OPEN_NEEDS_ACTION = "opn"
PROPOSALS_ACTION = "prop"
#: Remembered in the profile once the person chose to go on without a contact.
CONTACT_SKIPPED_KEY = "contact_skipped"

_EMAIL = re.compile(
    r"^[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}$"
)


# --- input --------------------------------------------------------------------------------------
def validate_email(text: str) -> str | None:
    value = text.strip().strip("<>").strip()
    return value.lower() if len(value) <= 254 and _EMAIL.match(value) else None


def row_id(raw: str) -> int | None:
    """A row id from a button (digits only, at most 9 of them: no overflow)."""
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


# --- buttons ------------------------------------------------------------------------------------
def tick(label: str, on: bool) -> str:
    """A toggle button's label: ticked when chosen."""
    return f"✓ {label}" if on else label


def skip_button(ctx: Ctx) -> Button:
    return ctx.btn("skip", "x", ctx.t("skip"))


def theme_buttons(ctx: Ctx, chosen: list[str]) -> list[Button]:
    """Toggle buttons for the whole taxonomy (chosen = French labels or ids)."""
    picked = {t.id for t in (find_theme(x) for x in chosen) if t}
    return [
        ctx.btn(
            "th", theme.id, tick(theme.en if ctx.lang == "en" else theme.fr, theme.id in picked)
        )
        for theme in THEMES
    ]


def toggle_theme(chosen: list[str], theme_id: str) -> list[str] | None:
    """``chosen`` (French labels) with ``theme_id`` toggled; ``None`` if not a theme id."""
    theme = find_theme(theme_id)
    if theme is None or theme.id != theme_id:
        return None
    labels = [x for x in chosen if find_theme(x) is not theme]
    if len(labels) == len(chosen):
        labels.append(theme.fr)
    order = {t.fr: i for i, t in enumerate(THEMES)}
    return sorted(labels, key=lambda x: order.get(x, 99))


def need_reason_buttons(ctx: Ctx, need_id: int) -> list[Button]:
    """Why close this need: met by one of its solutions (its introductions, then its
    results), abandoned, or another reason."""
    from matcher.followups import closing_options

    act = NEED_REASON_ACTION
    buttons = [
        Button(f"{act}:met:{need_id}:{sol_id}", ctx.t("needwhy_met", title=title[:40]))
        for sol_id, title in closing_options(ctx.session, need_id)
    ]
    buttons.append(Button(f"{act}:gone:{need_id}", ctx.t("needwhy_gone")))
    buttons.append(Button(f"{act}:other:{need_id}", ctx.t("needwhy_other")))
    return buttons


def sheet_button(ctx: Ctx, solution_id: int, label: str) -> Button:
    """Opens the full card of a catalogue entry, from any step (no nonce)."""
    return Button(f"{SHEET_ACTION}:{solution_id}", label)


def result_messages(
    ctx: Ctx, matches: list[SolutionMatch], *, start: int = 1, tried: bool = False
) -> list[OutMessage]:
    """Search results as cards, one message each (numbered text, a structured card for
    the web chat, a "Fiche" button and a link to the website); ``tried``: stopped
    services set apart, as one "Déjà tenté ailleurs" line with a "Fiche" button each."""
    if tried:
        buttons = [sheet_button(ctx, m.solution_id, shorten(m.title, 40)) for m in matches]
        return [OutMessage(render_tried_elsewhere(matches, ctx.lang), buttons)]
    out = []
    for rank, m in enumerate(matches, start=start):
        card = result_card(m, rank, ctx.lang)
        buttons = [sheet_button(ctx, m.solution_id, ctx.t("btn_sheet_n", n=rank))]
        if card["website"]:
            buttons.append(Button("", ctx.t("btn_website_n", n=rank), url=card["website"]))
        out.append(OutMessage(render_result_card(m, rank, ctx.lang), buttons, card=card))
    return out


def open_need_dict(need: Any) -> dict[str, Any]:
    """A ``matcher.proposals.OpenNeed`` as a JSON-ready dict (conversation state, and
    :func:`bot.render.render_open_need`)."""
    out = dataclasses.asdict(need)
    out["reasons"] = [{"code": r.code, "params": r.params} for r in need.reasons]
    return out


# --- deferred work ------------------------------------------------------------------------------
def reindex_later(ctx: Ctx, kind: str, doc_id: int) -> None:
    """Once this step commits, bring ``kind``/``doc_id`` in or out of the search index."""
    service = ctx.engine.service

    def reindex() -> list[OutMessage]:
        service.index_later(kind, doc_id)
        return []

    ctx.defer(reindex)


# --- introductions ------------------------------------------------------------------------------
@dataclass
class ContactState(FlowState):
    """The contact flow's state (``k``): the introduction to request (or to accept) once
    the contact question is answered, and ``[flow, step]`` to go back to (``step`` None:
    idle)."""

    KEY = "k"
    target: dict[str, int | None] | None = None
    back: list[str | None] | None = None
    #: an introduction to accept once the contact question is answered
    accept: int | None = None


def request_introduction(ctx: Ctx, target: dict[str, int | None], *, then: str | None) -> None:
    """Ask for an introduction to ``target``, first offering to leave a contact (the
    contact flow's ``k_offer`` step) if the person has none and never declined.
    ``then``: the step of the current flow to ask after the request (``None``: stay
    where the person is)."""
    from matcher.introductions import can_reach

    # no offer when nobody could receive the request: the refusal comes at once
    if (
        ctx.person.email is None
        and not ctx.profile.get(CONTACT_SKIPPED_KEY)
        and can_reach(ctx.session, **target)
    ):
        ctx.put_state(ContactState(target=target, back=[ctx.flow, then or ctx.step]))
        ctx.ask("k_offer")
        return
    send_request(ctx, target, back=then, flow=ctx.flow)


def send_request(
    ctx: Ctx, target: dict[str, int | None], *, back: str | None, flow: str | None
) -> None:
    """Send the request after this step commits; then ask ``back`` again (or nothing)."""
    engine, requester, lang = ctx.engine, ctx.person.id, ctx.lang
    without_contact = ctx.person.email is None
    prompt: list[OutMessage] = []
    if back is not None:
        ctx.ask(back, flow=flow)
        prompt = [ctx.out.pop()]  # the step's question comes after the request's outcome

    def request() -> list[OutMessage]:
        try:
            result = engine.request_introduction(requester, **target)  # type: ignore[arg-type]
        except Exception:
            log.exception("introduction request failed")
            return [OutMessage(t("intro_failed", lang)), *prompt]
        text = intro_result_text(result, lang)
        if without_contact and getattr(result, "code", "") in ("sent", "queued"):
            text += "\n" + t("contact_missing_hint", lang)
        return [OutMessage(text), *prompt]

    ctx.defer(request)


#: request_introduction result code -> the message saying so.
_INTRO_RESULT_KEYS = {
    "sent": "intro_sent",
    "queued": "intro_queued",  # nobody to ask in chat: a facilitator relays
    "already_requested": "intro_already_requested",
    "not_found": "intro_entry_not_found",
}
#: Codes refused politely: ``intro_refused`` with ``intro_<code>`` as the reason.
_INTRO_REFUSALS = ("cap_reached", "no_contact", "self")


def intro_result_text(result: Any, lang: str) -> str:
    """Words for an ``IntroResult`` of :func:`matcher.introductions.request_introduction`."""
    code = str(getattr(result, "code", "") or "")
    params = dict(getattr(result, "params", {}) or {})
    if code in _INTRO_RESULT_KEYS:
        return t(_INTRO_RESULT_KEYS[code], lang, **params)
    if code in _INTRO_REFUSALS:
        return t("intro_refused", lang, reason=t(f"intro_{code}", lang, **params))
    return t("intro_failed", lang)


# --- cards --------------------------------------------------------------------------------------
def card_lines(lang: str, rows: list[tuple[str, str | None]]) -> list[str]:
    """``key: value`` lines of a card, the empty values left out."""
    return [t(key, lang, value=value) for key, value in rows if value]


def theme_list(values: list[str] | None, lang: str) -> str | None:
    return ", ".join(theme_label(x, lang) for x in values or []) or None


def _period(start: str | None, end: str | None, lang: str) -> str | None:
    if start and end:
        return t("digest_period_range", lang, start=start, end=end)
    if start:
        return t("digest_period_since", lang, start=start)
    if end:
        return t("digest_period_until", lang, end=end)
    return None


def _who(name: str | None, population: int | None, lang: str) -> str | None:
    band = _label("size", str(size_band(population)), lang) if population else None
    if name and band:
        return t("digest_card_who_size", lang, name=name, size=band)
    return name or band


def render_rex_card(
    rex: Experience,
    lang: str,
    *,
    solution: str | None = None,
    route: str | None = None,
    limit: int = 500,
) -> str:
    """Who (territory and size), the problem, what was tried, the solution used (its
    title, when it is in the catalogue), when, the outcome (a failure is labelled as
    such), the lessons, where the sheet comes from and, given ``route`` (see
    :func:`matcher.introductions.route`), how a contact request would reach them.
    Never the contact person."""
    who = _who(rex.territory_name or rex.organisation_name, rex.population, lang)
    reach = t(f"rex_reach_{route}", lang, role=rex.contact_role or "") if route else None
    rows = [
        ("digest_card_who", who),
        ("digest_card_problem", shorten(rex.problem, limit) or None),
        ("digest_card_tried", shorten(rex.tried, limit) or None),
        ("rex_card_solution", solution),
        ("digest_card_period", _period(rex.period_start, rex.period_end, lang)),
        ("digest_card_outcome", _outcome_label(str(rex.outcome or "unknown"), lang)),
        ("digest_card_lessons", shorten(rex.lessons, limit) or None),
        ("card_themes", theme_list(rex.themes, lang)),
        ("rex_card_links", " ".join(rex.links or []) or None if route else None),
        ("rex_card_reach", reach),
    ]
    return "\n".join([t("digest_card_rex_title", lang, title=rex.title), *card_lines(lang, rows)])


def published_solution(ctx: Ctx, solution_id: int | None) -> Solution | None:
    """The published catalogue entry ``solution_id`` (a merged duplicate: the entry it was
    merged into); ``None`` when there is none, or it is withdrawn or rejected."""
    sol = ctx.session.get(Solution, solution_id) if solution_id is not None else None
    for _ in range(3):
        if sol is None or sol.merged_into_id is None:
            break
        sol = ctx.session.get(Solution, sol.merged_into_id)
    if sol is None or sol.status != SolutionStatus.PUBLISHED:
        return None
    if sol.moderation in (Moderation.REJECTED, Moderation.MERGED):
        return None
    return sol


def rex_button(ctx: Ctx, experience_id: int, label: str) -> Button:
    """The "Retour d'expérience" button of a peer line (a global action: always valid)."""
    return Button(f"{REX_ACTION}:show:{experience_id}", label)


def show_rex(ctx: Ctx, experience_id: int) -> None:
    """The REX sheet, with "Demander un contact" (and the solution's card when the
    solution used is in the catalogue)."""
    from matcher.introductions import route

    rex = ctx.session.get(Experience, experience_id)
    if rex is None or rex.moderation in (Moderation.PENDING, Moderation.REJECTED):
        ctx.say("digest_gone")  # unknown, or not public (core.catalogue.public_experience)
        return
    sol = published_solution(ctx, rex.solution_id)
    way = route(ctx.session, experience_id=rex.id)
    buttons = [Button(f"{REX_ACTION}:meet:{rex.id}", ctx.t("rex_contact_button"))]
    if sol is not None:
        label = ctx.t("rex_solution_button", title=shorten(sol.title, 40))
        buttons.append(Button(f"digest:sol:{sol.id}", label))
    text = render_rex_card(
        rex, ctx.lang, solution=sol.title if sol is not None else None, route=way, limit=900
    )
    ctx.send(text, buttons)


def offer_community(ctx: Ctx, need_id: int) -> None:
    """Under the peers: "3 collectivités de votre taille travaillent aussi sur ce sujet",
    with a button to join (or see) the group of the need's theme and size band."""
    from matcher.communities import offer

    need = ctx.session.get(Need, need_id)
    found = offer(ctx.session, need, ctx.person.id) if need is not None else None
    if found is None:
        return
    group = t("group_name", ctx.lang, theme=theme_label(found.theme, ctx.lang),
              band=_label("size", found.size_band, ctx.lang) or found.size_band)  # fmt: skip
    if found.others == 0:
        text = ctx.t("group_offer_empty", group=group)
    elif found.others == 1:
        text = ctx.t("group_offer_one", group=group)
    else:
        text = ctx.t("group_offer_many", n=found.others, group=group)
    if found.joined and found.community_id is not None:
        button = Button(f"{GROUP_ACTION}:show:{found.community_id}", ctx.t("group_show_button"))
    else:
        button = Button(f"{GROUP_ACTION}:join:{need_id}", ctx.t("group_join_button"))
    ctx.send(text, [button])

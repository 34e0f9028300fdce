"""Start-up flow (/inscrire): register a solution, with consent, then see matching needs."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.flows.shared import (
    DIGEST_SETTINGS_ACTION,
    OPEN_NEEDS_ACTION,
    open_need_dict,
    reindex_later,
    row_id,
    skip_button,
    theme_buttons,
    tick,
    toggle_theme,
    validate_email,
)
from bot.render import render_open_need, shorten
from bot.types import Button, Ctx, Engine, FlowState, OutMessage, Step
from core.catalogue import archive_solution, create_solution
from core.domain import (
    SIZE_BAND_ORDER,
    Maturity,
    Moderation,
    OrgKind,
    Role,
    SolutionStatus,
    fold,
)
from core.models import (
    ConsentRecord,
    Organisation,
    Solution,
    utcnow,
)
from matcher.proposals import open_needs_for
from matcher.themes import extract_themes, find_theme

log = logging.getLogger(__name__)

FLOW = "register"
MIN_DESCRIPTION_WORDS = 20
#: Open needs shown at the end of a registration (the rest: "Voir les besoins ouverts").
REG_NEEDS = 3
KINDS = ("commune", "epci", "departement", "region")
MATURITIES = (Maturity.IDEA, Maturity.PROTOTYPE, Maturity.PILOT, Maturity.DEPLOYED)
CONSENT_PURPOSE = "solution_contact"
_URL = re.compile(
    r"^https?://[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}"
    r"(?::\d{2,5})?(?:[/?#][^\s<>\"]*)?$"
)


@dataclass
class RegistrationState(FlowState):
    """The start-up flow's state (``r``): the solution being registered."""

    KEY = "r"
    org: str = ""
    title: str = ""
    desc: str = ""
    themes: list[str] = field(default_factory=list)  # French labels
    dups: list[dict[str, Any]] = field(default_factory=list)  # {"id", "title"} of look-alikes
    kinds: list[str] = field(default_factory=list)  # KINDS
    sizes: list[str] = field(default_factory=list)  # size bands
    maturity: str | None = None
    refs: list[str] = field(default_factory=list)
    pricing: str | None = None
    website: str | None = None
    consent_at: str | None = None  # ISO time the contact consent was given


def _r(ctx: Ctx) -> RegistrationState:
    return ctx.state_of(RegistrationState)


def validate_url(text: str) -> str | None:
    value = text.strip()
    if not re.match(r"^https?://", value, re.I):
        value = "https://" + value
    return value if len(value) <= 500 and _URL.match(value) else None


def slug(text: str, limit: int = 60) -> str:
    return (fold(text).replace(" ", "-") or "solution")[:limit].strip("-")


def start(ctx: Ctx) -> None:
    if ctx.person.role is None:
        ctx.person.role = Role.STARTUP
    ctx.end_flow()
    ctx.say("reg_intro")
    ctx.ask("r_org", flow=FLOW)


def cmd_register(ctx: Ctx, args: str) -> None:
    """/inscrire: register a solution (one registration at a time)."""
    if ctx.engine.in_flow(ctx):
        ctx.say("reg_pending" if ctx.flow == FLOW else "busy")
        ctx.reask()
        return
    start(ctx)


# --- names and description --------------------------------------------------------------------
def _p_org(ctx: Ctx) -> None:
    ctx.say("reg_org")


def _name(ctx: Ctx, text: str, key: str, next_step: str) -> None:
    """``key``: the field of :class:`RegistrationState` taking the name (org, title)."""
    if not 2 <= len(text) <= 200:
        ctx.say("reg_name_invalid")
        ctx.reask()
        return
    setattr(_r(ctx), key, text)
    ctx.ask(next_step, flow=FLOW)


def _p_sol(ctx: Ctx) -> None:
    ctx.say("reg_solution")


def _p_desc(ctx: Ctx) -> None:
    ctx.say("reg_description")


def _t_desc(ctx: Ctx, text: str) -> None:
    words = len(text.split())
    if words < MIN_DESCRIPTION_WORDS:
        ctx.say("reg_description_short", n=words)
        return
    r = _r(ctx)
    r.desc = text
    r.themes = [t.fr for t in (find_theme(x) for x in extract_themes(f"{r.title}. {text}")) if t]
    engine, transport, external_id = ctx.engine, ctx.transport, ctx.external_id
    nonce = ctx.data["n"]

    def check_duplicates() -> list[OutMessage]:
        try:
            similar = engine.service.similar_solutions(text, top=3)
        except Exception:
            log.exception("duplicate check failed")
            similar = []

        def step(ctx2: Ctx) -> None:
            if ctx2.step != "r_desc" or ctx2.data.get("n") != nonce:
                return  # the user moved on meanwhile
            if similar:
                _r(ctx2).dups = [{"id": s.solution_id, "title": s.title} for s in similar]
                ctx2.ask("r_dup", flow=FLOW)
            else:
                ctx2.ask("r_themes", flow=FLOW)

        return engine.in_context(transport, external_id, step)

    ctx.defer(check_duplicates)


def _p_dup(ctx: Ctx) -> None:
    lines = [ctx.t("reg_duplicates")]
    lines += [f"• {shorten(d['title'], 90)}" for d in _r(ctx).dups]
    ctx.send(
        "\n".join(lines),
        [ctx.btn("dup", "yes", ctx.t("reg_dup_yes")), ctx.btn("dup", "no", ctx.t("reg_dup_no"))],
    )


def _c_dup(ctx: Ctx, action: str, value: str) -> bool:
    if action != "dup" or value not in ("yes", "no"):
        return False
    if value == "yes":
        ctx.end_flow()
        ctx.say("reg_dup_claim")
    else:
        ctx.ask("r_themes", flow=FLOW)
    return True


# --- toggles ----------------------------------------------------------------------------------
def _p_themes(ctx: Ctx) -> None:
    buttons = theme_buttons(ctx, _r(ctx).themes)
    ctx.send(ctx.t("reg_themes"), [*buttons, ctx.btn("ok", "x", ctx.t("done"))])


def _c_themes(ctx: Ctx, action: str, value: str) -> bool:
    r = _r(ctx)
    if action == "ok":
        if not r.themes:
            ctx.say("reg_themes_required")
            ctx.reask()
        else:
            ctx.ask("r_kinds", flow=FLOW)
        return True
    chosen = toggle_theme(r.themes, value) if action == "th" else None
    if chosen is None:
        return False
    r.themes = chosen
    ctx.reask()
    return True


def _toggle(values: list[str], value: str, order: tuple[str, ...]) -> list[str]:
    chosen = set(values) ^ {value}
    return [v for v in order if v in chosen]


def _multi_select(
    attr: str, action_name: str, options: tuple[str, ...], prompt_key: str, next_key: str
) -> Step:
    """A step toggling ``options`` (labels ``{action_name}_{option}``) into the list
    ``attr`` of :class:`RegistrationState` (kinds, sizes), kept in ``options`` order;
    "done" moves on to ``next_key``."""

    def prompt(ctx: Ctx) -> None:
        chosen = set(getattr(_r(ctx), attr))
        buttons = [
            ctx.btn(action_name, o, tick(ctx.t(f"{action_name}_{o}"), o in chosen)) for o in options
        ]
        ctx.send(ctx.t(prompt_key), [*buttons, ctx.btn("ok", "x", ctx.t("done"))])

    def choose(ctx: Ctx, action: str, value: str) -> bool:
        r = _r(ctx)
        if action == "ok":
            ctx.ask(next_key, flow=FLOW)
            return True
        if action != action_name or value not in options:
            return False
        setattr(r, attr, _toggle(getattr(r, attr), value, options))
        ctx.reask()
        return True

    return Step(prompt, on_choice=choose)


_SIZES = tuple(b.value for b in SIZE_BAND_ORDER)


def _p_maturity(ctx: Ctx) -> None:
    buttons = [
        ctx.btn("mat", m.value, ctx.t(f"maturity_{m.value}").capitalize()) for m in MATURITIES
    ]
    ctx.send(ctx.t("reg_maturity"), buttons)


def _c_maturity(ctx: Ctx, action: str, value: str) -> bool:
    if action != "mat" or value not in {m.value for m in MATURITIES}:
        return False
    _r(ctx).maturity = value
    ctx.ask("r_refs", flow=FLOW)
    return True


# --- free-text answers with skip -------------------------------------------------------------
def _p_refs(ctx: Ctx) -> None:
    ctx.send(ctx.t("reg_references"), [skip_button(ctx)])


def _p_pricing(ctx: Ctx) -> None:
    ctx.send(ctx.t("reg_pricing"), [skip_button(ctx)])


def _p_website(ctx: Ctx) -> None:
    ctx.send(ctx.t("reg_website"), [skip_button(ctx)])


def _skip_to(next_step: str):  # type: ignore[no-untyped-def]
    def handler(ctx: Ctx, action: str, value: str) -> bool:
        if action != "skip":
            return False
        ctx.ask(next_step, flow=FLOW)
        return True

    return handler


def _t_refs(ctx: Ctx, text: str) -> None:
    refs = [shorten(p, 200) for p in re.split(r"[;\n]|,(?![^()]*\))", text) if p.strip()]
    _r(ctx).refs = refs[:20]
    ctx.ask("r_pricing", flow=FLOW)


def _t_pricing(ctx: Ctx, text: str) -> None:
    _r(ctx).pricing = shorten(text, 300)
    ctx.ask("r_website", flow=FLOW)


def _t_website(ctx: Ctx, text: str) -> None:
    url = validate_url(text)
    if url is None:
        ctx.say("reg_website_invalid")
        ctx.reask()
        return
    _r(ctx).website = url
    ctx.ask("r_consent", flow=FLOW)


# --- consent and contact ----------------------------------------------------------------------
def _p_consent(ctx: Ctx) -> None:
    ctx.send(
        ctx.t("reg_consent", version=ctx.engine.settings.privacy_policy_version),
        [
            ctx.btn("cons", "yes", ctx.t("reg_consent_yes")),
            ctx.btn("cons", "no", ctx.t("reg_consent_no")),
            ctx.btn("cons", "cancel", ctx.t("reg_consent_cancel")),
        ],
    )


def _c_consent(ctx: Ctx, action: str, value: str) -> bool:
    if action != "cons" or value not in ("yes", "no", "cancel"):
        return False
    if value == "cancel":
        ctx.end_flow()
        ctx.say("reg_cancelled")
    elif value == "no":
        ctx.say("reg_no_contact")
        _save(ctx, email=None)
    else:
        _r(ctx).consent_at = utcnow().isoformat()
        ctx.ask("r_email", flow=FLOW)
    return True


def _p_email(ctx: Ctx) -> None:
    ctx.say("reg_email")


def _t_email(ctx: Ctx, text: str) -> None:
    email = validate_email(text)
    if email is None:
        ctx.say("reg_email_invalid")
        return
    _save(ctx, email=email)


# --- saving -----------------------------------------------------------------------------------
def _save(ctx: Ctx, *, email: str | None) -> None:
    r = _r(ctx)
    settings = ctx.engine.settings
    org = Organisation(kind=OrgKind.STARTUP, name=r.org, website=r.website)
    ctx.session.add(org)
    ctx.session.flush()
    if ctx.person.organisation_id is None:
        ctx.person.organisation_id = org.id
    desc = r.desc
    first_sentence = re.split(r"(?<=[.!?])\s", desc, maxsplit=1)[0]
    solution = create_solution(
        ctx.session,
        external_id=lambda new_id: f"chat-{slug(r.title)}-{new_id}",
        values={
            "title": r.title,
            "mission": shorten(first_sentence, 300),
            "description": desc,
            "themes": list(r.themes),
            "target_kinds": list(r.kinds),
            "target_size_bands": list(r.sizes),
            "maturity": r.maturity,
            "pricing_model": r.pricing,
            "references": list(r.refs),
            "website": r.website,
            "contact": email,
            "organisation_name": r.org,
            "status": SolutionStatus.PUBLISHED,
        },
        actor=f"chat:{ctx.person.id}",
        source="chat",
        moderation=Moderation.PENDING,
        submitted_by_id=ctx.person.id,
    ).row
    if email is not None:
        given = r.consent_at
        ctx.session.add(
            ConsentRecord(
                person_id=ctx.person.id,
                purpose=CONSENT_PURPOSE,
                policy_version=settings.privacy_policy_version,
                given_at=dt.datetime.fromisoformat(given) if given else utcnow(),
            )
        )
        ctx.person.email = email
    title, solution_id, person_id = r.title, solution.id, ctx.person.id
    ctx.end_flow()
    ctx.say("reg_saved", title=title)
    engine, lang = ctx.engine, ctx.lang

    # new matching needs come in the weekly digest: offer it unless already subscribed
    from digest.commands import subscription_status

    subscribe = (
        [Button(f"{DIGEST_SETTINGS_ACTION}:on", ctx.t("subscribe_digest"))]
        if engine.has_flow("digest")
        and not subscription_status(ctx.session, ctx.person.id).subscribed
        else []
    )

    open_needs = Button(f"{OPEN_NEEDS_ACTION}:list", ctx.t("prop_open_needs_button"))

    def index_and_match() -> list[OutMessage]:
        from core.messages import t

        try:
            engine.service.index_solution(solution_id)
        except Exception:
            log.exception("could not index solution %s", solution_id)
            return [OutMessage(t("reg_index_later", lang), subscribe)]
        # the open needs that fit, as /besoinsouverts shows them: anonymised, none whose
        # buyer turned proposals off
        try:
            needs = open_needs_for(engine.db, engine.service, person_id)[:REG_NEEDS]
        except Exception:
            log.exception("open needs failed for solution %s", solution_id)
            needs = []
        if not needs:
            return [OutMessage(t("reg_needs_none", lang), subscribe)]
        lines = [render_open_need(open_need_dict(n), i, lang) for i, n in enumerate(needs, 1)]
        text = t("reg_needs_header", lang) + "\n\n" + "\n\n".join(lines)
        return [OutMessage(text, [*subscribe, open_needs])]

    ctx.defer(index_and_match)


# --- /messolutions ------------------------------------------------------------------------------
#: Global button action of /messolutions (valid at any step, it never moves the conversation).
SOLUTIONS_ACTION = "sols"


def cmd_my_solutions(ctx: Ctx, args: str) -> None:
    """/messolutions: the solutions this person registered, their review status, and a
    way to withdraw one from the catalogue."""
    solutions = ctx.session.scalars(
        select(Solution)
        .where(Solution.submitted_by_id == ctx.person.id)
        .where(Solution.status != SolutionStatus.ARCHIVED)
        .order_by(Solution.id.desc())
        .limit(10)
    ).all()
    if not solutions:
        ctx.say("mysolutions_none")
    else:
        lines = [ctx.t("mysolutions_header")]
        buttons = []
        for n, sol in enumerate(solutions, start=1):
            lines.append(
                ctx.t(
                    "mysolutions_line",
                    n=n,
                    title=shorten(sol.title, 80),
                    trust=ctx.t(f"trust_{sol.trust_level}"),
                    review=ctx.t(f"review_{sol.moderation}"),
                )
            )
            buttons.append(
                Button(f"{SOLUTIONS_ACTION}:ask:{sol.id}", ctx.t("mysolutions_withdraw", n=n))
            )
        buttons.append(Button(f"{OPEN_NEEDS_ACTION}:list", ctx.t("prop_open_needs_button")))
        ctx.send("\n".join(lines), buttons)
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def _on_solutions(ctx: Ctx, value: str) -> None:
    """``sols:ask:<id>`` asks for confirmation, ``sols:yes:<id>`` withdraws, ``sols:no:<id>``
    keeps it. Only the person who registered a solution may withdraw it."""
    verb, _, raw_id = value.partition(":")
    sol_id = row_id(raw_id)
    sol = ctx.session.get(Solution, sol_id) if sol_id is not None else None
    if (
        verb not in ("ask", "yes", "no")
        or sol is None
        or sol.submitted_by_id != ctx.person.id
        or sol.status == SolutionStatus.ARCHIVED
    ):
        ctx.say("mysolutions_not_found")
    elif verb == "ask":
        ctx.send(
            ctx.t("mysolutions_confirm", title=shorten(sol.title, 80)),
            [
                Button(f"{SOLUTIONS_ACTION}:yes:{sol.id}", ctx.t("mysolutions_confirm_yes")),
                Button(f"{SOLUTIONS_ACTION}:no:{sol.id}", ctx.t("mysolutions_confirm_no")),
            ],
        )
    elif verb == "no":
        ctx.say("mysolutions_kept")
    else:
        archive_solution(ctx.session, sol=sol, actor=f"chat:{ctx.person.id}")
        ctx.say("mysolutions_withdrawn", title=shorten(sol.title, 80))
        reindex_later(ctx, "solution", sol.id)
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def install(engine: Engine) -> None:
    def text(next_key: str, next_step: str):  # type: ignore[no-untyped-def]
        return lambda ctx, value: _name(ctx, value, next_key, next_step)

    engine.register_steps(
        {
            "r_org": Step(_p_org, on_text=text("org", "r_sol")),
            "r_sol": Step(_p_sol, on_text=text("title", "r_desc")),
            "r_desc": Step(_p_desc, on_text=_t_desc, prose=True),
            "r_dup": Step(_p_dup, on_choice=_c_dup),
            "r_themes": Step(_p_themes, on_choice=_c_themes),
            "r_kinds": _multi_select("kinds", "kind", KINDS, "reg_kinds", "r_sizes"),
            "r_sizes": _multi_select("sizes", "size", _SIZES, "reg_sizes", "r_maturity"),
            "r_maturity": Step(_p_maturity, on_choice=_c_maturity),
            "r_refs": Step(_p_refs, on_text=_t_refs, on_choice=_skip_to("r_pricing")),
            "r_pricing": Step(_p_pricing, on_text=_t_pricing, on_choice=_skip_to("r_website")),
            "r_website": Step(_p_website, on_text=_t_website, on_choice=_skip_to("r_consent")),
            "r_consent": Step(_p_consent, on_choice=_c_consent),
            "r_email": Step(_p_email, on_text=_t_email),
        }
    )
    engine.register_command(("inscrire", "register"), cmd_register)
    engine.register_command(("messolutions", "mysolutions"), cmd_my_solutions)
    engine.register_choice(SOLUTIONS_ACTION, _on_solutions)

"""``/digest``: the weekly digest subscription in chat, and the digest's buttons.

Installed by :func:`install` (the wiring installs every flow of ``bot.flows.ALL_FLOWS``).
Every button here is a global action (``engine.register_choice``): valid at any step,
it never moves the conversation; when the user is in the middle of a flow, its question
is asked again afterwards (its buttons stay valid).

* ``dset:<value>`` — the subscription settings shown by ``/digest`` (``on``, ``off``,
  ``days``, ``d:<0-6>``, ``hours``, ``h:<hour>``, ``themes``, ``t:<theme id>``, ``tok``,
  ``email`` (asks for the address: step ``digest_email``), ``noemail``, ``alerts:on|off``).
  Values are absolute (a theme toggle re-shows the current choice), so an old button
  pressed again does no harm. Each change is saved at once with
  :func:`digest.commands.set_subscription` and confirmed.
* ``digest:sol:<id>``, ``digest:rex:<id>``, ``digest:need:<id>``,
  ``digest:intro:<id>`` — emitted by :mod:`digest.compose`: the detail cards.
  ``digest:meet:<s|r|n><id>`` asks for an introduction (double opt-in, consent and caps
  enforced by :func:`matcher.introductions.request_introduction` through the engine).

The cards show public facts only: never a person's name, e-mail or phone.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.flows.shared import DIGEST_SETTINGS_ACTION as SETTINGS_ACTION
from bot.flows.shared import (
    OPEN_NEEDS_ACTION,
    published_solution,
    render_rex_card,
    request_introduction,
    row_id,
    show_rex,
    toggle_theme,
    validate_email,
)
from bot.flows.shared import card_lines as _lines
from bot.flows.shared import theme_list as _themes
from bot.render import _label, shorten
from bot.types import Button, Ctx, Engine, FlowState, OutMessage, Step
from core.domain import IntroStatus, NeedStatus, size_band
from core.messages import t
from core.models import Introduction, Need, Outbox, Solution, Subscription, utcnow
from digest.commands import (
    SubscriptionError,
    describe,
    remove_email,
    request_email,
    set_alerts,
    set_subscription,
    subscription_status,
)
from digest.mail import MailRefused, MailTemporary, send_confirmation
from matcher.anonymise import dep_name, masked_problem
from matcher.procurement import current_band
from matcher.themes import THEMES, find_theme, theme_label

__all__ = [
    "HOURS",
    "install",
    "render_need_card",
    "render_rex_card",
    "render_solution_card",
    "status_text",
]

log = logging.getLogger(__name__)

DIGEST_ACTION = "digest"
#: The hours offered as buttons (Europe/Paris); the API accepts any hour 0-23.
HOURS = (8, 9, 12, 14, 17, 18)
_PENDING_INTRO = (IntroStatus.REQUESTED, IntroStatus.QUEUED)
_MEET_TARGETS = {"s": "solution_id", "r": "experience_id", "n": "need_id"}


# --------------------------------------------------------------------------- pure renderers


def status_text(status: Any, lang: str) -> str:
    """:func:`digest.commands.describe` with the themes in ``lang``."""
    shown = dataclasses.replace(status, themes=[theme_label(x, lang) for x in status.themes])
    return describe(shown, lang)


def render_solution_card(sol: Solution, lang: str) -> str:
    """Title, provider, mission, themes, maturity, trust level, website, catalogue contact.

    The contact is shown only for catalogue entries (imported, not submitted by a chat
    user): a start-up's own e-mail given in chat is personal data.
    """
    contact = sol.contact if sol.contact and sol.submitted_by_id is None else None
    rows = [
        ("digest_card_org", sol.organisation_name),
        ("digest_card_mission", shorten(sol.mission or sol.description or "", 400) or None),
        ("card_themes", _themes(sol.themes, lang)),
        ("digest_card_maturity", _label("maturity", sol.maturity, lang)),
        ("digest_card_trust", _label("trust", str(sol.trust_level), lang)),
        ("digest_card_website", sol.website),
        ("digest_card_contact", contact),
    ]
    return "\n".join([t("digest_card_solution_title", lang, title=sol.title), *_lines(lang, rows)])


def render_need_card(need: Need, lang: str, *, text: str, where: str | None) -> str:
    """The need for a start-up, anonymised as in /besoinsouverts (``matcher.anonymise``):
    the statement with names masked (``text``), themes, département (``where``), size
    band, stage, budget band. Nothing about who wrote it.
    """
    band = need.size_band or (str(size_band(need.population)) if need.population else None)
    rows = [
        ("card_need", text),
        ("card_themes", _themes(need.themes, lang)),
        ("card_territory", where),
        ("digest_card_size", _label("size", band, lang)),
        ("card_stage", _label("stage", need.stage, lang)),
        ("card_budget", _label("budget", current_band(need.budget_band), lang)),
    ]
    return "\n".join([t("digest_card_need_title", lang), *_lines(lang, rows)])


# --------------------------------------------------------------------------- /digest


def _after(ctx: Ctx) -> None:
    """Back to the interrupted flow, if any: its question again (same buttons)."""
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def _menu(ctx: Ctx) -> None:
    status = subscription_status(ctx.session, ctx.person.id)
    on = status.subscribed and not status.paused
    buttons = [
        Button(f"{SETTINGS_ACTION}:off", ctx.t("digest_btn_off"))
        if on
        else Button(f"{SETTINGS_ACTION}:on", ctx.t("digest_btn_on")),
        Button(f"{SETTINGS_ACTION}:days", ctx.t("digest_btn_day")),
        Button(f"{SETTINGS_ACTION}:hours", ctx.t("digest_btn_hour")),
        Button(f"{SETTINGS_ACTION}:themes", ctx.t("digest_btn_themes")),
    ]
    if ctx.transport != "telegram":  # Telegram users get the digest in Telegram
        buttons.append(
            Button(f"{SETTINGS_ACTION}:noemail", ctx.t("digest_btn_email_stop"))
            if status.email
            else Button(f"{SETTINGS_ACTION}:email", ctx.t("digest_btn_email"))
        )
    buttons.append(
        Button(f"{SETTINGS_ACTION}:alerts:off", ctx.t("digest_btn_alerts_off"))
        if status.alerts
        else Button(f"{SETTINGS_ACTION}:alerts:on", ctx.t("digest_btn_alerts_on"))
    )
    ctx.send(status_text(status, ctx.lang) + "\n\n" + ctx.t("digest_settings_question"), buttons)


def cmd_digest(ctx: Ctx, args: str) -> None:
    """/digest: the current subscription and the buttons to change it."""
    _menu(ctx)
    _after(ctx)


def _theme_buttons(ctx: Ctx, chosen: list[str]) -> list[Button]:
    picked = {th.id for th in (find_theme(x) for x in chosen) if th}
    buttons = []
    for theme in THEMES:
        label = theme.en if ctx.lang == "en" else theme.fr
        if theme.id in picked:
            label = f"✓ {label}"
        buttons.append(Button(f"{SETTINGS_ACTION}:t:{theme.id}", label))
    buttons.append(Button(f"{SETTINGS_ACTION}:tok", ctx.t("done")))
    return buttons


def _save(ctx: Ctx, **changes: Any) -> Any:
    try:
        return set_subscription(ctx.session, ctx.person.id, **changes)
    except SubscriptionError as exc:  # only from a forged button: the values are ours
        log.info("digest settings refused (%s): %s", exc.code, exc)
        ctx.say("unexpected")
        return None


def _confirm(ctx: Ctx, status: Any) -> None:
    ctx.send(ctx.t("digest_saved") + "\n" + status_text(status, ctx.lang))


def _on_settings(ctx: Ctx, value: str) -> None:
    """``dset:*`` buttons (see the module docstring)."""
    verb, _, arg = value.partition(":")
    if value == "days":
        buttons = [
            Button(f"{SETTINGS_ACTION}:d:{day}", ctx.t(f"digest_weekday_{day}").capitalize())
            for day in range(7)
        ]
        ctx.send(ctx.t("digest_ask_day"), buttons)
    elif value == "hours":
        buttons = [
            Button(f"{SETTINGS_ACTION}:h:{hour}", ctx.t("digest_hour_button", hour=hour))
            for hour in HOURS
        ]
        ctx.send(ctx.t("digest_ask_hour"), buttons)
    elif value == "themes":
        chosen = subscription_status(ctx.session, ctx.person.id).themes
        ctx.send(ctx.t("digest_ask_themes"), _theme_buttons(ctx, chosen))
    elif value in ("on", "off"):
        status = _save(ctx, cadence="weekly" if value == "on" else "off")
        if status is not None and value == "on":
            _confirm(ctx, status)
        elif status is not None:
            ctx.say("digest_off_done")
    elif verb == "d" and arg.isdigit() and int(arg) <= 6:
        # choosing a day (or an hour, or themes) means wanting the digest: it is turned on
        status = _save(ctx, cadence="weekly", weekday=int(arg))
        if status is not None:
            _confirm(ctx, status)
    elif verb == "h" and arg.isdigit() and int(arg) <= 23:
        status = _save(ctx, cadence="weekly", hour=int(arg))
        if status is not None:
            _confirm(ctx, status)
    elif verb == "t":
        toggled = toggle_theme(subscription_status(ctx.session, ctx.person.id).themes, arg)
        if toggled is None:
            ctx.say("unexpected")
        else:
            status = _save(ctx, cadence="weekly", themes=toggled)
            if status is not None:
                shown = _themes(status.themes, ctx.lang) or ctx.t("digest_all_themes")
                ctx.send(
                    ctx.t("digest_themes_now", themes=shown), _theme_buttons(ctx, status.themes)
                )
    elif value == "tok":
        _confirm(ctx, subscription_status(ctx.session, ctx.person.id))
    elif value == "email":
        if ctx.engine.mailer is None:
            ctx.say("digest_email_unavailable")
        else:  # the address is typed: a step of its own, then back where the person was
            here = ctx.step if ctx.engine.in_flow(ctx) else None
            ctx.put_state(EmailState(back=[ctx.flow, here]))
            ctx.ask(EMAIL_STEP, flow=DIGEST_ACTION)
            return
    elif value == "noemail":
        sub = ctx.session.scalar(
            select(Subscription).where(Subscription.person_id == ctx.person.id)
        )
        if sub is not None:
            remove_email(ctx.session, sub, now=utcnow())
        ctx.say("digest_email_stopped")
    elif verb == "alerts" and arg in ("on", "off"):
        set_alerts(ctx.session, ctx.person.id, arg == "on")
        ctx.say("digest_alerts_on_done" if arg == "on" else "digest_alerts_off_done")
    else:
        ctx.say("unexpected")
    _after(ctx)


# --------------------------------------------------------------------------- e-mail address

EMAIL_STEP = "digest_email"


@dataclass
class EmailState(FlowState):
    """The address step's state (``de``): ``[flow, step]`` to go back to (step None: idle)."""

    KEY = "de"
    back: list[str | None] | None = None


def _back(ctx: Ctx, *, ask: bool = True) -> None:
    """Leave the address step: back to the step the person was at, if any (its question
    asked now, or by the caller later when ``ask`` is False)."""
    flow, step = (ctx.pop_state(EmailState).back or [None, None])[:2]
    ctx.end_flow()
    if step is None:
        return
    if ask:
        ctx.ask(step, flow=flow)
    else:
        ctx.state.flow, ctx.state.step = flow, step


def _p_email(ctx: Ctx) -> None:
    ctx.say("digest_ask_email")


def _t_email(ctx: Ctx, text: str) -> None:
    """The address: stored unconfirmed, then the confirmation link is mailed (after the
    commit); the digest goes there only once the link was followed (double opt-in)."""
    email = validate_email(text)
    if email is None:
        ctx.say("digest_email_invalid")
        return
    mailer = ctx.engine.mailer
    if mailer is None:
        ctx.say("digest_email_unavailable")
        _back(ctx)
        return
    sub_id, email = request_email(ctx.session, ctx.person.id, email)
    settings, lang = ctx.engine.settings, ctx.lang
    engine, transport, external_id = ctx.engine, ctx.transport, ctx.external_id

    def send() -> list[OutMessage]:
        try:
            send_confirmation(settings, mailer, sub_id, email, lang, now=utcnow())
        except (MailRefused, MailTemporary) as exc:
            log.warning("confirmation mail to subscription %s failed: %s", sub_id, exc)
            out = [OutMessage(t("digest_email_failed", lang))]
        else:
            hours = settings.email_confirm_hours
            out = [OutMessage(t("digest_email_sent", lang, email=email, hours=hours))]
        # then the question the person was at before, if any (its buttons, fresh)
        return out + engine.in_context(transport, external_id, _reask_current)

    _back(ctx, ask=False)  # its question comes after the confirmation's outcome (send)
    ctx.defer(send)


def _reask_current(ctx: Ctx) -> None:
    if ctx.engine.in_flow(ctx):
        ctx.reask()


# --------------------------------------------------------------------------- digest buttons


def _meet_button(ctx: Ctx, kind: str, entity_id: int) -> Button:
    return Button(f"{DIGEST_ACTION}:meet:{kind}{entity_id}", ctx.t("ask_intro"))


def _show_solution(ctx: Ctx, solution_id: int) -> None:
    sol = published_solution(ctx, solution_id)
    if sol is None:
        ctx.say("digest_gone")
        return
    ctx.send(render_solution_card(sol, ctx.lang), [_meet_button(ctx, "s", sol.id)])


def _show_need(ctx: Ctx, need_id: int) -> None:
    need = ctx.session.get(Need, need_id)
    if need is None or need.status != NeedStatus.OPEN:
        ctx.say("digest_gone")
        return
    if need.owner_id == ctx.person.id:  # one's own need: as written
        ctx.send(render_need_card(need, ctx.lang, text=shorten(need.raw_text, 600),
                                  where=need.territory_name))  # fmt: skip
        return
    # a start-up reads it anonymised and answers it with a proposal (the buyer opts in),
    # never with a request for the buyer's contact
    buttons = [Button(f"{OPEN_NEEDS_ACTION}:need:{need.id}", ctx.t("prop_propose_this"))]
    if not need.proposals_open or not ctx.engine.has_flow("proposals"):
        buttons = []
    text, where = masked_problem(ctx.session, need, 600), dep_name(ctx.session, need)
    ctx.send(render_need_card(need, ctx.lang, text=text, where=where), buttons)


def _intro_request_message(ctx: Ctx, intro: Introduction) -> OutMessage | None:
    """The request as it was delivered (its outbox message, with accept/decline)."""
    rows = ctx.session.scalars(
        select(Outbox)
        .where(Outbox.person_id == ctx.person.id, Outbox.created_at >= intro.created_at)
        .order_by(Outbox.id)
        .limit(200)
    ).all()
    for row in rows:
        payload = row.payload or {}
        if payload.get("introduction_id") == intro.id and payload.get("buttons"):
            return ctx.engine.render_outbox(payload, ctx.lang)
    return None


def _show_intro(ctx: Ctx, intro_id: int) -> None:
    from matcher.introductions import accept_button_id, decline_button_id

    intro = ctx.session.get(Introduction, intro_id)
    if intro is None or intro.target_person_id != ctx.person.id:
        ctx.say("intro_not_found")
        return
    if intro.status not in _PENDING_INTRO:
        ctx.say("intro_already_answered")
        return
    message = _intro_request_message(ctx, intro)
    if message is None:  # the outbox row was purged: the same buttons, a plainer text
        about = intro.message or intro.target_label or ""
        message = OutMessage(
            ctx.t("digest_intro_pending", about=shorten(about, 300)),
            [
                Button(accept_button_id(intro.id), ctx.t("intro_accept_button")),
                Button(decline_button_id(intro.id), ctx.t("intro_decline_button")),
            ],
        )
    ctx.out.append(message)


def _meet(ctx: Ctx, kind: str, entity_id: int) -> None:
    """Ask for an introduction (offering to leave a contact first if there is none); the
    question the person was at, if any, is asked again after the outcome."""
    then = ctx.step if ctx.engine.in_flow(ctx) else None
    request_introduction(ctx, {_MEET_TARGETS[kind]: entity_id}, then=then)


def _on_digest(ctx: Ctx, value: str) -> None:
    """``digest:*`` buttons (see the module docstring)."""
    kind, _, arg = value.partition(":")
    if kind == "meet" and arg[:1] in _MEET_TARGETS and (target_id := row_id(arg[1:])) is not None:
        _meet(ctx, arg[:1], target_id)
        return  # the flow's question follows the result
    entity_id = row_id(arg)
    if kind == "sol" and entity_id is not None:
        _show_solution(ctx, entity_id)
    elif kind == "rex" and entity_id is not None:
        show_rex(ctx, entity_id)
    elif kind == "need" and entity_id is not None:
        _show_need(ctx, entity_id)
    elif kind == "intro" and entity_id is not None:
        _show_intro(ctx, entity_id)
    else:
        ctx.say("unexpected")
    _after(ctx)


def install(engine: Engine) -> None:
    """Install ``/digest`` and the digest buttons on ``engine``."""
    engine.register_steps({EMAIL_STEP: Step(_p_email, on_text=_t_email)})
    engine.register_command(("digest", "lettre"), cmd_digest)
    engine.register_choice(SETTINGS_ACTION, _on_settings)
    engine.register_choice(DIGEST_ACTION, _on_digest)

"""A buyer's contact, with consent: asked before an introduction request, or with /contact.

An introduction exchanges both sides' contacts once the other side accepts
(:mod:`matcher.introductions`). A buyer who never left one would only be known by the
name of their collectivité, so before sending their first request the bot offers to keep
an e-mail address, saying what for (purpose, policy version, how to withdraw). Giving it
records a ``contact`` consent; a second question asks whether buyers with a similar open
need may ask for an introduction too (``Person.share_contact``, still double opt-in).
"Continuer sans" sends the request anyway and is remembered: the offer is not repeated,
``/contact`` brings it back at any time.

The steps run inside whatever flow the person is in (the buyer's results, usually) and
return to the step they came from, so nothing of that flow is lost.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.engine import Ctx, OutMessage, Step
from core.messages import t
from core.models import utcnow
from core.privacy import record_consent

if TYPE_CHECKING:
    from bot.engine import ConversationEngine

log = logging.getLogger(__name__)

CONSENT_PURPOSE = "contact"
STEP_OFFER, STEP_EMAIL, STEP_SHARE = "k_offer", "k_email", "k_share"
#: Remembered in the profile once the person chose to go on without a contact.
SKIPPED_KEY = "contact_skipped"


def _profile(ctx: Ctx) -> dict[str, Any]:
    return ctx.data.setdefault("profile", {})


# --- entry points -------------------------------------------------------------------------------
def request_introduction(ctx: Ctx, target: dict[str, int | None], *, then: str | None) -> None:
    """Ask for an introduction to ``target``, first offering to leave a contact if the
    person has none and never declined. ``then``: the step of the current flow to ask
    after the request (``None``: stay where the person is)."""
    from matcher.introductions import can_reach

    # no offer when nobody could receive the request: the refusal comes at once
    if (
        ctx.person.email is None
        and not _profile(ctx).get(SKIPPED_KEY)
        and can_reach(ctx.session, **target)
    ):
        ctx.data["k"] = {"target": target, "back": [ctx.flow, then or ctx.step]}
        ctx.ask(STEP_OFFER)
        return
    send_request(ctx, target, back=then, flow=ctx.flow)


def cmd_contact(ctx: Ctx, args: str) -> None:
    """/contact: leave (or change) the e-mail address shared when an introduction is accepted."""
    here = ctx.step if ctx.engine.current(ctx) is not None and ctx.step not in _STEPS else None
    ctx.data["k"] = {"back": [ctx.flow, here]}
    ctx.ask(STEP_OFFER)


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


# --- steps --------------------------------------------------------------------------------------
def _p_offer(ctx: Ctx) -> None:
    text = ctx.t("contact_offer", version=ctx.engine.settings.privacy_policy_version)
    if ctx.person.email:
        text = ctx.t("contact_current", email=ctx.person.email) + "\n\n" + text
    ctx.send(
        text,
        [
            ctx.btn("k", "give", ctx.t("contact_give")),
            ctx.btn("k", "skip", ctx.t("contact_skip")),
        ],
    )


def _c_offer(ctx: Ctx, action: str, value: str) -> bool:
    if action != "k" or value not in ("give", "skip"):
        return False
    if value == "give":
        ctx.ask(STEP_EMAIL)  # the consent is recorded with the address it covers
    else:
        _go_on_without(ctx)
    return True


def _p_email(ctx: Ctx) -> None:
    ctx.send(ctx.t("contact_email"), [ctx.btn("k", "skip", ctx.t("contact_skip"))])


def _t_email(ctx: Ctx, text: str) -> None:
    from bot.flows.startup import validate_email

    email = validate_email(text)
    if email is None:
        ctx.say("reg_email_invalid")
        ctx.reask()
        return
    record_consent(
        ctx.session,
        ctx.person.id,
        purpose=CONSENT_PURPOSE,
        policy_version=ctx.engine.settings.privacy_policy_version,
        now=utcnow(),
    )
    ctx.person.email = email
    _profile(ctx).pop(SKIPPED_KEY, None)
    ctx.ask(STEP_SHARE)


def _p_share(ctx: Ctx) -> None:
    ctx.send(
        ctx.t("contact_share"),
        [
            ctx.btn("k", "share", ctx.t("contact_share_yes")),
            ctx.btn("k", "private", ctx.t("contact_share_no")),
        ],
    )


def _c_share(ctx: Ctx, action: str, value: str) -> bool:
    if action != "k" or value not in ("share", "private"):
        return False
    ctx.person.share_contact = value == "share"
    ctx.say("contact_saved_shared" if value == "share" else "contact_saved")
    _finish(ctx)
    return True


def _c_email_skip(ctx: Ctx, action: str, value: str) -> bool:
    if action != "k" or value != "skip":
        return False
    _go_on_without(ctx)
    return True


def _go_on_without(ctx: Ctx) -> None:
    """ "Continuer sans": remembered, so the offer is not made again (``/contact`` is)."""
    _profile(ctx)[SKIPPED_KEY] = True
    _finish(ctx)


def _finish(ctx: Ctx) -> None:
    """Send the pending request, if any, and go back where the person was."""
    pending = ctx.data.pop("k", {}) or {}
    flow, back = (pending.get("back") or [None, None])[:2]
    target = pending.get("target")
    if back is None:  # the person was idle: leave them idle
        ctx.end_flow()
    if target:
        send_request(ctx, target, back=back, flow=flow)
    elif back is not None:
        ctx.ask(back, flow=flow)


_STEPS = {
    STEP_OFFER: Step(_p_offer, on_choice=_c_offer),
    STEP_EMAIL: Step(_p_email, on_text=_t_email, on_choice=_c_email_skip),
    STEP_SHARE: Step(_p_share, on_choice=_c_share),
}


# --- introduction outcomes ------------------------------------------------------------------------
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


def install(engine: ConversationEngine) -> None:
    engine.register_steps(_STEPS)
    engine.register_command("contact", cmd_contact)

"""A buyer's contact, with consent: asked before an introduction request, or with /contact.

The offer is made by :func:`bot.flows.shared.request_introduction` (every flow that asks
for an introduction goes through it); this module holds its steps.

An introduction exchanges both sides' contacts once the other side accepts
(:mod:`matcher.introductions`). A buyer who never left one would only be known by the
name of their collectivité, so before sending their first request the bot offers to keep
an e-mail address, saying what for (purpose, policy version, how to withdraw). Giving it
records a ``contact`` consent; a second question asks whether buyers with a similar open
need may ask for an introduction too (``Person.share_contact``, still double opt-in).
"Continuer sans" sends the request anyway and is remembered: the offer is not repeated,
``/contact`` brings it back at any time.

The same offer comes before accepting a first introduction (a start-up's proposal, a
peer's request) when the person left no contact: the other side would otherwise receive
only the name of their collectivité. The accept is recorded once the question is
answered, with or without an address.

The steps run inside whatever flow the person is in (the buyer's results, usually) and
return to the step they came from, so nothing of that flow is lost.
"""

from __future__ import annotations

from bot.flows.shared import (
    CONTACT_SKIPPED_KEY,
    ContactState,
    row_id,
    send_request,
    validate_email,
)
from bot.types import Ctx, Engine, Step
from core.domain import IntroStatus
from core.models import Introduction, utcnow
from core.privacy import record_consent

CONSENT_PURPOSE = "contact"


# --- entry point --------------------------------------------------------------------------------
def cmd_contact(ctx: Ctx, args: str) -> None:
    """/contact: leave (or change) the e-mail address shared when an introduction is accepted."""
    here = ctx.step if ctx.engine.current(ctx) is not None and ctx.step not in _STEPS else None
    ctx.put_state(ContactState(back=[ctx.flow, here]))
    ctx.ask("k_offer")


# --- steps --------------------------------------------------------------------------------------
def _on_intro_answer(ctx: Ctx, value: str) -> None:
    """``intro:accept:<id>``: with no contact left (and the offer never declined), offer
    to leave one first; everything else goes to the engine as it is."""
    verb, _, raw_id = value.partition(":")
    person = ctx.person
    intro_id = row_id(raw_id)
    intro = ctx.session.get(Introduction, intro_id) if intro_id is not None else None
    if (
        verb == "accept"
        and intro is not None  # one this person can still answer (else the engine says why)
        and intro.target_person_id == person.id
        and intro.status == IntroStatus.REQUESTED
        and person.email is None
        and person.phone is None
        and not ctx.profile.get(CONTACT_SKIPPED_KEY)
        and ctx.step not in _STEPS
    ):
        here = ctx.step if ctx.engine.current(ctx) is not None else None
        ctx.put_state(ContactState(accept=intro.id, back=[ctx.flow, here]))
        ctx.say("contact_before_accept")
        ctx.ask("k_offer")
        return
    ctx.engine.answer_introduction(ctx, value)


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
        ctx.ask("k_email")  # the consent is recorded with the address it covers
    else:
        _go_on_without(ctx)
    return True


def _p_email(ctx: Ctx) -> None:
    ctx.send(ctx.t("contact_email"), [ctx.btn("k", "skip", ctx.t("contact_skip"))])


def _t_email(ctx: Ctx, text: str) -> None:
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
    ctx.profile.pop(CONTACT_SKIPPED_KEY, None)
    ctx.ask("k_share")


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
    ctx.profile[CONTACT_SKIPPED_KEY] = True
    _finish(ctx)


def _finish(ctx: Ctx) -> None:
    """Send the pending request, if any, and go back where the person was."""
    pending = ctx.pop_state(ContactState)
    flow, back = (pending.back or [None, None])[:2]
    target = pending.target
    if back is None:  # the person was idle: leave them idle
        ctx.end_flow()
    if pending.accept is not None:
        if back is not None:
            ctx.ask(back, flow=flow)
            ctx.out.pop()  # asked again after the answer (answer_introduction does)
        ctx.engine.answer_introduction(ctx, f"accept:{pending.accept}")
    elif target:
        send_request(ctx, target, back=back, flow=flow)
    elif back is not None:
        ctx.ask(back, flow=flow)


_STEPS = {
    "k_offer": Step(_p_offer, on_choice=_c_offer),
    "k_email": Step(_p_email, on_text=_t_email, on_choice=_c_email_skip),
    "k_share": Step(_p_share, on_choice=_c_share),
}


def install(engine: Engine) -> None:
    engine.register_steps(_STEPS)
    engine.register_command("contact", cmd_contact)
    engine.register_choice("intro", _on_intro_answer)

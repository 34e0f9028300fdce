"""Peers after the results: the REX sheet behind every peer line, and its contact request.

Global buttons (valid at any step; the question the person was at is asked again after):

* ``rex:show:<id>`` — the REX sheet (:func:`bot.flows.shared.show_rex`): problem, what
  was tried, the solution used, period, outcome, lessons, and how a contact request would
  reach them (directly, or through a PIU facilitator).
* ``rex:meet:<id>`` — "Demander un contact": an introduction request for that REX
  (:func:`bot.flows.shared.request_introduction`: contact offer first, double opt-in,
  monthly cap per target); every REX is reachable by one of the two routes.
"""

from __future__ import annotations

from bot.flows.shared import REX_ACTION, request_introduction, row_id, show_rex
from bot.types import Ctx, Engine


def _after(ctx: Ctx) -> None:
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def _on_rex(ctx: Ctx, value: str) -> None:
    verb, _, arg = value.partition(":")
    experience_id = row_id(arg)
    if verb == "meet" and experience_id is not None:
        then = ctx.step if ctx.engine.in_flow(ctx) else None
        request_introduction(ctx, {"experience_id": experience_id}, then=then)
        return  # the flow's question follows the outcome
    if verb == "show" and experience_id is not None:
        show_rex(ctx, experience_id)
    else:
        ctx.say("unexpected")
    _after(ctx)


def install(engine: Engine) -> None:
    engine.register_choice(REX_ACTION, _on_rex)

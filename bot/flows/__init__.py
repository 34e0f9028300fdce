"""Conversation flows: each module's ``install`` registers its steps, commands and global
buttons on the engine; :data:`ALL_FLOWS` is the one list of them, in installation order.

A flow module imports :mod:`bot.types` and :mod:`bot.flows.shared`, never another flow.
"""

from bot.flows import (
    buyer,
    common,
    contact,
    digest,
    directory,
    followup,
    peers,
    privacy,
    proposals,
    solutions,
    startup,
)
from bot.types import Flow

__all__ = ["ALL_FLOWS"]

ALL_FLOWS: tuple[Flow, ...] = (
    Flow("common", common.install),
    Flow("contact", contact.install),
    Flow("buyer", buyer.install, start=buyer.start),
    Flow("solutions", solutions.install),
    # the registration takes no opening text: the description is asked for later
    Flow("startup", startup.install, start=lambda ctx, _text: startup.start(ctx)),
    Flow("privacy", privacy.install),
    Flow("digest", digest.install),
    Flow("followup", followup.install),
    Flow("peers", peers.install),
    Flow("proposals", proposals.install),
    Flow("directory", directory.install),
)

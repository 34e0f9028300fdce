"""``piu chat``: the conversation engine in a terminal (buttons as numbered choices)."""

from __future__ import annotations

from collections.abc import Callable

from bot.engine import ConversationEngine
from bot.types import Button, OutMessage

TRANSPORT = "terminal"


def render_messages(messages: list[OutMessage]) -> tuple[str, list[Button]]:
    """The messages as text, buttons numbered from 1 (numbering runs across messages)."""
    lines: list[str] = []
    buttons: list[Button] = []
    for message in messages:
        lines.append(message.text)
        for button in message.buttons:
            if button.url:  # a link, not a choice: shown, not numbered
                lines.append(f"  ↗ {button.label} : {button.url}")
                continue
            buttons.append(button)
            lines.append(f"  [{len(buttons)}] {button.label}")
        lines.append("")
    return "\n".join(lines).rstrip("\n"), buttons


def run_terminal(
    engine: ConversationEngine,
    input_fn: Callable[[str], str] = input,
    output_fn: Callable[[str], object] = print,
    user_id: str = "local",
) -> None:
    """Chat until end of input (Ctrl-D) or Ctrl-C. A number picks a button; text is sent."""
    buttons: list[Button] = []

    def show(messages: list[OutMessage]) -> None:
        nonlocal buttons
        if not messages:
            return
        text, new_buttons = render_messages(messages)
        output_fn(text)
        if new_buttons:
            buttons = new_buttons

    show(engine.resume(TRANSPORT, user_id))  # the welcome, or where the user left off
    while True:
        show(engine.pending_outbox(TRANSPORT, user_id))
        try:
            line = input_fn("> ")
        except (EOFError, KeyboardInterrupt):
            output_fn("")
            return
        entry = line.strip()
        if entry.isdigit() and 1 <= int(entry) <= len(buttons):
            show(engine.handle(TRANSPORT, user_id, choice=buttons[int(entry) - 1].id))
        else:
            show(engine.handle(TRANSPORT, user_id, text=line))

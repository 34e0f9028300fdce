"""Helpers shared by several test modules (no fixtures: those live in conftest.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

#: What tests leave for a person to read (screenshots, transcripts); ignored by git.
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def flat(text: str) -> str:
    """``text`` with French non-breaking spaces as plain ones (for assertions)."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def chat_person(session: Any, transport: str, external_id: str, **kw: Any) -> Any:
    """A person with one chat identity on ``transport``, flushed (its id is set)."""
    from core.models import ChatIdentity, Person

    person = Person(**kw)
    person.identities.append(ChatIdentity(transport=transport, external_id=external_id))
    session.add(person)
    session.flush()
    return person


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any, *, start_timeout: float) -> Iterator[int]:
    """Run ``app`` with uvicorn in a daemon thread on a free local port; yield the port
    once the server has started, stop it on exit."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def chat_client(services: Any, *routers: Any) -> Any:
    """A TestClient over the web-chat router plus ``routers``, served by ``services``
    (from :func:`api.wiring.build_services`)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from api import chat

    app = FastAPI()
    for router in (chat.router, *routers):
        app.include_router(router)
    app.state.settings = services.settings
    app.state.engine = services.engine
    app.state.services = services
    return TestClient(app)


def admin_key(db: Any, name: str) -> str:
    """A fresh facilitator API key (the clear value, shown once)."""
    from api.security import create_key

    with db.session() as s:
        return str(create_key(s, name=name)[1])


def add_solution(db: Any, ext: str, title: str, mission: str) -> int:
    """Insert a bare catalogue solution and return its id."""
    from core.models import Solution

    with db.session() as session:
        sol = Solution(external_id=ext, title=title, mission=mission, description="")
        session.add(sol)
        session.flush()
        return int(sol.id)


class SmtpSink:
    """A real local SMTP server (aiosmtpd) that keeps what it receives.

    ``refuse``: address -> SMTP reply given at RCPT (``"550 5.1.1 no such user"`` is a
    permanent refusal, ``"451 4.3.0 try later"`` a temporary one).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.refuse: dict[str, str] = {}
        self.messages: list[Any] = []  # email.message.EmailMessage, as received
        self._controller: Any = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        from email import policy
        from email.parser import BytesParser

        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in str(m["X-Envelope-To"])]

    def __enter__(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def mail_parts(message: Any) -> tuple[str, str]:
    """(plain text, HTML) of a received multipart/alternative mail."""
    plain = message.get_body(preferencelist=("plain",)).get_content()
    rich = message.get_body(preferencelist=("html",)).get_content()
    return plain, rich


def with_smtp(settings: Any, smtp: SmtpSink, public_url: str, **overrides: Any) -> Any:
    """``settings`` sending through ``smtp`` (no TLS), links starting with ``public_url``."""
    from pydantic import SecretStr

    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_starttls": False,
            "smtp_timeout": 5.0,
            "public_url": public_url,
            "email_secret": SecretStr("test-secret"),
            **overrides,
        }
    )

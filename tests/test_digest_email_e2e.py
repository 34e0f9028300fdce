"""End to end, the real model and the whole HTTP application: a web chat user describes a
need, subscribes, gives and confirms an e-mail address; a facilitator imports a matching
solution; the digest reaches a real local SMTP server with the card and a working one-click
unsubscribe; a rerun sends nothing twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.wiring import build_services
from core.config import Settings
from core.domain import TerritoryKind, fold
from core.messages import t
from core.models import DigestDelivery, Solution, Subscription, Territory, utcnow
from digest.mail import SmtpMailer
from digest.match import IndexMatcher
from digest.run import DigestRunner
from digest.schedule import next_slot
from tests.helpers import SmtpSink, admin_key, mail_parts, with_smtp
from tests.test_engine import LONS

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PARIS = ZoneInfo("Europe/Paris")
SID = "web-e2e-digest-mail"
ADDRESS = "elu.cantines@mairie-exemple.fr"
CATALOGUE = [
    {"id": "velo-cargo", "title": "Vélos cargos partagés",
     "mission": "Prêt de vélos cargos aux familles pour les trajets du quotidien."},
    {"id": "eclairage", "title": "Éclairage public piloté",
     "mission": "Réduire la consommation d'énergie de l'éclairage public la nuit."},
]  # fmt: skip
NEW = {
    "id": "balance-anti-gaspi",
    "title": "Balance anti-gaspi connectée",
    "mission": "Pesée automatique des restes de repas pour réduire le gaspillage alimentaire "
    "dans les cantines scolaires.",
}
OTHER = {
    "id": "stationnement-connecte",
    "title": "Stationnement connecté",
    "mission": "Capteurs de places de stationnement libres en ville.",
}


@pytest.fixture
def app_settings(settings: Settings, smtp: SmtpSink) -> Settings:
    # the TestClient's base URL; the real model
    return with_smtp(settings, smtp, "http://testserver", embedder="model")


def _messages(reply: Any) -> list[dict[str, Any]]:
    assert reply.status_code == 200, reply.text
    return list(reply.json()["messages"])


def _text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


class WebUser:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.last: list[dict[str, Any]] = []

    def open(self) -> list[dict[str, Any]]:
        self.last = _messages(self.client.post("/api/chat/resume", json={"session_id": SID}))
        return self.last

    def say(self, text: str) -> list[dict[str, Any]]:
        self.last = _messages(self.client.post("/api/chat", json={"session_id": SID, "text": text}))
        return self.last

    def press(self, label: str) -> list[dict[str, Any]]:
        ids = [b["id"] for m in self.last for b in m["buttons"] if b["label"] == label]
        assert ids, f"no {label!r} in {[b['label'] for m in self.last for b in m['buttons']]}"
        body = {"session_id": SID, "choice": ids[-1]}
        self.last = _messages(self.client.post("/api/chat", json=body))
        return self.last


def test_web_user_gets_the_digest_by_email_once_and_unsubscribes_in_one_click(
    db: Any, app_settings: Settings, embedder: Any, smtp: SmtpSink
) -> None:
    with db.session() as session:  # the territory the need names
        session.add(
            Territory(kind=TerritoryKind.COMMUNE, code="39300", name="Lons-le-Saunier",
                      name_folded=fold("Lons-le-Saunier"), population=16_618, dep="39",
                      dep_name="Jura", region="27", region_name="Bourgogne-Franche-Comté")
        )  # fmt: skip
    services = build_services(app_settings, db=db, embedder=embedder)
    app = create_app(app_settings, services)
    try:
        with TestClient(app) as client:
            _scenario(client, services, app_settings, smtp)
    finally:
        services.close()


def _scenario(client: TestClient, services: Any, settings: Settings, smtp: SmtpSink) -> None:
    key = admin_key(services.db, "e2e")
    imported = client.post(
        "/api/admin/import/catalogue", json=CATALOGUE, headers={"X-API-Key": key}
    )
    assert imported.status_code == 200, imported.text

    # 1. A web chat user describes a need, confirms it and subscribes to the digest.
    user = WebUser(client)
    user.open()
    user.press(t("role_buyer", "fr"))
    user.say(LONS)
    user.press(t("done", "fr"))
    assert t("need_saved", "fr") in _text(user.press(t("confirm", "fr")))
    assert t("digest_done", "fr") in _text(user.press(t("subscribe_digest", "fr")))

    # 2. ... gives an e-mail address; nothing goes there before the link is followed.
    user.say("/digest")
    assert t("digest_ask_email", "fr") in _text(user.press(t("digest_btn_email", "fr")))
    sent = user.say(ADDRESS)
    assert t("digest_email_sent", "fr", email=ADDRESS, hours=48) in _text(sent)
    (confirmation,) = smtp.to(ADDRESS)
    link = re.search(r"http://testserver/\S+", mail_parts(confirmation)[0])
    assert link is not None
    assert client.get(link.group(0)).status_code == 200  # the page: one button
    assert client.post(link.group(0)).status_code == 200  # the button
    with services.db.session() as s:
        assert s.scalar(select(Subscription.email_confirmed_at)) is not None

    # 3. A facilitator imports a matching solution (and an unrelated one).
    imported = client.post(
        "/api/admin/import/catalogue", json=[NEW, OTHER], headers={"X-API-Key": key}
    )
    assert imported.status_code == 200 and imported.json()["created"] == 2, imported.text
    with services.db.session() as s:
        new_id = s.scalar(select(Solution.id).where(Solution.external_id == NEW["id"]))

    # 4. Monday 9 h (Paris): the digest run.
    at = {"now": next_slot(0, 9, utcnow(), PARIS) + dt.timedelta(minutes=7)}

    def run() -> Any:
        runner = DigestRunner(
            services.db, settings, None, lambda: IndexMatcher(services.matcher),
            mailer=SmtpMailer(settings), now=lambda: at["now"],
        )  # fmt: skip
        return asyncio.run(runner.run())

    report = run()
    assert (report.emails_sent, report.errors, report.paused) == (1, 0, 0), report.summary()
    mail = smtp.to(ADDRESS)[-1]
    plain, rich = mail_parts(mail)
    assert NEW["title"] in plain and NEW["title"] in rich  # the card...
    assert OTHER["title"] not in plain
    card = f"http://testserver/?open=digest:sol:{new_id}"
    assert card in plain and card in rich  # ...and the link back to it in the web chat
    assert client.get(card).status_code == 200
    opened = client.post("/api/chat", json={"session_id": SID, "choice": f"digest:sol:{new_id}"})
    assert t("digest_card_solution_title", "fr", title=NEW["title"]) in _text(_messages(opened))

    # 5. A rerun in the same slot sends nothing twice.
    again = run()
    assert (again.composed, again.emails_sent) == (0, 0), again.summary()
    assert len(smtp.to(ADDRESS)) == 2
    with services.db.session() as s:
        assert [(d.channel, d.status) for d in s.scalars(select(DigestDelivery))] == [
            ("email", "sent")
        ]

    # 6. One click, as a mail client does it (RFC 8058): no more e-mails.
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(mail["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith("http://testserver/api/digest/email/unsubscribe?token=")
    done = client.post(
        unsubscribe,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    with services.db.session() as s:
        assert s.scalar(select(Subscription.email)) is None
    at["now"] += dt.timedelta(days=7)
    later = run()
    assert later.emails_sent == 0 and len(smtp.to(ADDRESS)) == 2, later.summary()

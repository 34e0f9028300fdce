"""The digest by e-mail and in the web chat's inbox: double opt-in, SMTP replies, alerts.

A real local SMTP server (aiosmtpd) receives the mails; the web chat runs through the
real engine and routers; the matcher is the real IndexMatcher over the hashing embedder
(its threshold lowered to the hashing vectors' scale: the real model's is in the slow
end-to-end test).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from api.routes import email as email_routes
from api.routes import subscriptions
from api.wiring import build_services
from core.config import Settings
from core.domain import NeedStatus, Role
from core.messages import t
from core.models import (
    ChatIdentity,
    ConsentRecord,
    DigestDelivery,
    Need,
    Outbox,
    Person,
    Solution,
    Subscription,
    utcnow,
)
from core.privacy import export_person, withdraw_consent
from digest.mail import (
    CONFIRM,
    UNSUBSCRIBE,
    MailTemporary,
    SmtpMailer,
    digest_message,
    sign,
    verify,
)
from digest.match import IndexMatcher
from digest.run import DigestRunner
from digest.schedule import next_slot
from tests.helpers import SmtpSink, chat_client, free_port, mail_parts, with_smtp

PARIS = ZoneInfo("Europe/Paris")
SID = "web-session-email-1"
ADDRESS = "agent@mairie-exemple.fr"
NEED = "Réduire le gaspillage alimentaire dans les cantines scolaires de la commune"
MATCHING = (
    "Pesée anti-gaspi",
    "Pesée des restes pour réduire le gaspillage alimentaire dans les cantines scolaires",
)
SECOND = ("Pesée anti-gaspi 2", MATCHING[1] + " et les restaurants")
UNRELATED = ("Capteurs de stationnement", "Places de parking libres signalées en temps réel")
HASHING_MIN = 0.3  # the hashing vectors' scale (IndexMatcher's default is the model's)


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpSink) -> Settings:
    return with_smtp(settings, smtp, "https://piu.example.fr")


@pytest.fixture
def services(db: Any, mail_settings: Settings, hashing_embedder: Any) -> Iterator[Any]:
    svc = build_services(mail_settings, db=db, embedder=hashing_embedder)
    yield svc
    svc.close()


@pytest.fixture
def client(services: Any) -> Any:
    return chat_client(services, subscriptions.router, email_routes.router)


def _press(client: Any, label: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [b["id"] for m in messages for b in m["buttons"] if b["label"] == label]
    assert ids, f"no button {label!r} in {[b['label'] for m in messages for b in m['buttons']]}"
    reply = client.post("/api/chat", json={"session_id": SID, "choice": ids[-1]})
    assert reply.status_code == 200
    return list(reply.json()["messages"])


def _say(client: Any, text: str) -> list[dict[str, Any]]:
    reply = client.post("/api/chat", json={"session_id": SID, "text": text})
    assert reply.status_code == 200
    return list(reply.json()["messages"])


def _texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def _web_buyer(services: Any, client: Any) -> int:
    """A web chat user (a collectivité) with one open need, indexed."""
    client.post("/api/chat/resume", json={"session_id": SID})
    with services.db.session() as s:
        person_id = s.scalar(select(ChatIdentity.person_id).where(ChatIdentity.external_id == SID))
        person = s.get(Person, person_id)
        assert person is not None
        person.role = Role.BUYER
        need = Need(owner_id=person_id, raw_text=NEED, status=NeedStatus.OPEN, language="fr")
        s.add(need)
        s.flush()
        need_id = need.id
    services.matcher.index_need(need_id)
    return int(person_id)


def _give_address(client: Any, smtp: SmtpSink, address: str = ADDRESS) -> str:
    """``/digest`` -> "by e-mail" -> the address; returns the confirmation link."""
    menu = _say(client, "/digest")
    asked = _press(client, t("digest_btn_email", "fr"), menu)
    assert t("digest_ask_email", "fr") in _texts(asked)
    done = _say(client, address)
    assert t("digest_email_sent", "fr", email=address, hours=48) in _texts(done)
    (mail,) = smtp.to(address)[-1:]
    plain, rich = mail_parts(mail)
    assert mail["Subject"] == t("email_confirm_subject", "fr")
    link = re.search(r"https://piu\.example\.fr\S+", plain)
    assert link is not None
    assert link.group(0).replace("&", "&amp;") in rich  # the same link, HTML-escaped
    return link.group(0)


def _local(url: str) -> str:
    return url.replace("https://piu.example.fr", "")


def _add_solution(services: Any, title: str, mission: str, **kw: Any) -> int:
    with services.db.session() as s:
        sol = Solution(external_id=title.lower().replace(" ", "-"), title=title, mission=mission,
                       description=mission, **kw)  # fmt: skip
        s.add(sol)
        s.flush()
        sol_id = sol.id
    services.matcher.index_solution(sol_id)
    return int(sol_id)


def _runner(services: Any, settings: Settings, at: dict[str, dt.datetime]) -> DigestRunner:
    return DigestRunner(
        services.db,
        settings,
        None,
        lambda: IndexMatcher(services.matcher, need_min=HASHING_MIN),
        mailer=SmtpMailer(settings),
        now=lambda: at["now"],
    )


def _monday() -> dict[str, dt.datetime]:
    return {"now": next_slot(0, 9, utcnow(), PARIS) + dt.timedelta(minutes=7)}


def _next_week_new_solution(services: Any, at: dict[str, dt.datetime]) -> None:
    """A week later, with a second matching solution imported the day before."""
    at["now"] += dt.timedelta(days=7)
    created = at["now"] - dt.timedelta(days=1)
    _add_solution(services, *SECOND, created_at=created)


def _confirmed_buyer(services: Any, client: Any, smtp: SmtpSink) -> dict[str, dt.datetime]:
    """A web buyer with a confirmed address; the next Monday 9 h slot."""
    _web_buyer(services, client)
    client.post(_local(_give_address(client, smtp)))
    return _monday()


# -- double opt-in ---------------------------------------------------------------------------
def test_an_address_is_used_only_once_confirmed_by_its_link(
    services: Any, client: Any, smtp: SmtpSink, mail_settings: Settings
) -> None:
    person_id = _web_buyer(services, client)
    link = _give_address(client, smtp)
    with services.db.session() as s:
        sub = s.scalar(select(Subscription).where(Subscription.person_id == person_id))
        assert sub is not None and sub.email == ADDRESS and sub.email_confirmed_at is None
    # opening the link (a mail scanner does) confirms nothing: a page with one button
    page = client.get(_local(link))
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert escape(t("email_page_confirm", "fr", email=ADDRESS)) in page.text
    with services.db.session() as s:
        assert s.scalar(select(Subscription.email_confirmed_at)) is None
    # a forged or altered link: a polite page, nothing changes
    bad = client.post(_local(link)[:-3] + "xyz")
    assert bad.status_code == 400 and escape(t("email_page_invalid", "fr")) in bad.text
    done = client.post(_local(link))
    assert (
        done.status_code == 200
        and escape(t("email_page_confirmed", "fr", email=ADDRESS)) in done.text
    )
    with services.db.session() as s:
        assert s.scalar(select(Subscription.email_confirmed_at)) is not None
        consents = s.scalars(select(ConsentRecord.purpose)).all()
        assert "digest_email" in consents
    status = client.get("/api/chat/subscription", params={"session_id": SID}).json()
    assert t("digest_status_email", "fr", email=ADDRESS) in status["description"]


def test_links_expire_and_die_with_a_changed_address(mail_settings: Settings) -> None:
    now = utcnow()
    token = sign(mail_settings, CONFIRM, 7, ADDRESS, expires=now + dt.timedelta(hours=48))
    assert verify(mail_settings, CONFIRM, token, ADDRESS, now=now)
    assert not verify(mail_settings, CONFIRM, token, ADDRESS, now=now + dt.timedelta(hours=49))
    assert not verify(mail_settings, CONFIRM, token, "other@mairie.fr", now=now)
    assert not verify(mail_settings, UNSUBSCRIBE, token, ADDRESS, now=now)  # other purpose
    other_key = mail_settings.model_copy(update={"email_secret": SecretStr("another")})
    assert not verify(other_key, CONFIRM, token, ADDRESS, now=now)
    forever = sign(mail_settings, UNSUBSCRIBE, 7, ADDRESS, expires=None)
    assert verify(mail_settings, UNSUBSCRIBE, forever, ADDRESS, now=now + dt.timedelta(days=900))


def test_a_bad_address_is_refused_politely_and_changes_nothing(
    services: Any, client: Any, smtp: SmtpSink
) -> None:
    _web_buyer(services, client)
    asked = _press(client, t("digest_btn_email", "fr"), _say(client, "/digest"))
    assert asked
    again = _say(client, "pas une adresse")
    assert t("digest_email_invalid", "fr") in _texts(again)
    with services.db.session() as s:
        assert s.scalar(select(Subscription.email)) is None
    assert smtp.messages == []
    api = client.post("/api/chat/subscription/email", json={"session_id": SID, "email": "x@"})
    assert api.status_code == 422


# -- delivery --------------------------------------------------------------------------------
async def test_digest_mail_text_html_card_links_and_exactly_once(
    services: Any, client: Any, smtp: SmtpSink, mail_settings: Settings
) -> None:
    at = _confirmed_buyer(services, client, smtp)
    sol_id = _add_solution(services, *MATCHING)
    _add_solution(services, *UNRELATED)
    report = await _runner(services, mail_settings, at).run()
    assert (report.emails_sent, report.errors, report.paused) == (1, 0, 0), report.summary()
    mail = smtp.to(ADDRESS)[-1]
    assert mail["Subject"].startswith("PIU — les nouveautés depuis le")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.get_content_type() == "multipart/alternative"
    plain, rich = mail_parts(mail)
    assert MATCHING[0] in plain and MATCHING[0] in rich
    assert UNRELATED[0] not in plain
    card = f"https://piu.example.fr/?open=digest:sol:{sol_id}"
    assert card in plain and card in rich
    assert "<img" not in rich and "src=" not in rich and "<script" not in rich
    # the same digest is in the web chat when the person comes back
    back = client.post("/api/chat/resume", json={"session_id": SID}).json()["messages"]
    assert MATCHING[0] in _texts(back)
    assert any(b["id"] == f"digest:sol:{sol_id}" for m in back for b in m["buttons"])
    # the card link's choice opens the card in the chat
    opened = client.post("/api/chat", json={"session_id": SID, "choice": f"digest:sol:{sol_id}"})
    assert t("digest_card_solution_title", "fr", title=MATCHING[0]) in _texts(
        opened.json()["messages"]
    )
    # again in the same slot: nothing twice (no mail, no second inbox copy)
    again = await _runner(services, mail_settings, at).run()
    assert (again.composed, again.emails_sent) == (0, 0), again.summary()
    assert len(smtp.to(ADDRESS)) == 2  # the confirmation and one digest
    with services.db.session() as s:
        rows = s.scalars(select(DigestDelivery)).all()
        assert [(r.channel, r.status) for r in rows] == [("email", "sent")]
        assert s.scalars(select(Outbox).where(Outbox.delivered_at.is_(None))).all() == []


async def test_temporary_refusal_retries_and_permanent_refusal_pauses(
    services: Any, client: Any, smtp: SmtpSink, mail_settings: Settings
) -> None:
    at = _confirmed_buyer(services, client, smtp)
    _add_solution(services, *MATCHING)
    smtp.refuse[ADDRESS] = "451 4.3.0 mailbox busy, try later"
    first = await _runner(services, mail_settings, at).run()
    assert (first.emails_sent, first.errors, first.paused) == (0, 1, 0), first.summary()
    with services.db.session() as s:
        (row,) = s.scalars(select(DigestDelivery)).all()
        assert (row.status, row.attempts) == ("pending", 1) and "451" in (row.last_error or "")
    del smtp.refuse[ADDRESS]
    at["now"] += dt.timedelta(hours=1)  # the next hourly run
    second = await _runner(services, mail_settings, at).run()
    assert (second.emails_sent, second.errors) == (1, 0), second.summary()
    assert len(smtp.to(ADDRESS)) == 2  # confirmation + the digest, once

    # next week the mailbox is gone: 550 pauses the subscription (the inbox keeps it)
    _next_week_new_solution(services, at)
    smtp.refuse[ADDRESS] = "550 5.1.1 no such user"
    third = await _runner(services, mail_settings, at).run()
    assert (third.emails_sent, third.paused) == (0, 1), third.summary()
    with services.db.session() as s:
        sub = s.scalar(select(Subscription))
        assert sub is not None and sub.paused and "550" in (sub.paused_reason or "")
    status = client.get("/api/chat/subscription", params={"session_id": SID}).json()
    assert status["paused"] is True


def test_an_unreachable_relay_is_temporary(mail_settings: Settings) -> None:
    closed = mail_settings.model_copy(update={"smtp_port": free_port()})
    msg = digest_message(
        closed, to=ADDRESS, subject="s", parts=[("x", [])], lang="fr", unsubscribe="https://u"
    )
    with pytest.raises(MailTemporary):
        SmtpMailer(closed).send(msg)


async def test_one_click_unsubscribe_then_the_inbox_only(
    services: Any, client: Any, smtp: SmtpSink, mail_settings: Settings
) -> None:
    at = _confirmed_buyer(services, client, smtp)
    _add_solution(services, *MATCHING)
    await _runner(services, mail_settings, at).run()
    mail = smtp.to(ADDRESS)[-1]
    url = str(mail["List-Unsubscribe"]).strip("<>")
    page = client.get(_local(url))  # opening it changes nothing
    assert page.status_code == 200 and escape(t("email_page_unsubscribe", "fr")) in page.text
    with services.db.session() as s:
        assert s.scalar(select(Subscription.email)) == ADDRESS
    done = client.post(
        _local(url),
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and escape(t("email_page_unsubscribed", "fr")) in done.text
    assert client.post(_local(url)).status_code == 200  # a second click: still done
    with services.db.session() as s:
        sub = s.scalar(select(Subscription))
        assert sub is not None and sub.email is None and sub.email_confirmed_at is None
        assert all(c.withdrawn_at is not None for c in s.scalars(select(ConsentRecord)))
    # the next week: nothing by e-mail, the digest waits in the web chat
    _next_week_new_solution(services, at)
    before = len(smtp.messages)
    report = await _runner(services, mail_settings, at).run()
    assert (report.inbox, report.emails_sent) == (1, 0), report.summary()
    assert len(smtp.messages) == before
    back = client.post("/api/chat/resume", json={"session_id": SID}).json()["messages"]
    assert "Pesée anti-gaspi 2" in _texts(back)


async def test_web_users_without_an_address_find_the_digest_in_the_chat(
    services: Any, client: Any, smtp: SmtpSink, mail_settings: Settings
) -> None:
    _web_buyer(services, client)
    put = client.put(
        "/api/chat/subscription", params={"session_id": SID}, json={"cadence": "weekly"}
    )
    assert put.status_code == 200 and put.json()["subscribed"]
    at = _monday()
    _add_solution(services, *MATCHING)
    report = await _runner(services, mail_settings, at).run()
    assert (report.composed, report.inbox, report.emails_sent) == (1, 1, 0), report.summary()
    assert smtp.messages == []
    inbox = client.get("/api/chat/inbox", params={"session_id": SID}).json()["messages"]
    assert MATCHING[0] in _texts(inbox)
    assert client.get("/api/chat/inbox", params={"session_id": SID}).json()["messages"] == []
    again = await _runner(services, mail_settings, at).run()
    assert again.composed == 0
    with services.db.session() as s:
        assert len(s.scalars(select(Outbox)).all()) == len(inbox)


# -- alerts ----------------------------------------------------------------------------------
async def test_alerts_are_off_by_default_then_at_most_one_a_day(
    services: Any, client: Any, smtp: SmtpSink, mail_settings: Settings
) -> None:
    _web_buyer(services, client)
    client.post(_local(_give_address(client, smtp)))
    at = {"now": utcnow() + dt.timedelta(minutes=1)}
    _add_solution(services, *MATCHING)
    runner = _runner(services, mail_settings, at)
    off = await runner.run_alerts()
    assert off.alerts == 0 and len(smtp.to(ADDRESS)) == 1  # the confirmation only
    on = _press(client, t("digest_btn_alerts_on", "fr"), _say(client, "/digest"))
    assert t("digest_alerts_on_done", "fr") in _texts(on)
    # the hashing scores are not the model's: the alert threshold is the test's
    import digest.run as run_module

    saved = run_module.ALERT_MIN_SCORE
    run_module.ALERT_MIN_SCORE = HASHING_MIN
    try:
        first = await runner.run_alerts()
        assert (first.alerts, first.emails_sent) == (1, 1), first.summary()
        alert = smtp.to(ADDRESS)[-1]
        assert alert["Subject"] == t("email_alert_subject", "fr")
        assert t("alert_header", "fr") in mail_parts(alert)[0]
        at["now"] += dt.timedelta(minutes=30)
        _add_solution(services, *SECOND)
        second = await runner.run_alerts()
        assert second.alerts == 0  # one a day: it waits for the digest
    finally:
        run_module.ALERT_MIN_SCORE = saved
    # the weekly digest still lists both (alerts move no watermark)
    at["now"] = next_slot(0, 9, at["now"], PARIS) + dt.timedelta(minutes=7)
    weekly = await runner.run()
    assert weekly.emails_sent == 1, weekly.summary()
    plain = mail_parts(smtp.to(ADDRESS)[-1])[0]
    assert MATCHING[0] in plain and "Pesée anti-gaspi 2" in plain


# -- rendering and privacy -------------------------------------------------------------------
def test_the_html_part_escapes_everything(mail_settings: Settings) -> None:
    msg = digest_message(
        mail_settings,
        to=ADDRESS,
        subject="s",
        parts=[('<script>alert(1)</script> & <img src="http://x">', [[("<b>", "digest:sol:1")]])],
        lang="fr",
        unsubscribe="https://piu.example.fr/api/digest/email/unsubscribe?token=1.0.a",
    )
    plain, rich = mail_parts(msg)
    assert "<script>" not in rich and "&lt;script&gt;" in rich
    assert "<img" not in rich and "&lt;b&gt;" in rich
    assert "<script>alert(1)</script>" in plain


def test_the_address_is_exported_and_erased_with_its_consent(
    services: Any, client: Any, smtp: SmtpSink
) -> None:
    person_id = _web_buyer(services, client)
    client.post(_local(_give_address(client, smtp)))
    with services.db.session() as s:
        exported = export_person(s, person_id)
        assert ADDRESS in str(exported)
        withdraw_consent(s, person_id, purpose="digest_email", now=utcnow())
    with services.db.session() as s:
        sub = s.scalar(select(Subscription))
        assert sub is not None and sub.email is None and sub.email_confirmed_at is None


def test_giving_an_address_mid_flow_comes_back_to_the_question(
    services: Any, client: Any, smtp: SmtpSink
) -> None:
    welcome = client.post("/api/chat/resume", json={"session_id": SID}).json()["messages"]
    asked = _press(client, t("role_buyer", "fr"), welcome)
    question = asked[-1]["text"]
    assert question.startswith("Décrivez votre besoin")
    _press(client, t("digest_btn_email", "fr"), _say(client, "/digest"))
    done = _say(client, ADDRESS)
    # the outcome, then the buyer flow's question again (the step it was at)
    assert t("digest_email_sent", "fr", email=ADDRESS, hours=48) in done[0]["text"]
    assert done[-1]["text"] == question
    back = client.post("/api/chat/resume", json={"session_id": SID}).json()["messages"]
    assert back[-1]["text"] == question
    assert len(smtp.to(ADDRESS)) == 1

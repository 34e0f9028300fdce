"""A digest e-mail's card link in headless Chromium: ``/?open=digest:sol:<id>`` opens the
web chat, shows what is new first (the inbox), then the card; the address bar is cleaned.
A real server (hashing embedder), a real local SMTP server."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api.app import create_app
from api.wiring import build_services
from core.config import Settings
from core.domain import NeedStatus, Role
from core.models import ChatIdentity, Need, Person, Subscription, utcnow
from digest.commands import confirm_email, request_email
from digest.mail import SmtpMailer
from digest.match import IndexMatcher
from digest.run import DigestRunner
from tests.helpers import SmtpSink, add_solution, mail_parts, serve, with_smtp

pytestmark = [pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("Chromium/chromedriver not installed", allow_module_level=True)


def test_the_mails_card_link_opens_the_card_in_the_web_chat(
    db: Any, settings: Settings, hashing_embedder: Any, smtp: SmtpSink, tmp_path: Path
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    mail_settings = with_smtp(settings, smtp, "http://127.0.0.1:1")  # replaced below
    services = build_services(mail_settings, db=db, embedder=hashing_embedder)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=900,1200", f"--user-data-dir={tmp_path / 'p'}",
    ):  # fmt: skip
        options.add_argument(flag)
    with serve(create_app(mail_settings, services), start_timeout=30) as port:
        base = f"http://127.0.0.1:{port}"
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        wait = WebDriverWait(driver, 60, poll_frequency=0.1)

        def bot_texts() -> list[str]:
            return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log li.bot")]

        try:
            driver.get(base + "/")
            wait.until(lambda d: any("Vous êtes" in x for x in bot_texts()))
            with services.db.session() as s:  # the page's visitor: a subscribed buyer
                person_id = s.scalar(select(ChatIdentity.person_id))
                person = s.get(Person, person_id)
                assert person is not None
                person.role = Role.BUYER
                text = "Réduire le gaspillage alimentaire des cantines scolaires"
                need = Need(owner_id=person_id, status=NeedStatus.OPEN, raw_text=text)
                s.add(need)
                s.flush()
                need_id = need.id
            services.matcher.index_need(need_id)
            with services.db.session() as s:
                sub_id, _ = request_email(s, person_id, "elu@mairie.fr")
                sub = s.get(Subscription, sub_id)
                assert sub is not None
                sub.created_at = sub.watermark = utcnow() - dt.timedelta(days=8)
                confirm_email(s, sub, now=utcnow(), policy="test")
            sol_id = add_solution(
                services.db, "pesee", "Pesée anti-gaspi",
                "Pesée des restes pour réduire le gaspillage alimentaire des cantines scolaires",
            )  # fmt: skip
            services.matcher.index_solution(sol_id)
            runner = DigestRunner(
                services.db, mail_settings.model_copy(update={"public_url": base}), None,
                lambda: IndexMatcher(services.matcher, need_min=0.3),
                mailer=SmtpMailer(mail_settings),
            )  # fmt: skip
            report = asyncio.run(runner.run(force=True))
            assert report.emails_sent == 1, report.summary()
            link = re.search(
                r"http://127\.0\.0\.1:\d+/\?open=\S+", mail_parts(smtp.messages[-1])[0]
            )
            assert link is not None and link.group(0).endswith(f"digest:sol:{sol_id}")

            driver.get(link.group(0))
            wait.until(
                lambda d: any("Pesée anti-gaspi" in x and "Mission" in x for x in bot_texts())
            )
            texts = bot_texts()
            news = next(i for i, x in enumerate(texts) if "Votre lettre PIU" in x)
            card = next(i for i, x in enumerate(texts) if "Mission" in x)
            assert news < card  # what is new first, then the card asked for
            assert driver.current_url == base + "/"  # the address bar no longer opens it
        finally:
            driver.quit()
            services.close()

"""The web chat in headless Chromium (selenium + /usr/bin/chromedriver): a real server with
the demo data and the real model, a buyer typing a need and clicking through to the
results, then reloading the page (the conversation resumes); a screenshot is saved to
``artifacts/webchat.png``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.config import REPO_ROOT, Settings
from core.db import Database
from tests.helpers import serve

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
)
ARTIFACTS = REPO_ROOT / "artifacts"
NEED = (
    "Je suis adjointe au maire de Lons-le-Saunier. Nous voulons tester une solution pour "
    "réduire le gaspillage alimentaire dans les cantines scolaires, budget 30 000 €, d'ici juin."
)

if (CHROMIUM is None or CHROMEDRIVER is None) and not os.environ.get("CI"):
    pytest.skip(
        "Chromium/chromedriver not installed (apt-get install chromium chromium-driver); "
        "in CI this test must run",
        allow_module_level=True,
    )


@pytest.fixture
def _server(demo_db: Database, demo_settings: Settings, service, embedder):  # type: ignore[no-untyped-def]
    from api.app import create_app
    from api.wiring import build_services

    services = build_services(demo_settings, db=demo_db, matcher=service)
    app = create_app(demo_settings, services, load_indexes=False)
    with serve(app, start_timeout=30) as port:
        yield f"http://127.0.0.1:{port}"


def test_webchat_buyer_flow_in_chromium(_server: str, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1000,1400", f"--user-data-dir={tmp_path / 'p'}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    wait = WebDriverWait(driver, 60, poll_frequency=0.1)
    try:
        driver.get(_server + "/")

        def bot_texts() -> list[str]:
            return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log li.bot")]

        wait.until(lambda d: any("Vous êtes" in x for x in bot_texts()))
        box = driver.find_element(By.ID, "text")
        box.send_keys(NEED)
        driver.find_element(By.ID, "send").click()
        wait.until(lambda d: len(bot_texts()) >= 3)

        def click(label: str) -> None:
            count = len(bot_texts())
            buttons = [
                b for b in driver.find_elements(By.CSS_SELECTOR, "#log .buttons button")
                if label in b.text
            ]  # fmt: skip
            assert buttons, f"no button {label!r}"
            buttons[-1].click()
            wait.until(
                lambda d: (
                    len(bot_texts()) > count and driver.find_element(By.ID, "send").is_enabled()
                )
            )

        for _ in range(6):  # answer what is asked until the scope card
            if any("Fiche besoin" in x for x in bot_texts()[-2:]):
                break
            last = driver.find_elements(By.CSS_SELECTOR, "#log li.bot")[-1]
            labels = [b.text for b in last.find_elements(By.CSS_SELECTOR, "button")]
            click(
                "Terminé" if "Terminé" in labels else "Passer" if "Passer" in labels else labels[0]
            )
        assert any("Fiche besoin" in x for x in bot_texts())
        click("Confirmer")
        wait.until(lambda d: any("Plus de résultats" in b.text for b in
                                 d.find_elements(By.CSS_SELECTOR, "#log button")))  # fmt: skip
        page = "\n".join(bot_texts())
        assert "Votre besoin est enregistré" in page
        assert "1. " in page and "2. " in page
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "webchat.png"
        shot.unlink(missing_ok=True)
        driver.execute_script("var l=document.getElementById('log'); l.scrollTop=l.scrollHeight;")
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000
        # a reload keeps the conversation: the results' actions come back, with buttons
        driver.refresh()
        wait.until(lambda d: any("Et maintenant" in x for x in bot_texts()))
        assert not any("Vous êtes" in x for x in bot_texts())
        click("Nouveau besoin")
        assert any("Décrivez votre besoin" in x for x in bot_texts()[-2:])
    finally:
        driver.quit()

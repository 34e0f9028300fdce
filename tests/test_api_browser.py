"""The analytics page in headless Chromium: a real server, a real browser, a screenshot
saved to ``artifacts/analytics.png``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from api.app import create_app
from api.security import create_key
from api.wiring import build_services
from core.config import REPO_ROOT, Settings
from core.db import Database
from tests.helpers import serve
from tests.test_api import _activity

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium", path="/usr/bin")
ARTIFACTS = REPO_ROOT / "artifacts"


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=8000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")
def test_analytics_page_screenshot(settings: Settings, db: Database, tmp_path: Path) -> None:
    _activity(db)
    with db.session() as session:
        _, key = create_key(session, name="browser")
    services = build_services(settings, db=db, ready=False)
    app = create_app(settings, services, load_indexes=False)
    with serve(app, start_timeout=20) as port:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "analytics.png"
        shot.unlink(missing_ok=True)
        # Chromium cannot send a custom header from the command line: a local page posts
        # the key to the login form, which sets the cookie and redirects to the dashboard.
        login = tmp_path / "login.html"
        login.write_text(
            f"""<form id=f method=post action="http://127.0.0.1:{port}/admin/login">
<input name=key value="{key}"></form><script>document.getElementById('f').submit()</script>""",
            encoding="utf-8",
        )
        dom = _chromium(tmp_path, "--dump-dom", login.as_uri())
        assert "Entonnoir" in dom.stdout and dom.stdout.count("<svg") == 6, dom.stderr[-2000:]
        shot_run = _chromium(
            tmp_path, "--hide-scrollbars", "--window-size=1400,2000", f"--screenshot={shot}",
            login.as_uri(),
        )  # fmt: skip
        assert shot.exists() and shot.stat().st_size > 20_000, shot_run.stderr[-2000:]

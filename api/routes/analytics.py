"""Facilitators' analytics: the HTML page with inline SVG charts, and the funnel data.

Access: header ``X-API-Key``, or the login form at ``/admin/login`` (the key is POSTed,
never put in a URL) which opens a server-side login session: an HttpOnly, SameSite=Lax
cookie holding a random token (not the key), accepted for GET requests only, valid
8 hours, ended by ``/admin/logout`` or by revoking the key.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from string import Template
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import analytics, charts
from api.deps import ADMIN_COOKIE, AdminDep, ServicesDep, SessionDep
from api.schemas import Funnel, FunnelStage
from api.security import AuthError, close_session, open_session, principal_for
from api.wiring import Services
from core.models import utcnow

router = APIRouter(tags=["analytics"])

COOKIE_MAX_AGE = 8 * 3600
MAX_LOGIN_BODY = 1_000

#: Every user-facing string of the page: French first, English second.
LABELS = {
    "title": "PIU — tableau de bord des facilitateurs / facilitators' dashboard",
    "login_title": "PIU — connexion facilitateur / facilitator login",
    "login_key": "Clé d'API / API key",
    "login_submit": "Se connecter / Log in",
    "login_bad": "Clé refusée / Key refused",
    "logout": "Se déconnecter / Log out",
    "needs_theme": "Besoins par thème et par semaine / Needs by theme, weekly",
    "needs_band": "Besoins par taille de collectivité / Needs by size band, weekly",
    "trust": "Solutions par niveau de confiance / Solutions by trust level",
    "matches": "Solutions montrées par semaine / Matches shown, weekly",
    "intros": "Mises en relation / Introductions",
    "funnel": "Entonnoir besoin → mise en relation avec une start-up → acceptée → "
    "expérimentation → contrat / Funnel: need → introduction → accepted → pilot → contract",
    "pilots": "Expérimentations sans nouvelles {weeks} semaines après leur fin prévue / "
    "Pilots with no news {weeks} weeks after their planned end",
    "col_solution": "solution",
    "col_started": "lancée le / started on",
    "col_end": "fin prévue / planned end",
    "col_weeks": "semaines / weeks",
    "stalled": "Mises en relation sans réponse depuis {days} jours / "
    "Introductions with no answer after {days} days",
    "stalled_none": "Aucune / None",
    "download": "Télécharger l'entonnoir / Download the funnel",
    "generated": "Généré le / Generated at",
    "col_id": "n°",
    "col_need": "besoin / need",
    "col_target": "destinataire / target",
    "col_since": "demandée le / asked on",
    "col_days": "jours / days",
}

_PAGE = Template(
    """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#161616;
background:#f6f6f6}
h1{font-size:1.4rem;margin:0 0 .3rem}
header{display:flex;justify-content:space-between;align-items:baseline;flex-wrap:wrap}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1rem}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8rem}
section svg{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:.85rem}
td,th{border-bottom:1px solid #eee;padding:.25rem .4rem;text-align:left}
.muted{color:#666;font-size:.8rem}
a{color:#000091}
</style></head>
<body>
<header><h1>$title</h1>
<span class="muted">$generated $now · <a href="/api/admin/analytics/funnel.csv">$download</a>
 · <a href="/admin/logout">$logout</a></span></header>
<div class="grid">
<section id="funnel">$funnel</section>
<section id="introductions">$intros</section>
<section id="needs-theme">$needs_theme</section>
<section id="needs-band">$needs_band</section>
<section id="trust">$trust</section>
<section id="matches">$matches</section>
<section id="stalled"><h2 style="font-size:1rem">$stalled_title</h2>$stalled</section>
<section id="stalled-pilots"><h2 style="font-size:1rem">$pilots_title</h2>$pilots</section>
</div>
</body></html>
"""
)

_LOGIN = Template(
    """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>$title</title>
<style>body{font-family:system-ui,sans-serif;margin:3rem auto;max-width:28rem}
input{width:100%;padding:.4rem;margin:.4rem 0}.error{color:#e1000f}</style></head>
<body><h1 style="font-size:1.2rem">$title</h1>$error
<form method="post" action="/admin/login">
<label for="key">$label</label>
<input id="key" name="key" type="password" autocomplete="current-password" required>
<button type="submit">$submit</button></form></body></html>
"""
)


def _login_page(error: bool = False, status_code: int = 200) -> HTMLResponse:
    body = _LOGIN.substitute(
        title=html.escape(LABELS["login_title"]),
        label=html.escape(LABELS["login_key"]),
        submit=html.escape(LABELS["login_submit"]),
        error=f'<p class="error">{html.escape(LABELS["login_bad"])}</p>' if error else "",
    )
    return HTMLResponse(body, status_code=status_code)


@router.get("/admin/login", include_in_schema=False)
def login_form() -> HTMLResponse:
    return _login_page()


@router.post("/admin/login", include_in_schema=False)
async def login(request: Request, services: ServicesDep) -> Response:
    """Check the POSTed key and open a login session (HttpOnly cookie, never the key)."""
    raw = await request.body()
    key = parse_qs(raw[:MAX_LOGIN_BODY].decode("utf-8", "replace")).get("key", [""])[0].strip()
    try:
        with services.db.session() as session:
            token, _ = open_session(session, services.keyring, key, seconds=COOKIE_MAX_AGE)
    except AuthError:
        return _login_page(error=True, status_code=401)
    response = RedirectResponse("/admin/analytics", status_code=303)
    response.set_cookie(
        ADMIN_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.get("/admin/logout", include_in_schema=False)
def logout(request: Request, services: ServicesDep) -> Response:
    """End the login session on the server (the cookie alone is not enough to log out)."""
    with services.db.session() as session:
        close_session(session, request.cookies.get(ADMIN_COOKIE))
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(ADMIN_COOKIE, path="/")
    return response


@router.get("/admin/analytics", include_in_schema=False, response_class=HTMLResponse)
async def analytics_page(
    request: Request,
    services: ServicesDep,
    weeks: Annotated[int, Query(ge=2, le=104)] = 12,
) -> Response:
    """The dashboard; without a valid key or login session, the login form (401)."""
    key = request.headers.get("x-api-key")
    try:
        with services.db.session() as session:
            principal_for(
                session, services.keyring, key=key, token=request.cookies.get(ADMIN_COOKIE)
            )
    except AuthError:
        return _login_page(error=bool(key), status_code=401)
    page = await run_in_threadpool(render_page, services, weeks, utcnow())
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def render_page(services: Services, weeks: int, now: dt.datetime) -> str:
    """Query everything, draw every chart, fill the template."""
    with services.db.session() as session:
        theme_weeks, by_theme = analytics.needs_weekly(session, by="theme", now=now, weeks=weeks)
        band_weeks, by_band = analytics.needs_weekly(session, by="size_band", now=now, weeks=weeks)
        trust = analytics.solutions_by_trust(session)
        match_weeks, matches = analytics.matches_shown_weekly(session, now=now, weeks=weeks)
        intros = analytics.introductions_by_status(session)
        funnel = analytics.funnel(session)
        stalled_total, stalled = analytics.stalled_introductions(session, now=now)
        pilot_weeks = services.settings.stalled_pilot_weeks
        pilots_total, pilots = analytics.stalled_pilots(session, now=now, weeks=pilot_weeks)
    return _PAGE.substitute(
        title=html.escape(LABELS["title"]),
        generated=html.escape(LABELS["generated"]),
        now=now.strftime("%Y-%m-%d %H:%M UTC"),
        download=html.escape(LABELS["download"]),
        logout=html.escape(LABELS["logout"]),
        funnel=charts.funnel_chart(
            [r.stage for r in funnel], [r.count for r in funnel], LABELS["funnel"]
        ),
        intros=charts.bar_chart(list(intros), list(intros.values()), LABELS["intros"]),
        needs_theme=charts.stacked_weekly(theme_weeks, by_theme, LABELS["needs_theme"]),
        needs_band=charts.stacked_weekly(band_weeks, by_band, LABELS["needs_band"]),
        trust=charts.bar_chart(list(trust), list(trust.values()), LABELS["trust"]),
        matches=charts.line_chart(match_weeks, matches, LABELS["matches"]),
        stalled_title=html.escape(
            LABELS["stalled"].format(days=analytics.STALL_DAYS) + f" : {stalled_total}"
        ),
        stalled=_table(stalled, _STALLED_COLUMNS),
        pilots_title=html.escape(LABELS["pilots"].format(weeks=pilot_weeks) + f" : {pilots_total}"),
        pilots=_table(pilots, _PILOT_COLUMNS),
    )


#: (row key, column label) of each table.
_STALLED_COLUMNS = (
    ("id", "col_id"),
    ("need_id", "col_need"),
    ("target", "col_target"),
    ("created_at", "col_since"),
    ("days", "col_days"),
)
_PILOT_COLUMNS = (
    ("id", "col_id"),
    ("need_id", "col_need"),
    ("solution", "col_solution"),
    ("started_at", "col_started"),
    ("planned_end", "col_end"),
    ("weeks", "col_weeks"),
)


def _table(rows: list[dict[str, object]], columns: tuple[tuple[str, str], ...]) -> str:
    if not rows:
        return f"<p class='muted'>{html.escape(LABELS['stalled_none'])}</p>"
    head = "".join(f"<th>{html.escape(LABELS[label])}</th>" for _, label in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(r[k] if r[k] is not None else ''))}</td>" for k, _ in columns
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --------------------------------------------------------------------------- funnel data

SinceQuery = Annotated[
    dt.date | None, Query(description="only needs created from this day (YYYY-MM-DD)")
]


@router.get(
    "/api/admin/analytics/funnel",
    response_model=Funnel,
    tags=["admin"],
    responses={401: {"description": "missing, invalid or revoked key"}},
)
def funnel_json(admin: AdminDep, session: SessionDep, since: SinceQuery = None) -> Funnel:
    """Needs → introduction requested → accepted → pilot (counts and conversion rates)."""
    rows = analytics.funnel(session, since=since)
    return Funnel(since=since, stages=[FunnelStage(**r.__dict__) for r in rows])


@router.get(
    "/api/admin/analytics/funnel.csv",
    tags=["admin"],
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        401: {"description": "missing, invalid or revoked key"},
    },
)
def funnel_csv(admin: AdminDep, session: SessionDep, since: SinceQuery = None) -> Response:
    """The funnel as CSV (UTF-8, header row)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["stage", "count", "rate_from_previous", "rate_from_start"])
    for r in analytics.funnel(session, since=since):
        writer.writerow([r.stage, r.count, _num(r.rate_from_previous), _num(r.rate_from_start)])
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="piu-funnel.csv"'},
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


@router.get(
    "/api/admin/analytics/stalled-pilots",
    tags=["admin"],
    responses={401: {"description": "missing, invalid or revoked key"}},
)
def stalled_pilots_json(
    admin: AdminDep, session: SessionDep, services: ServicesDep
) -> dict[str, object]:
    """Pilots with no news ``PIU_STALLED_PILOT_WEEKS`` weeks after their planned end (or
    their start when no duration was given), oldest first."""
    weeks = services.settings.stalled_pilot_weeks
    total, rows = analytics.stalled_pilots(session, now=utcnow(), weeks=weeks)
    return {"weeks": weeks, "total": total, "items": rows}

"""Financing hints (matcher.financing), the financing table (ingest, demo, admin API) and
the fiche besoin's financing lines and button."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.render import render_card, render_financing
from core.config import DEMO_DATA_DIR
from core.db import Database
from core.financing import list_schemes, scheme_values
from core.models import AuditLog, FinancingScheme
from ingest import IngestError
from ingest.importers import import_file
from ingest.readers import read_records
from ingest.validate import validate_records
from matcher.financing import MAX_HINTS, Buyer, Scheme, suggest_financing
from matcher.types import Scope

CSV = DEMO_DATA_DIR / "financing.csv"


def _table() -> list[Scheme]:
    """The shipped table, validated exactly as the import does, as the matcher sees it."""
    rows = [r for _, r in validate_records("financing", read_records(CSV))]
    return [
        Scheme.of(FinancingScheme(external_id=r["external_id"], **scheme_values(r))) for r in rows
    ]


def _ids(buyer: Buyer, schemes: list[Scheme] | None = None, limit: int = MAX_HINTS) -> list[str]:
    return [h.scheme.id for h in suggest_financing(buyer, schemes or _table(), limit=limit)]


def _scheme(**kw: object) -> Scheme:
    base: dict[str, object] = dict(
        id="s", name="S", funder="F", kinds=("commune",), themes=(), funds=("investment",),
        stages=("buy",),
    )  # fmt: skip
    base.update(kw)
    return Scheme(**base)  # type: ignore[arg-type]


# --- the table -----------------------------------------------------------------------------
def test_every_row_of_the_table_cites_its_sources_and_check_date() -> None:
    schemes = _table()
    assert len(schemes) == 20
    rows = validate_records("financing", read_records(CSV))
    for _, row in rows:
        assert row["sources"] and all(s.startswith("http") for s in row["sources"])
        assert row["checked"] == "2026-12-02"
    status = {s.id: s.status for s in schemes}
    assert status["france2030_dvd"] == status["france2030_tid"] == "closed"
    assert status["petites_villes_demain"] == status["action_coeur_de_ville"] == "closed_list"


# --- the rules, per kind, size, theme and stage --------------------------------------------
SMALL_COMMUNE = Buyer(kind="commune", population=1_200, themes=("mobilite",), stage="buy")


def test_small_commune_mobility_purchase() -> None:
    hints = suggest_financing(SMALL_COMMUNE, _table())
    assert [h.scheme.id for h in hints] == ["dsil", "fonds_vert", "detr"]
    assert len(hints) == MAX_HINTS
    detr = hints[2]
    assert {r.code for r in detr.reasons} >= {"kind", "size", "all_themes", "stage"}


@pytest.mark.parametrize(
    ("buyer", "included", "excluded"),
    [
        # kind: DSID is for départements only, DETR for communes and EPCI
        (Buyer(kind="departement", themes=("education",), stage="buy"), {"dsid"}, {"detr", "dsil"}),
        (Buyer(kind="commune", themes=("education",), stage="buy"), {"dsil"}, {"dsid"}),
        # size: DETR up to 20 000 inhabitants, EUI-IA from 50 000
        (Buyer(kind="commune", population=30_000, stage="buy"), {"bdt_prets_psl"}, {"detr"}),
        (Buyer(kind="commune", population=80_000, stage="experiment"), {"eui_ia"}, set()),
        (Buyer(kind="commune", population=8_000, stage="experiment"), {"feder"}, {"eui_ia"}),
        # theme: the ADEME air call only for air quality
        (Buyer(kind="epci", themes=("air",), stage="explore"), {"ademe_aact_air"}, set()),
        (Buyer(kind="epci", themes=("dechets",), stage="explore"), {"fonds_vert"},
         {"ademe_aact_air"}),
        # stage: engineering support for exploring, not for buying
        (Buyer(kind="region", themes=("education",), stage="explore"), {"bdt_ingenierie"}, set()),
        (Buyer(kind="region", themes=("education",), stage="buy"), set(), {"bdt_ingenierie"}),
    ],
)  # fmt: skip
def test_kind_size_theme_and_stage_decide(
    buyer: Buyer, included: set[str], excluded: set[str]
) -> None:
    found = set(_ids(buyer, limit=99))
    assert included <= found, found
    assert not (excluded & found), found


def test_a_size_limit_excludes_the_buyer() -> None:
    scheme = _scheme(id="small", max_population=3_499)
    assert _ids(Buyer(kind="commune", population=3_499, stage="buy"), [scheme]) == ["small"]
    assert _ids(Buyer(kind="commune", population=3_500, stage="buy"), [scheme]) == []
    # an unknown size keeps the scheme with its limit as a caveat
    hint = suggest_financing(Buyer(kind="commune", stage="buy"), [scheme])[0]
    assert any(r.code == "size_unchecked" and r.params["max"] == 3_499 for r in hint.reasons)


def test_no_hint_at_all_when_nothing_fits() -> None:
    # an EPT (Grand Paris territorial body) is in no scheme's kinds
    assert _ids(Buyer(kind="ept", population=400_000, themes=("culture",), stage="buy")) == []
    assert "Aucun dispositif de notre table" in render_financing([], "fr")
    card = render_card(Scope(text="x"), "fr", territory=None, timing_text=None, financing=[])
    assert "Pistes de financement\u00a0: aucun dispositif" in card


def test_closed_calls_are_never_suggested() -> None:
    closed = _scheme(id="closed", status="closed", themes=("habitat",))
    assert _ids(Buyer(kind="commune", themes=("habitat",), stage="buy"), [closed]) == []
    for buyer in (
        Buyer(kind="commune", population=40_000, themes=("habitat",), stage="explore"),
        Buyer(kind="epci", themes=("donnees",), stage="experiment"),
    ):
        assert not {"france2030_dvd", "france2030_tid"} & set(_ids(buyer, limit=99))


def test_a_closed_list_comes_last_and_says_so() -> None:
    buyer = Buyer(kind="commune", population=9_000, themes=("commerce",), stage="explore")
    hints = suggest_financing(buyer, _table(), limit=99)
    ids = [h.scheme.id for h in hints]
    assert "petites_villes_demain" in ids
    pvd = hints[ids.index("petites_villes_demain")]
    assert any(r.code == "closed_list" for r in pvd.reasons)
    assert all(h.score >= pvd.score for h in hints[: ids.index("petites_villes_demain")])
    assert "liste fermée\u00a0: seulement pour les collectivités déjà retenues" in render_financing(
        [pvd], "fr"
    )


def test_a_need_without_theme_only_gets_schemes_for_every_theme() -> None:
    found = _ids(Buyer(kind="commune", population=1_000, stage="buy"), limit=99)
    assert "detr" in found and "dsil" not in found and "fonds_vert" not in found


def test_the_why_line_and_the_list_with_links() -> None:
    hints = suggest_financing(SMALL_COMMUNE, _table())
    card = render_card(
        Scope(text="x", themes=["Mobilité"], stage="buy"),
        "fr",
        territory=None,
        timing_text=None,
        financing=hints,
    )
    assert "Pistes de financement (une indication, à vérifier auprès du financeur)" in card
    assert (
        "• Dotation d'équipement des territoires ruraux (DETR) (État (préfet de département)) — "
        "ouvert aux communes\u00a0; jusqu'à 20\u202f000 habitants (vous\u00a0: 1\u202f200)"
    ) in card
    listing = render_financing(hints, "en")
    assert "check eligibility, rates and dates with the funder" in listing
    assert "Link: https://collectivites-locales.gouv.fr/finances-locales/" in listing
    assert "Checked on 2026-12-02" in listing and "Rural areas equipment grant" in listing


# --- import ----------------------------------------------------------------------------------
def test_import_is_all_or_nothing_and_reports_every_problem(db: Database, tmp_path: Path) -> None:
    text = CSV.read_text("utf-8")
    header, *lines = text.splitlines()
    bad = [
        lines[0].replace(",commune;epci,", ",commune;village,", 1),  # unknown kind
        lines[1].replace(",all,", ",astrologie,", 1),  # unknown theme
        lines[2].replace(",2026-12-02,", ",hier,", 1),  # not a date
        *lines[3:],
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *bad]) + "\n", "utf-8")
    with db.session() as session, pytest.raises(IngestError) as caught:
        import_file(session, "financing", path)
    problems = "\n".join(caught.value.problems)
    assert "line 2: field 'kinds[1]'" in problems
    assert "line 3: field 'themes': unknown theme 'astrologie'" in problems
    assert "line 4: field 'checked'" in problems
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(FinancingScheme)) == 0
    with db.session() as session:
        summary = import_file(session, "financing", CSV)
    assert (summary.created, summary.updated) == (20, 0)
    with db.session() as session:
        again = import_file(session, "financing", CSV)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 20)
        detr = next(s for s in list_schemes(session) if s.external_id == "detr")
        assert detr.checked == dt.date(2026, 12, 2) and detr.max_population == 20_000


def test_cli_ingest_financing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cli.ingest import app

    monkeypatch.setenv("PIU_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["financing", str(CSV)])
    assert result.exit_code == 0, result.output
    assert "financing (financing.csv): 20 created, 0 updated, 0 unchanged" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV.read_text("utf-8").replace(",2026-12-02,", ",,"), "utf-8")
    result = CliRunner().invoke(app, ["financing", str(bad)])
    assert result.exit_code == 1
    assert "import failed, nothing was changed" in result.output
    assert "line 21: field 'checked': field required" in result.output


# --- admin API -------------------------------------------------------------------------------
NEW_SCHEME = {
    "external_id": "region_test_mobilite",
    "name": "Appel à projets mobilités rurales (test)",
    "funder": "Région test",
    "kinds": ["commune", "epci"],
    "max_population": 10_000,
    "themes": ["mobilite"],
    "funds": ["experimentation"],
    "stages": ["experiment"],
    "summary_fr": "Expérimentations de mobilité dans les communes rurales.",
    "url": "https://example.org/appel",
    "sources": ["https://example.org/appel"],
    "checked": "2026-12-01",
}


def test_admin_api_lists_creates_updates_and_deletes_with_audit(
    settings,
    db: Database,  # type: ignore[no-untyped-def]
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.security import create_key
    from api.wiring import build_services

    with db.session() as session:
        import_file(session, "financing", CSV)
        _, key = create_key(session, name="facilitatrice")
    headers = {"X-API-Key": key}
    app = create_app(settings, build_services(settings, db=db, ready=False), load_indexes=False)
    with TestClient(app) as client:
        assert client.get("/api/admin/financing").status_code == 401
        listed = client.get("/api/admin/financing?limit=100", headers=headers).json()
        assert listed["total"] == 20
        detr = next(s for s in listed["items"] if s["external_id"] == "detr")
        assert detr["sources"][0].startswith("https://") and detr["checked"] == "2026-12-02"
        bad = client.post(
            "/api/admin/financing", json={**NEW_SCHEME, "stages": ["someday"]}, headers=headers
        )
        assert bad.status_code == 422 and "field 'stages[0]'" in bad.text
        made = client.post("/api/admin/financing", json=NEW_SCHEME, headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "open" and made.json()["themes"] == ["mobilite"]
        again = client.post("/api/admin/financing", json=NEW_SCHEME, headers=headers)
        assert again.status_code == 409
        url = "/api/admin/financing/region_test_mobilite"
        assert (
            client.patch(url, json={"min_population": 20_000}, headers=headers).status_code == 422
        )
        assert client.patch(url, json={"id": "x"}, headers=headers).status_code == 422
        changed = client.patch(url, json={"status": "closed", "cap": "50 000 €"}, headers=headers)
        assert changed.status_code == 200 and changed.json()["cap"] == "50 000 €"
        assert client.delete(url, headers=headers).status_code == 204
        assert client.get(url, headers=headers).status_code == 404
    with db.session() as session:
        trail = session.scalars(
            select(AuditLog).where(AuditLog.entity_type == "financing").order_by(AuditLog.id)
        ).all()
        assert [(a.action, a.actor) for a in trail] == [
            ("create", "facilitatrice"), ("update", "facilitatrice"), ("delete", "facilitatrice"),
        ]  # fmt: skip
        assert trail[1].detail["fields"] == ["cap", "status"]
        assert trail[2].detail["name"] == NEW_SCHEME["name"]
        assert session.scalar(select(func.count()).select_from(FinancingScheme)) == 20


# --- the weekly digest tells buyers of a new scheme that fits an open need -----------------
async def test_digest_tells_buyers_of_a_new_matching_scheme_once(settings, db: Database) -> None:  # type: ignore[no-untyped-def]
    from core.domain import NeedStatus, Role
    from core.financing import create_scheme
    from core.models import ChatIdentity, Need, Person, Subscription
    from digest.sender import FakeSender
    from tests.test_digest import _Clock, _runner, paris

    start = paris(2026, 11, 29, 12)  # a Sunday
    with db.session() as s:
        import_file(s, "financing", CSV)  # the table as shipped: not news
        for row in s.scalars(select(FinancingScheme)):
            row.created_at = start - dt.timedelta(days=30)
        people = {}
        buyers = (
            ("small", "commune", 1_800, "Mobilité"),
            ("big", "commune", 150_000, "Mobilité"),
            ("waste", "epci", 60_000, "Déchets et économie circulaire"),
        )
        for chat, kind, pop, theme in buyers:
            p = Person(role=Role.BUYER, language="fr", display_name=chat)
            s.add(p)
            s.flush()
            s.add(ChatIdentity(person_id=p.id, transport="telegram", external_id=chat))
            s.add(Subscription(person_id=p.id, language="fr", created_at=start, watermark=start))
            s.add(
                Need(owner_id=p.id, raw_text=f"Besoin de {chat}", status=NeedStatus.OPEN,
                     territory_kind=kind, population=pop, themes=[theme], stage="experiment",
                     created_at=start)
            )  # fmt: skip
            people[chat] = p.id
    clock = _Clock(paris(2026, 11, 30, 12))  # the week's admin edit, then Monday's run
    with db.session() as s:
        scheme = create_scheme(s, row=validate_records("financing", [("body", NEW_SCHEME)])[0][1],
                               actor="facilitatrice")  # fmt: skip
        scheme.created_at = paris(2026, 11, 30, 8)
    sender = FakeSender()
    await _runner(db, settings, sender, clock).run()
    small = sender.texts_for("small")
    assert len(small) == 1 and "Nouveaux financements possibles" in small[0]
    assert "Appel à projets mobilités rurales (test) (Région test)" in small[0]
    assert "jusqu'à 10\u202f000 habitants (vous\u00a0: 1\u202f800)" in small[0]
    assert "https://example.org/appel" in small[0] and "(pour\u00a0: Besoin de small)" in small[0]
    assert sender.texts_for("big") == []  # 150 000 inhabitants: over the scheme's limit
    assert sender.texts_for("waste") == []  # another theme
    clock.value = paris(2026, 11, 30, 13)
    await _runner(db, settings, sender, clock).run()
    assert len(sender.texts_for("small")) == 1  # exactly once


# --- the fiche besoin in the three chats ---------------------------------------------------
SMALL_MOBILITY = (
    "Nous sommes une commune de 1 800 habitants et voulons acheter des vélos à assistance "
    "électrique en libre-service pour relier le bourg à la gare, budget 45 000 €, d'ici un an."
)


@pytest.fixture
def _fin_engine(db: Database, settings):  # type: ignore[no-untyped-def]
    from tests.test_engine import _make_engine, _territories

    with db.session() as session:
        _territories(session)
        import_file(session, "financing", CSV)
    return _make_engine(db, settings)


def test_card_shows_three_hints_and_the_button_lists_them(_fin_engine) -> None:  # type: ignore[no-untyped-def]
    from tests.test_engine import Chat

    chat = Chat(_fin_engine)
    chat.say("/besoin " + SMALL_MOBILITY)
    while "Fiche besoin" not in chat.text:
        chat.press("Passer" if "Passer" in chat.labels() else "Terminé")
    card = chat.text
    assert "Pistes de financement (une indication, à vérifier auprès du financeur)" in card
    assert card.count("\n• ") >= 3 + 2  # three hints after the procurement lines
    assert "jusqu'à 20\u202f000 habitants (vous\u00a0: 1\u202f800)" in card  # DETR, by size
    assert "Votre budget, 45\u202f000 € HT (moins de 60 k€)" in card
    chat.press("Financements")
    listing = chat.text
    assert listing.startswith("Financements possibles pour ce besoin. C'est une indication")
    assert "Lien\u00a0: https://collectivites-locales.gouv.fr/" in listing
    assert chat.labels() == [
        "Confirmer",
        "Modifier",
        "Ouvert aux propositions\u00a0: oui",
        "Financements",
    ]  # the card goes on
    chat.press("Confirmer")
    assert "Votre besoin est enregistré" in chat.text or "search" in chat.text.lower()


async def test_financing_button_through_telegram(_fin_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The real PTB Application polling the Bot API emulator, over the real engine."""
    import asyncio
    import time

    from pydantic import SecretStr

    from bot.telegram import build_application
    from core.config import Settings
    from devtools.tg_emulator import TelegramEmulator

    user = 3131
    with TelegramEmulator("123:ABC") as emu:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="test",
            data_dir=tmp_path,
            telegram_token=SecretStr("123:ABC"),
            telegram_api_base_url=emu.base_url,
        )
        app = build_application(settings, _fin_engine, outbox_interval=60)

        def texts() -> list[str]:
            return [m["text"] for m in emu.bot_messages(user)]

        async def wait(predicate) -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + 20
            while not predicate():
                assert time.monotonic() < deadline, texts()
                await asyncio.sleep(0.05)

        def last_buttons() -> dict[str, str]:
            for message in reversed(emu.bot_messages(user)):
                rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
                if rows:
                    return {b["text"]: b["callback_data"] for row in rows for b in row}
            return {}

        async with app:
            assert app.post_init is not None
            await app.post_init(app)
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(timeout=1)
            try:
                emu.send_text(user, "/besoin " + SMALL_MOBILITY)
                await wait(lambda: bool(last_buttons()))
                while not any("Fiche besoin" in x for x in texts()):
                    buttons = last_buttons()
                    label = "Passer" if "Passer" in buttons else "Terminé"
                    seen = len(texts())
                    emu.click(user, buttons[label])
                    await wait(lambda seen=seen: len(texts()) > seen)  # type: ignore[misc]
                assert "Pistes de financement" in texts()[-1]
                seen = len(texts())
                emu.click(user, last_buttons()["Financements"])
                await wait(lambda: len(texts()) > seen)
                listing = texts()[-1]
                assert "Financements possibles pour ce besoin" in listing
                assert "https://" in listing and "Vérifié le 02/12/2026" in listing
            finally:
                await app.updater.stop()
                await app.stop()


def test_financing_button_in_the_terminal(_fin_engine) -> None:  # type: ignore[no-untyped-def]
    import re

    from bot.terminal import run_terminal

    shown: list[str] = []
    plan = ["/besoin " + SMALL_MOBILITY]

    def answer(_prompt: str = "") -> str:
        """Type the need, skip every question, then press "Financements" once."""
        if plan:
            return plan.pop()
        last = shown[-1] if shown else ""
        if "Financements possibles" in last:
            raise EOFError
        if "Fiche besoin" in last:
            wanted = "Financements"
        else:
            wanted = "Passer" if "] Passer" in last else "Terminé"
        number = re.search(r"\[(\d+)\] " + wanted, last)
        assert number, last
        return number.group(1)

    run_terminal(_fin_engine, input_fn=answer, output_fn=lambda text: shown.append(str(text)))
    out = "\n".join(shown)
    assert "Pistes de financement" in out and "Financements possibles pour ce besoin" in out

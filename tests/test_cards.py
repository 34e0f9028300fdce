"""The MatchService's in-memory card table (matcher/cards.py) against the database.

Every write path (create, update, qualify, archive, merge) and another worker's change
(seen through the catalogue version check) must leave the table equal to what the
database says; searching with the table must give exactly what searching with cards
read from the database gives. Per-kind versions: a need written elsewhere must not make a
worker re-read its solutions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.catalogue import (
    archive_solution,
    create_solution,
    merge_solution,
    publishable_solution,
    qualify_solution,
    update_entry,
)
from core.config import Settings
from core.db import Database, bump_catalogue_version, catalogue_version, catalogue_versions
from core.domain import Maturity, NeedStatus, Stage, TrustLevel
from core.models import Need, Solution
from matcher.cards import SolutionCard
from matcher.service import MatchService
from matcher.types import Scope
from tests.conftest import make_settings


def _card_of(sol: Solution) -> SolutionCard:
    """A card built straight from the ORM row: the reference the table must equal."""
    return SolutionCard(
        id=sol.id,
        external_id=sol.external_id,
        title=sol.title,
        organisation=sol.organisation_name,
        maturity=sol.maturity,
        trust_level=str(sol.trust_level),
        themes=tuple(sol.themes or ()),
        target_kinds=tuple(sol.target_kinds or ()),
        target_bands=tuple(sol.target_size_bands or ()),
        usertypes=tuple(sol.usertypes or ()),
    )


def _db_cards(db: Database, ids: list[int] | None = None) -> dict[int, SolutionCard]:
    with db.session() as session:
        query = select(Solution).where(*publishable_solution())
        if ids is not None:
            query = query.where(Solution.id.in_(ids))
        return {sol.id: _card_of(sol) for sol in session.scalars(query)}


def _table(service: MatchService, db: Database) -> dict[int, SolutionCard]:
    """Every card the service holds, looked up by every solution id in the database."""
    with db.session() as session:
        every = list(session.scalars(select(Solution.id)))
    return service._cards.get(every)


def _new(session, ext: str, title: str, mission: str, **values) -> Solution:  # type: ignore[no-untyped-def]
    return create_solution(
        session,
        external_id=ext,
        values={"title": title, "mission": mission, "description": "", **values},
        actor="test",
        source="test",
    ).row


def _service(settings: Settings, db: Database, data_dir: Path | None = None) -> MatchService:
    if data_dir is not None:  # another worker: its own index folder, its own engine
        settings = make_settings(
            data_dir, settings.db_url, settings.model_cache_dir or data_dir, embedder="hashing"
        )
        db = Database(settings.db_url)
    from index.hashing import HashingEmbedder

    return MatchService(db, settings, HashingEmbedder())


def test_the_table_follows_every_write(settings: Settings, db: Database) -> None:
    with db.session() as session:
        velo = _new(session, "velo", "Vélos partagés", "Location de vélos en libre-service").id
        compost = _new(
            session,
            "compost",
            "Composteurs",
            "Composteurs de quartier",
            themes=["Environnement"],
            target_kinds=["commune"],
            target_size_bands=["lt2k"],
            maturity=Maturity.PILOT,
            organisation_name="Compost & Co",
        ).id
    service = _service(settings, db)
    service.ensure_ready()
    assert _table(service, db) == _db_cards(db) and len(_db_cards(db)) == 2

    # created through the catalogue write path, then indexed by this process
    with db.session() as session:
        cantine = _new(session, "cantine", "Cantine", "Moins de gaspillage à la cantine").id
    service.index_solution(cantine)
    assert _table(service, db) == _db_cards(db) and cantine in _table(service, db)

    # updated: title, themes, targets, maturity
    with db.session() as session:
        sol = session.get(Solution, compost)
        assert sol is not None
        update_entry(
            session,
            row=sol,
            values={
                "title": "Composteurs partagés",
                "themes": ["Environnement", "Déchets"],
                "target_kinds": ["epci"],
                "target_size_bands": [],
                "maturity": Maturity.DEPLOYED,
            },
            actor="test",
        )
    service.index_solution(compost)
    card = _table(service, db)[compost]
    assert card.title == "Composteurs partagés" and card.themes == ("Environnement", "Déchets")
    assert card.target_kinds == ("epci",) and card.maturity == Maturity.DEPLOYED
    assert _table(service, db) == _db_cards(db)

    # qualified: the trust level only (the text, hence the vector, is unchanged)
    with db.session() as session:
        sol = session.get(Solution, velo)
        assert sol is not None
        qualify_solution(
            session, sol=sol, level=TrustLevel.QUALIFIED, reason="vérifié", actor="test"
        )
    service.index_solution(velo)
    assert _table(service, db)[velo].trust_level == TrustLevel.QUALIFIED
    found = service.search(Scope(text="location de vélos en libre-service"), top=3).matches
    assert found[0].external_id == "velo" and found[0].trust_level == TrustLevel.QUALIFIED

    # merged into another entry, then archived: out of the table and of the results
    with db.session() as session:
        sol, into = session.get(Solution, cantine), session.get(Solution, compost)
        assert sol is not None and into is not None
        merge_solution(session, sol=sol, into=into, actor="test")
    service.index_solution(cantine)
    assert cantine not in _table(service, db)
    with db.session() as session:
        sol = session.get(Solution, velo)
        assert sol is not None
        archive_solution(session, sol=sol, actor="test")
    service.index_solution(velo)
    assert _table(service, db) == _db_cards(db) == {compost: _db_cards(db)[compost]}
    found = service.search(Scope(text="location de vélos en libre-service"), top=5).matches
    assert "velo" not in [m.external_id for m in found]


def test_another_workers_change_shows_through_the_version_check(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    with db.session() as session:
        velo = _new(session, "velo", "Vélos partagés", "Location de vélos en libre-service").id
        _new(session, "cantine", "Cantine", "Moins de gaspillage à la cantine")
    first = _service(settings, db)
    first.ensure_ready()
    second = _service(settings, db, tmp_path / "second")
    second.ensure_ready()
    query = Scope(text="location de vélos en libre-service")
    assert second.search(query, top=1).matches[0].title == "Vélos partagés"

    # renamed and qualified through the first worker: the second answers with the new card
    with first.db.session() as session:
        sol = session.get(Solution, velo)
        assert sol is not None
        update_entry(session, row=sol, values={"title": "Vélos en partage"}, actor="test")
        qualify_solution(session, sol=sol, level=TrustLevel.QUALIFIED, reason="ok", actor="t")
    first.index_solution(velo)
    top = second.search(query, top=1).matches[0]
    assert (top.title, top.trust_level) == ("Vélos en partage", TrustLevel.QUALIFIED)
    assert _table(second, second.db) == _db_cards(db)

    # archived through the first worker: gone from the second's table and answers
    with first.db.session() as session:
        sol = session.get(Solution, velo)
        assert sol is not None
        archive_solution(session, sol=sol, actor="test")
    first.index_solution(velo)
    assert "velo" not in [m.external_id for m in second.search(query, top=5).matches]
    assert velo not in _table(second, second.db)
    second.db.dispose()


def test_a_need_written_elsewhere_leaves_the_solution_table_alone(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    with db.session() as session:
        velo = _new(session, "velo", "Vélos partagés", "Location de vélos en libre-service").id
    first = _service(settings, db)
    first.ensure_ready()
    second = _service(settings, db, tmp_path / "second")
    second.ensure_ready()
    table = second._cards._cards  # a reload replaces it; a row re-read changes it in place

    with first.db.session() as session:
        need = Need(raw_text="Capteurs de qualité de l'air", themes=[], status=NeedStatus.OPEN)
        session.add(need)
        session.flush()
        need_id = need.id
    first.index_need(need_id)
    assert second.search_needs("qualité de l'air")[0][0] == need_id  # the need is seen…
    assert second._cards._cards is table  # …and the solutions were not read again

    with first.db.session() as session:
        sol = session.get(Solution, velo)
        assert sol is not None
        update_entry(session, row=sol, values={"title": "Vélos en partage"}, actor="test")
    first.index_solution(velo)
    second.search_needs("qualité de l'air")
    assert second._cards._cards is not table  # a solution written elsewhere: read again
    assert second._cards.get([velo])[velo].title == "Vélos en partage"
    second.db.dispose()


def test_kind_versions_move_with_the_catalogue_version(db: Database) -> None:
    with db.session() as session:
        before = catalogue_versions(session)
        bump_catalogue_version(session, "need")
        after_need = catalogue_versions(session)
        bump_catalogue_version(session)  # no kind named: every kind's moves
        after_all = catalogue_versions(session)
        assert catalogue_version(session) == after_all[None]
        with pytest.raises(ValueError):
            bump_catalogue_version(session, "nothing")
    assert after_need[None] == before[None] + 1 and after_need["need"] == before["need"] + 1
    assert after_need["solution"] == before["solution"]
    assert all(after_all[k] == after_need[k] + 1 for k in (None, "solution", "need", "experience"))


SCOPES = [
    Scope(text="réduire le gaspillage alimentaire à la cantine"),
    Scope(text="mobilité durable et covoiturage", stage=Stage.EXPERIMENT, size_band="lt2k"),
    Scope(text="rénovation énergétique des bâtiments publics", stage=Stage.BUY),
    Scope(text="participation citoyenne", territory_kind="epci", size_band="50k-200k"),
    Scope(text="We want to cut food waste in our school canteens", language="en"),
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.text[:24])
def test_results_are_the_same_with_cards_read_from_the_database(
    hashing_service: MatchService, scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_table = hashing_service.search(scope, top=10)
    assert with_table.matches  # the demo catalogue answers each of them
    hashing_service._rankings.clear()
    hashing_service._forget_cards()
    monkeypatch.setattr(
        hashing_service, "_solution_cards", lambda ids: _db_cards(hashing_service.db, ids)
    )
    from_db = hashing_service.search(scope, top=10)
    hashing_service._rankings.clear()
    assert from_db.matches == with_table.matches
    assert from_db.tried_elsewhere == with_table.tried_elsewhere

"""Ingestion: readers, validation messages, all-or-nothing upserts, demo loader."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.db import Database, catalogue_version
from core.models import Experience, Solution, Territory
from ingest import IngestError
from ingest.demo import load_demo
from ingest.importers import import_file, import_rows
from ingest.readers import parse_bytes

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
FIX = Path(__file__).resolve().parent / "data"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'ingest.sqlite3'}")
    yield database
    database.dispose()


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _import(db: Database, kind: str, path: Path):
    with db.session() as s:
        return import_file(s, kind, path)


def _error(db: Database, kind: str, path: Path) -> str:
    with pytest.raises(IngestError) as info, db.session() as s:
        import_file(s, kind, path)
    return str(info.value)


# ------------------------------------------------------------------ good files


def test_jsonl_catalogue_betagouv_mapping(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    lines = (DATA / "catalogue_betagouv.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = _import(db, "catalogue", path)
    assert (summary.created, summary.updated, summary.unchanged, summary.rejected) == (5, 0, 0, 0)
    with db.session() as s:
        sol = s.scalar(select(Solution).where(Solution.external_id == "1-jeune-1-arbre"))
        assert sol is not None
        assert sol.title == "1 Jeune 1 Arbre"
        assert sol.maturity == "stopped" and sol.phase == "abandon"
        assert sol.organisation_name == "agriculture"
        assert sol.website == "https://1jeune1arbre.beta.gouv.fr/"
        assert sol.trust_level == "declared" and sol.status == "published"
        assert sol.source == "betagouv"
        assert "Écologie" in sol.themes
        assert sol.description.startswith("Les gestionnaires de plantations")
        assert len(sol.content_hash) == 64


def test_json_array_and_native_fields(db: Database) -> None:
    summary = _import(db, "catalogue", FIX / "catalogue_good.json")
    assert summary.created == 2
    with db.session() as s:
        one = s.scalar(select(Solution).where(Solution.external_id == "json-1"))
        two = s.scalar(select(Solution).where(Solution.external_id == "json-2"))
        assert one.target_kinds == ["commune", "epci", "departement", "region"]
        assert one.maturity == "pilot" and one.website == "https://example.org"
        assert one.description == "Un outil en ligne."
        assert two.trust_level == "qualified" and two.maturity == "pilot"
        assert two.source == "import"


def test_csv_with_bom_and_semicolons(db: Database) -> None:
    summary = _import(db, "catalogue", FIX / "catalogue_good_bom_semicolon.csv")
    assert summary.created == 2
    with db.session() as s:
        one = s.scalar(select(Solution).where(Solution.external_id == "csv-1"))
        two = s.scalar(select(Solution).where(Solution.external_id == "csv-2"))
        assert one.themes == ["mobilité", "énergie"]
        assert one.target_kinds == ["commune", "epci"]
        assert two.title == "Deux; avec point-virgule"


def test_gzip_territories_and_rex_enrichment(db: Database) -> None:
    summary = _import(db, "territories", FIX / "territories_small.csv.gz")
    assert summary.created == 4
    with db.session() as s:
        lons = s.scalar(select(Territory).where(Territory.code == "39300"))
        assert lons.name_folded == "lons le saunier" and lons.population == 16618
    summary = _import(db, "rex", FIX / "rex_good.jsonl")
    assert summary.created == 2
    with db.session() as s:
        rex = s.scalar(select(Experience).where(Experience.external_id == "rex-1"))
        assert rex.territory_name == "Lons-le-Saunier"
        assert rex.population == 16618 and rex.dep == "39" and rex.region == "27"
        assert rex.outcome == "ongoing" and rex.contact_consent is False


def test_reimport_unchanged_then_update(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "x", "title": "X"}\n{"id": "y", "title": "Y"}\n', encoding="utf-8")
    assert _import(db, "catalogue", path).created == 2
    with db.session() as s:
        version = catalogue_version(s)
    again = _import(db, "catalogue", path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    with db.session() as s:
        assert catalogue_version(s) == version  # nothing changed: no bump
    path.write_text(
        '{"id": "x", "title": "X v2"}\n{"id": "y", "title": "Y"}\n{"id": "z", "title": "Z"}\n',
        encoding="utf-8",
    )
    third = _import(db, "catalogue", path)
    assert (third.created, third.updated, third.unchanged) == (1, 1, 1)
    with db.session() as s:
        assert s.scalar(select(Solution.title).where(Solution.external_id == "x")) == "X v2"
        assert catalogue_version(s) == version + 1


def test_update_keeps_facilitator_trust_level(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "x", "title": "X"}\n', encoding="utf-8")
    _import(db, "catalogue", path)
    with db.session() as s:
        s.scalar(select(Solution).where(Solution.external_id == "x")).trust_level = "qualified"
    path.write_text('{"id": "x", "title": "X2"}\n', encoding="utf-8")
    assert _import(db, "catalogue", path).updated == 1
    with db.session() as s:
        assert s.scalar(select(Solution.trust_level).where(Solution.external_id == "x")) == (
            "qualified"
        )


def test_import_rows_api(db: Database) -> None:
    with db.session() as s:
        summary = import_rows(s, "catalogue", [{"external_id": "api-1", "title": "Via API"}])
    assert summary.created == 1
    with pytest.raises(IngestError) as info, db.session() as s:
        import_rows(s, "catalogue", [{"external_id": "api-2"}])
    assert str(info.value) == "item 1: field 'title': field required"


# ------------------------------------------------------------------ bad files


def test_missing_required_field(db: Database) -> None:
    msg = _error(db, "catalogue", FIX / "catalogue_missing_title.jsonl")
    assert msg == "line 2: field 'title': field required"


def test_bad_types_name_the_source_field(db: Database) -> None:
    msg = _error(db, "catalogue", FIX / "catalogue_bad_type.jsonl")
    assert msg.splitlines() == [
        "line 1: field 'thematiques': input should be a valid list",
        "line 1: field 'maturity': input should be 'idea', 'prototype', 'pilot', "
        "'deployed' or 'stopped'",
    ]


def test_bad_rex_rows(db: Database) -> None:
    msg = _error(db, "rex", FIX / "rex_bad.jsonl")
    assert msg.splitlines() == [
        "line 1: field 'period_start': string should match pattern '^\\d{4}(-\\d{2}(-\\d{2})?)?$'",
        "line 1: field 'outcome': input should be 'ongoing', 'success', 'stopped', "
        "'failed', 'unknown' or 'partial'",
        "line 1: field 'contact_role': must be a role, not an e-mail address",
    ]


def test_bad_territories(db: Database) -> None:
    msg = _error(db, "territories", FIX / "territories_bad.csv")
    assert msg.splitlines() == [
        "line 2: field 'kind': input should be 'commune', 'epci', 'ept', 'departement' or 'region'",
        "line 2: field 'population': input should be a valid integer, unable to parse "
        "string as an integer",
    ]


def test_wrong_encoding(db: Database) -> None:
    msg = _error(db, "catalogue", FIX / "catalogue_latin1.csv")
    assert msg == "not UTF-8 (byte 0xe9 at offset 23)"


def test_empty_file(db: Database, tmp_path: Path) -> None:
    assert _error(db, "catalogue", FIX / "empty.jsonl") == "file is empty"
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n  \n", encoding="utf-8")
    assert _error(db, "catalogue", blank) == "file is empty"
    header_only = tmp_path / "header.csv"
    header_only.write_text("id;title\n", encoding="utf-8")
    assert _error(db, "catalogue", header_only) == "file is empty"


def test_duplicate_ids(db: Database) -> None:
    msg = _error(db, "catalogue", FIX / "catalogue_duplicate.jsonl")
    assert msg == "line 3: duplicate id 'a' (first seen line 1)"


def test_malformed_json_line(db: Database) -> None:
    msg = _error(db, "catalogue", FIX / "catalogue_bad_json.jsonl")
    assert msg == "line 2: invalid JSON: Expecting ',' delimiter (column 28)"


def test_unknown_kind(db: Database) -> None:
    msg = _error(db, "recipes", FIX / "catalogue_good.json")
    assert msg == "unknown kind 'recipes' (expected catalogue, rex, territories or financing)"


def test_bad_gzip() -> None:
    with pytest.raises(IngestError) as info:
        parse_bytes(b"\x1f\x8bnot really gzip", "x.csv.gz")
    assert str(info.value).startswith("not a valid gzip file")


def test_unknown_solution_reference(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "r", "title": "T", "solution_external_id": "nope"}\n', "utf-8")
    assert _error(db, "rex", path) == (
        "line 1: field 'solution_external_id': unknown solution 'nope'"
    )


def test_many_problems_are_capped() -> None:
    rows = "\n".join(json.dumps({"id": str(i)}) for i in range(30)).encode()
    from ingest.readers import parse_bytes as pb
    from ingest.validate import validate_records

    with pytest.raises(IngestError) as info:
        validate_records("catalogue", pb(rows, "x.jsonl"))
    lines = str(info.value).splitlines()
    assert len(lines) == 21 and lines[-1] == "… and 10 more problems"
    assert info.value.rejected == 30


def test_failed_import_changes_nothing(db: Database, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "a", "title": "Alpha"}\n{"id": "b", "title": "Beta"}\n', "utf-8")
    _import(db, "catalogue", good)
    with db.session() as s:
        version = catalogue_version(s)
    bad = tmp_path / "bad.jsonl"
    # first row would update, second would create, third is invalid
    bad.write_text(
        '{"id": "a", "title": "Alpha CHANGED"}\n{"id": "c", "title": "Gamma"}\n{"id": "d"}\n',
        "utf-8",
    )
    assert _error(db, "catalogue", bad) == "line 3: field 'title': field required"
    assert _count(db, Solution) == 2
    with db.session() as s:
        assert s.scalar(select(Solution.title).where(Solution.external_id == "a")) == "Alpha"
        assert catalogue_version(s) == version


# ------------------------------------------------------------------ CLI


def test_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.ingest import app

    monkeypatch.setenv("PIU_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["catalogue", str(FIX / "catalogue_good.json")])
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 unchanged, 0 rejected" in result.output
    result = runner.invoke(app, ["catalogue", str(FIX / "catalogue_duplicate.jsonl")])
    assert result.exit_code == 1
    assert "line 3: duplicate id 'a' (first seen line 1)" in result.output


# ------------------------------------------------------------------ demo


def test_demo_load_counts_and_skip(db: Database) -> None:
    start = time.perf_counter()
    summaries = load_demo(db, DATA)
    cold = time.perf_counter() - start
    assert summaries["territories"].created == 36_370
    assert summaries["catalogue"].created == 660
    assert summaries["rex_investigations"].created == 100
    assert summaries["rex_engagement"].created == 230
    seed_text = (DATA / "rex_seeds.jsonl").read_text(encoding="utf-8")
    seeds = sum(1 for line in seed_text.splitlines() if line.strip())
    assert summaries["rex_seeds"].created == seeds >= 10
    assert summaries["financing"].created == 20
    assert _count(db, Territory) == 36_370
    assert _count(db, Solution) == 660
    assert _count(db, Experience) == 330 + seeds
    assert cold < 30
    start = time.perf_counter()
    again = load_demo(db, DATA)
    assert time.perf_counter() - start < 1.0
    assert all(s.skipped for s in again.values())
    with db.session() as s:
        inv = s.scalar(select(Experience).where(Experience.external_id == "anct-inv-2"))
        assert inv.title == "Toute une histoire" and inv.territory_kind == "departement"
        assert inv.territory_code == "80" and inv.population == 565413
        assert inv.outcome == "unknown" and inv.region == "32"
        bouda = s.scalar(
            select(Experience).where(
                Experience.external_id == "seed-boulogne-sur-mer-bouda-tiers-lieu"
            )
        )
        assert bouda.territory_code == "62160" and bouda.territory_name == "Boulogne-sur-Mer"
        barcelona = s.scalar(
            select(Experience).where(
                Experience.external_id == "seed-barcelone-logistique-ecommerce-urban-radar"
            )
        )
        assert barcelona.territory_code is None and "Barcelone" in barcelona.territory_name
        for e in s.scalars(select(Experience)):
            assert e.contact_consent is False
            assert "@" not in (e.contact_role or "")


def test_seed_codes_are_real() -> None:
    import gzip

    codes = set()
    with gzip.open(DATA / "territoires_fr_2026.csv.gz", "rt", encoding="utf-8") as f:
        for line in f:
            kind, code, *_ = line.split(",")
            codes.add((kind, code))
    for line in (DATA / "rex_seeds.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("territory_code"):
            assert (row["territory_kind"], row["territory_code"]) in codes, row["external_id"]

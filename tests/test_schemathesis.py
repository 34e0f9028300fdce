"""Property-based run of the OpenAPI schema (schemathesis): no server error anywhere.

Runs against the real app on a real SQLite database with one admin key, so the
admin operations are exercised past authentication. Bounded: a few examples per
operation. The web chat (another module, needs the engine) is excluded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from api.app import create_app
from api.wiring import build_services
from core.config import Settings
from core.db import Database

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hyp_settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

KEY = "piu_schemathesis-test-key"

# Only operations that never need the embedding model (searching with ``q`` does).
_SEED = [
    {"external_id": "sol-a", "title": "Éclairage intelligent", "themes": ["Énergie"]},
    {"external_id": "sol-b", "title": "Vélos partagés", "themes": ["Mobilité"]},
]


@pytest.fixture(scope="module")
def _app(tmp_path_factory: pytest.TempPathFactory, model_cache) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    tmp = tmp_path_factory.mktemp("schemathesis")
    settings: Settings = make_settings(
        tmp,
        f"sqlite:///{tmp / 'piu.sqlite3'}",
        model_cache,
        admin_api_keys=[SecretStr(KEY)],
        api_rate_limit_per_minute=1_000_000,
    )
    db = Database(settings.db_url)
    from ingest.importers import import_rows

    with db.session() as session:
        import_rows(session, "catalogue", _SEED)
    app = create_app(
        settings,
        build_services(settings, db=db, ready=False),
        load_indexes=False,
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    db.dispose()


# The schemathesis pytest plugin's lazy fixtures do not work with pytest 9: drive each
# operation's hypothesis strategy directly instead.
def test_no_server_errors(_app) -> None:  # type: ignore[no-untyped-def]
    schema = _app.exclude(path_regex=r"^/api/chat").exclude(
        # free-text search needs loaded indexes: covered by test_api_search.py
        path="/api/solutions",
        method="GET",
    )
    tested = []
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        tested.append(operation.label)

        @given(case=operation.as_strategy())
        @hyp_settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.headers = {**(case.headers or {}), "X-API-Key": KEY}
            response = case.call_and_validate(checks=[not_a_server_error])
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        run()
    assert len(tested) >= 20, tested
    assert sum(statuses.values()) >= 5 * len(tested), statuses
    assert not any(code >= 500 for code in statuses), statuses
    print("schemathesis statuses:", dict(sorted(statuses.items())))

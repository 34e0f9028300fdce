"""The throw-away PostgreSQL server of tests/pg.py starts, serves and stops."""

from __future__ import annotations

import os
import socket

import pytest

from tests.pg import (
    PostgresServer,
    PostgresUnavailable,
    create_database,
    drop_database,
    find_pg_bin,
    unique_db_name,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _need_pg_binaries() -> None:
    # In CI a missing server is an error (.ci/run installs it); locally, a skip.
    if not os.environ.get("CI"):
        try:
            find_pg_bin()
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    # A stopped postmaster may linger as a zombie until its (re)parent reaps it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def test_postgres_server_lifecycle() -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")

    with PostgresServer() as srv:
        assert srv.url == f"postgresql+psycopg://postgres@127.0.0.1:{srv.port}/piu_test"
        assert srv.is_running()
        assert srv.pid is not None and _pid_alive(srv.pid)
        datadir = srv.datadir
        assert datadir is not None and datadir.exists()

        engine = sqlalchemy.create_engine(srv.url)
        try:
            with engine.connect() as conn:
                assert conn.execute(sqlalchemy.text("select 1")).scalar_one() == 1
                enc = conn.execute(sqlalchemy.text("show server_encoding")).scalar_one()
                assert enc == "UTF8"
        finally:
            engine.dispose()

        # A fresh per-test database, isolated from the main one.
        name = unique_db_name("test_lifecycle")
        url = create_database(srv.url_base, name)
        assert url == f"{srv.url_base}/{name}"
        eng2 = sqlalchemy.create_engine(url)
        try:
            with eng2.begin() as conn:
                conn.execute(sqlalchemy.text("create table t (x text)"))
                conn.execute(sqlalchemy.text("insert into t values ('été')"))
                assert conn.execute(sqlalchemy.text("select x from t")).scalar_one() == "été"
        finally:
            eng2.dispose()
        # Re-creating gives an empty database again.
        create_database(srv.url_base, name)
        eng3 = sqlalchemy.create_engine(url)
        try:
            with eng3.connect() as conn:
                n = conn.execute(
                    sqlalchemy.text("select count(*) from pg_tables where tablename = 't'")
                ).scalar_one()
                assert n == 0
        finally:
            eng3.dispose()
        drop_database(srv.url_base, name)
        port, pid = srv.port, srv.pid

    assert not _port_open(port)
    assert not _pid_alive(pid)
    assert not datadir.exists()
    assert not srv.is_running()


def test_postgres_server_stops_on_error() -> None:
    pytest.importorskip("psycopg")
    srv = PostgresServer()
    with pytest.raises(RuntimeError, match="boom"), srv:
        port, pid = srv.port, srv.pid
        raise RuntimeError("boom")
    assert pid is not None
    assert not _port_open(port)
    assert not _pid_alive(pid)
    assert srv.tmpdir is None

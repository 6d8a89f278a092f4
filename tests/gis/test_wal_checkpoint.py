"""The background WAL checkpoint of large SQLite writes (gis.dialects.sqlite.checkpoint_later).

SQLite only by nature: PostgreSQL's checkpointer is the server's own process.
"""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from gis.db import make_engine
from gis.dialects.sqlite import WalCheckpointer, checkpoint_later


@pytest.fixture()
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)"))
    yield eng
    eng.dispose()


def _write(engine, rows: int, start: int = 0) -> None:
    with engine.connect() as conn, checkpoint_later(engine, conn.connection.driver_connection):
        with conn.begin():
            conn.execute(text("INSERT INTO t (id, payload) VALUES (:id, :p)"),
                         [{"id": start + i, "p": "x" * 500} for i in range(rows)])


def test_the_commit_leaves_the_log_and_the_thread_copies_it(engine, tmp_path):
    path = tmp_path / "store.sqlite"
    checkpointer = WalCheckpointer.of(engine)
    assert checkpointer is WalCheckpointer.of(engine)  # one per engine
    with engine.connect() as conn, checkpoint_later(engine, conn.connection.driver_connection):
        raw = conn.connection.driver_connection
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        with conn.begin():
            conn.execute(text("INSERT INTO t (id, payload) VALUES (:id, :p)"),
                         [{"id": i, "p": "x" * 500} for i in range(20_000)])  # ~2,500 pages: over SQLite's 1,000
        # committed, and the automatic checkpoint did not copy the log in the committing call
        with sqlite3.connect(path) as reader:
            assert reader.execute("SELECT count(*) FROM t").fetchone() == (20_000,)
        assert checkpointer.runs == 0
        assert path.stat().st_size < 100_000  # the rows are in the log only
    assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)  # restored for the pool
    assert checkpointer.wait(30)
    assert checkpointer.runs == 1 and checkpointer.last_error is None
    assert path.stat().st_size > 20_000 * 500  # the thread copied them into the database file
    with sqlite3.connect(path) as reader:  # and the database reads the same
        assert reader.execute("SELECT count(*), sum(length(payload)) FROM t").fetchone() == (20_000, 20_000 * 500)


def test_requests_fold_and_the_thread_ends_when_idle_and_starts_again(engine):
    checkpointer = WalCheckpointer.of(engine)
    checkpointer.idle_s = 0.2
    _write(engine, 3_000)
    _write(engine, 3_000, start=3_000)
    assert checkpointer.wait(30)
    assert 1 <= checkpointer.runs <= 2
    thread = checkpointer._thread
    if thread is not None:
        thread.join(5)
    assert checkpointer._thread is None  # ended after idle_s without a request
    runs = checkpointer.runs
    _write(engine, 3_000, start=6_000)
    assert checkpointer.wait(30) and checkpointer.runs == runs + 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 9_000


def test_a_failing_write_restores_the_setting_and_loses_nothing(engine):
    _write(engine, 100)
    with pytest.raises(RuntimeError):
        with engine.connect() as conn, checkpoint_later(engine, conn.connection.driver_connection):
            raw = conn.connection.driver_connection
            with conn.begin():
                conn.execute(text("INSERT INTO t (id, payload) VALUES (1000, 'y')"))
                raise RuntimeError("the write fails")
    assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    assert WalCheckpointer.of(engine).wait(30)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 100


def test_no_checkpointer_for_a_database_without_a_file():
    eng = make_engine("sqlite://")
    try:
        assert WalCheckpointer.of(eng) is None
        with eng.connect() as conn, checkpoint_later(eng, conn.connection.driver_connection):
            conn.execute(text("SELECT 1"))
    finally:
        eng.dispose()

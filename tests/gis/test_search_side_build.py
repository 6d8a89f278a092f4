"""PostgreSQL: a city load's search tables built on a second connection and swapped in.

:class:`gis.search.side_build.SideBuild` exists only on PostgreSQL (SQLite has one writer),
so these tests run on PostGIS only; the SQLite city load is covered by test_search.py.
"""

from __future__ import annotations

import pytest
import shapely
from sqlalchemy import text

import loaders.city as city
from gis.db import make_engine
from gis.search import reindex_customers
from gis.search.side_build import SideBuild
from gis.store import upsert_rows
from tests.conftest import SAMPLE_DIR, SERVICE_AREA
from tests.gis.test_search import _search_state


@pytest.fixture
def pg_empty(pg_cluster):
    """A fresh migrated, empty PostGIS store."""
    name = pg_cluster.create(f"{pg_cluster.prefix}side_{id(object()):x}", template=pg_cluster.template("empty"))
    engine = make_engine(pg_cluster.url(name))
    try:
        yield engine
    finally:
        engine.dispose()
        pg_cluster.drop(name)
        pg_cluster.created.remove(name)


@pytest.fixture
def swaps(monkeypatch) -> list[bool]:
    """Every city load builds on the side (the sample city is small); records swap_in's answers."""
    monkeypatch.setattr(city, "_PREPARE_MIN", 0)
    answers: list[bool] = []
    original = SideBuild.swap_in

    def recorded(self, conn):
        answers.append(original(self, conn))
        return answers[-1]

    monkeypatch.setattr(SideBuild, "swap_in", recorded)
    return answers


def _builds(conn) -> list[str]:
    return conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ga\\_search\\_build\\_%'")).scalars().all()


def _leftovers(engine) -> tuple[list[str], int]:
    """Build schemas left, and advisory locks on this database still held by any session (other
    databases' locks belong to other test workers or other users of the server)."""
    with engine.connect() as conn:
        locks = conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).scalar_one()
        return _builds(conn), locks


def _reindexed_state(engine) -> tuple:
    with engine.begin() as conn:
        reindex_customers(conn)
    with engine.connect() as conn:
        return _search_state(conn)


def test_a_city_load_swaps_in_search_tables_equal_to_a_reindex(pg_empty, swaps):
    city.import_city(pg_empty, SAMPLE_DIR, service_area=SERVICE_AREA)
    assert swaps == [True]
    with pg_empty.connect() as conn:
        loaded = _search_state(conn)
        # the id sequence passed to the swapped-in table (a later drop must not orphan it)
        assert conn.execute(text("SELECT pg_get_serial_sequence('customer_search', 'id')")).scalar_one()
        top = conn.execute(text("SELECT max(id) FROM customer_search")).scalar_one()
    assert _leftovers(pg_empty) == ([], 0)
    assert len(loaded[0]) == 5000 and len(loaded[1]) > 5000
    assert _reindexed_state(pg_empty) == loaded  # rows, keys, indexes and constraints alike

    new = {"account_no": "0399999999", "name": "新用户", "address": "佛山市禅城区新路1号", "phone": "13800001111",
           "category": "resident", "location_quality": "surveyed", "geom": shapely.Point(113.1, 23.0)}
    with pg_empty.begin() as conn:  # the swapped-in tables take row-wise changes as before
        upsert_rows(conn, "customers", [new])
        reindex_customers(conn, ["0399999999"])
    with pg_empty.connect() as conn:
        row = conn.execute(text("SELECT id FROM customer_search WHERE account_no = '0399999999'")).scalar_one()
        assert row > top
        assert conn.execute(text("SELECT count(*) FROM customer_keys WHERE account_no = '0399999999'")).scalar_one() >= 3
    with pg_empty.begin() as conn:  # the foreign keys came back with their cascade
        conn.execute(text("DELETE FROM customers WHERE account_no = '0399999999'"))
    with pg_empty.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customer_keys WHERE account_no = '0399999999'")).scalar_one() == 0


def test_a_store_holding_other_customers_reindexes_instead(pg_empty, swaps):
    """The built rows cover the load's customers only: with others stored, the rows come from the store."""
    other = {"account_no": "0100000001", "name": "李四", "address": "广州市越秀区一号", "phone": "13911112222",
             "category": "resident", "location_quality": "surveyed", "geom": shapely.Point(113.2, 23.1)}
    with pg_empty.begin() as conn:
        upsert_rows(conn, "customers", [other])
    city.import_city(pg_empty, SAMPLE_DIR, service_area=SERVICE_AREA)
    assert swaps == [False]
    with pg_empty.connect() as conn:
        loaded = _search_state(conn)
    assert "0100000001" in {r[0] for r in loaded[0]} and len(loaded[0]) == 5001
    assert _leftovers(pg_empty) == ([], 0)
    assert _reindexed_state(pg_empty) == loaded


def test_a_side_build_the_database_refuses_falls_back_to_the_reindex(pg_empty, swaps, monkeypatch, caplog):
    """A role that may not create a schema (here: a reserved name) still loads, in one backend."""
    original = SideBuild._build

    def refused(self, conn, table):
        if table == "customer_keys":
            conn.exec_driver_sql("CREATE SCHEMA pg_refused")  # ReservedName, raised by the server
        original(self, conn, table)

    monkeypatch.setattr(SideBuild, "_build", refused)
    city.import_city(pg_empty, SAMPLE_DIR, service_area=SERVICE_AREA)
    assert swaps == [False]
    assert "the side build failed" in caplog.text and "pg_refused" in caplog.text
    with pg_empty.connect() as conn:
        loaded = _search_state(conn)
    assert len(loaded[0]) == 5000
    assert _leftovers(pg_empty) == ([], 0)
    assert _reindexed_state(pg_empty) == loaded


def test_an_error_building_the_rows_fails_the_load(pg_empty, swaps, monkeypatch):
    from gis.search.reindex import PreparedRows

    def broken(self, table):
        raise TypeError("a name that is not text")

    monkeypatch.setattr(PreparedRows, "part", broken)
    with pytest.raises(TypeError, match="not text"):
        city.import_city(pg_empty, SAMPLE_DIR, service_area=SERVICE_AREA)
    assert swaps == []
    assert _leftovers(pg_empty) == ([], 0)
    with pg_empty.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar_one() == 0


@pytest.mark.parametrize("fails_in", ["bulk_upsert", "record_data_version"], ids=["before-swap", "after-swap"])
def test_a_failed_load_leaves_the_search_tables_as_they_were_and_no_build(pg_empty, swaps, monkeypatch, fails_in):
    """Before the swap the build is cancelled wherever it is; after it the rollback restores the
    old tables (and their sequence's ownership). Either way nothing is left behind."""
    import gis.bulk
    import loaders.core

    owner = gis.bulk if fails_in == "bulk_upsert" else loaders.core  # where the shared load core calls it
    original = getattr(owner, fails_in)

    def failing(conn, name, *args, **kwargs):
        if fails_in == "record_data_version" or name == "interactions":
            raise RuntimeError("the load fails here")
        return original(conn, name, *args, **kwargs)

    monkeypatch.setattr(owner, fails_in, failing)
    with pg_empty.connect() as conn:
        before = _search_state(conn)
    with pytest.raises(RuntimeError, match="the load fails here"):
        city.import_city(pg_empty, SAMPLE_DIR, service_area=SERVICE_AREA)
    assert swaps == ([True] if fails_in == "record_data_version" else [])
    with pg_empty.connect() as conn:
        assert _search_state(conn) == before
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar_one() == 0
        assert conn.execute(text("SELECT pg_get_serial_sequence('customer_search', 'id')")).scalar_one()
    assert _leftovers(pg_empty) == ([], 0)
    monkeypatch.setattr(owner, fails_in, original)
    city.import_city(pg_empty, SAMPLE_DIR, service_area=SERVICE_AREA)  # and the next load succeeds
    assert swaps[-1] is True


def test_an_abandoned_build_is_dropped_by_the_next_one_and_a_live_one_is_not(pg_empty, swaps):
    with pg_empty.begin() as conn:  # a crashed load's schema, and one whose load still runs
        for name in ("ga_search_build_dead00000000", "ga_search_build_live00000000"):
            conn.execute(text(f"CREATE SCHEMA {name}"))
            conn.execute(text(f"CREATE TABLE {name}.customer_keys (kind text)"))
    with pg_empty.connect() as live:
        live.execute(text("SELECT pg_advisory_lock(hashtext('ga_search_build_live00000000'))"))
        city.import_city(pg_empty, SAMPLE_DIR, service_area=SERVICE_AREA)
        with pg_empty.connect() as conn:
            assert _builds(conn) == ["ga_search_build_live00000000"]
        live.execute(text("SELECT pg_advisory_unlock_all()"))
    assert swaps == [True]


def test_a_failed_load_cancels_a_build_still_running(pg_empty, swaps, monkeypatch):
    """The load fails while the side connection is busy: its statement is cancelled, not awaited."""
    import time

    import gis.search.side_build as side_build

    original = side_build.write_table

    def slow(conn, table, *args, **kwargs):
        if table == "customer_search":  # one connection stuck in a statement, the other may wait for rows
            conn.exec_driver_sql("SELECT pg_sleep(120)")
        return original(conn, table, *args, **kwargs)

    def failing(conn, name, *args, **kwargs):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _sleeping(pg_empty):  # the build is in its statement
            time.sleep(0.05)
        raise RuntimeError("the load fails here")

    import gis.bulk

    monkeypatch.setattr(side_build, "write_table", slow)
    monkeypatch.setattr(gis.bulk, "bulk_upsert", failing)  # what the shared load core writes with
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="the load fails here"):
        city.import_city(pg_empty, SAMPLE_DIR, service_area=SERVICE_AREA)
    assert time.monotonic() - start < 60
    assert _leftovers(pg_empty) == ([], 0)
    assert not _sleeping(pg_empty)


def _sleeping(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                      "AND query = 'SELECT pg_sleep(120)'")).scalar_one())

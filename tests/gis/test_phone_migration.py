"""Migration 0016_phone_digits: phones an earlier `import city` stored as written become the
national digits every path stores (gis.phones), their search rows follow, and a value that is not
a phone is kept as it is and counted in the log; on both stores."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.db import current_revision, downgrade, head_revision, make_engine, migrate
from gis.search import build_caller_index, reindex_customers, search_customers
from tests.conftest import SAMPLE_DIR, SERVICE_AREA, STORES

#: account → (phone, phone_alt) as an old `import city` stored them (the file's text)
WRITTEN = {
    "0300100001": ("+86 131-2628-2696", None),
    "0300100017": ("135 2613 8187", "（0757）8123 4567"),
    "0300100024": ("757-8765-4321", None),          # a landline without its trunk 0 (search keys change)
    "0300100037": ("１３９２２２２３３３３", None),  # full-width digits
    "0300100043": ("12345", "13926138188"),          # not a phone: kept; the alt is a plain mobile
    "0300100051": ("无", "0086 138 0013 8000"),       # not a phone: kept; the alt is parsed
}
EXPECTED = {
    "0300100001": ("13126282696", None),
    "0300100017": ("13526138187", "075781234567"),
    "0300100024": ("075787654321", None),
    "0300100037": ("13922223333", None),
    "0300100043": ("12345", "13926138188"),
    "0300100051": ("无", "13800138000"),
}


@pytest.fixture(params=STORES)
def store_at_0015(request, tmp_path) -> Iterator[Engine]:
    """A store at revision 0015 holding the sample city with phones written as the old import did."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'old.sqlite'}", None
    else:
        cluster = request.getfixturevalue("pg_cluster")
        name = cluster.create(f"{cluster.prefix}{uuid.uuid4().hex[:10]}")
        url, drop = cluster.url(name), lambda: (cluster.drop(name), cluster.created.remove(name))
    engine = make_engine(url)
    try:
        migrate(engine)  # the city as today's loader writes it, then the schema taken back to 0015
        from loaders.city import import_city

        city = tmp_path / "city"
        shutil.copytree(SAMPLE_DIR, city)
        import_city(engine, city, service_area=SERVICE_AREA)
        downgrade(engine, "0015_heat_perf")
        with engine.begin() as conn:  # as the old import stored them, search rows built from them
            for account, (phone, alt) in WRITTEN.items():
                conn.execute(text("UPDATE customers SET phone = :p, phone_alt = :a WHERE account_no = :n"),
                             {"p": phone, "a": alt, "n": account})
            reindex_customers(conn, list(WRITTEN))
        assert current_revision(engine) == "0015_heat_perf"
        yield engine
    finally:
        engine.dispose()
        if drop is not None:
            drop()


def _found(conn, q: str, index) -> list[str]:
    return [m["account_no"] for m in search_customers(conn, q, limit=50, index=index).data]


def test_upgrade_stores_national_digits_rebuilds_search_and_keeps_what_is_not_a_phone(store_at_0015, caplog):
    engine = store_at_0015
    with engine.connect() as conn:
        versions_before = conn.execute(text("SELECT count(*) FROM data_versions")).scalar_one()
        other_before = conn.execute(text(
            "SELECT account_no, phone, phone_alt FROM customers WHERE account_no NOT IN "
            "('0300100001','0300100017','0300100024','0300100037','0300100043','0300100051') ORDER BY account_no")).all()
        # before: the landline written without its trunk 0 is not found by its national form
        assert "0300100024" not in _found(conn, "0757-87654321", None)

    with caplog.at_level(logging.INFO, logger="alembic.runtime.migration"):
        migrate(engine)
    assert current_revision(engine) == head_revision()
    log = "\n".join(r.getMessage() for r in caplog.records if "0016_phone_digits" in r.getMessage())
    assert "5 customer(s) had phones rewritten as national digits; 1 of them needed new search rows" in log
    assert "2 stored phone value(s) are not phone numbers and were kept" in log

    with engine.connect() as conn:
        stored = {a: (p, q) for a, p, q in conn.execute(text(
            "SELECT account_no, phone, phone_alt FROM customers WHERE account_no IN "
            "('0300100001','0300100017','0300100024','0300100037','0300100043','0300100051')"))}
        assert stored == EXPECTED
        after = conn.execute(text(
            "SELECT account_no, phone, phone_alt FROM customers WHERE account_no NOT IN "
            "('0300100001','0300100017','0300100024','0300100037','0300100043','0300100051') ORDER BY account_no")).all()
        assert after == other_before  # the city's own phones were digits already: untouched
        version = conn.execute(text("SELECT source FROM data_versions ORDER BY id DESC LIMIT 1")).scalar_one()
        assert version == "migration:0016_phone_digits"
        assert conn.execute(text("SELECT count(*) FROM data_versions")).scalar_one() == versions_before + 1
        # exact caller matching compares stored phones
        assert conn.execute(text("SELECT account_no FROM customers WHERE phone = '075787654321'")).scalar_one() == "0300100024"
        index = build_caller_index(conn)
        for idx in (None, index):
            for q, account in (("0757-87654321", "0300100024"),
                               ("13922223333", "0300100037"), ("13126282696", "0300100001"),
                               ("0757 8123 4567", "0300100017"), ("13800138000", "0300100051"), ("8000", "0300100051")):
                assert account in _found(conn, q, idx), (q, idx is not None)


def test_a_store_of_digits_is_left_alone(city_store):
    """The sample city (phones stored as digits by today's import): nothing to rewrite, nothing refused."""
    import importlib

    migration = importlib.import_module("gis.migrations.versions.0016_phone_digits")
    with city_store.begin() as conn:
        assert migration.normalize_stored_phones(conn) == ([], 0)

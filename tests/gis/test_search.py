"""Caller search on both stores: every query shape with exact expected results.

A hand-built set of customers (2-character names, heteronyms 曾 and 单, the compound
surname 欧阳, shared and formatted phone numbers, a landline, text read from a GBK-encoded
CSV with full-width digits) is loaded into each store; each query's full ranked answer is
asserted, and the store path, the in-memory index path and the other store must agree.
"""

from __future__ import annotations

import io
import random

import pandas as pd
import pytest
import shapely
from sqlalchemy import inspect, text

from gis.db import make_engine, migrate
from gis.errors import InvalidInput, StoreUnavailable
from gis.search import build_caller_index, reindex_customers, search_customers, search_in_memory
from gis.search.normalize import normalize_phone, pinyin_keys
from gis.store import upsert_rows
from tests.conftest import SAMPLE_DIR

# account_no, name, address, phone, phone_alt
PEOPLE = [
    ("0300100001", "张伟", "佛山市禅城区人民南路12号", "13800001234", None),
    ("0300100002", "张伟", "佛山市南海区桂城街道临园路8号", "+86 139-0000-5678", None),
    ("0300100003", "曾伟", "佛山市禅城区人民南路120号", "0757-83331234", None),
    ("0300100004", "单丽", "佛山市顺德区大良临园路3号", "159 1234 5678", "138-0000-1234"),
    ("0300100005", "欧阳娜娜", "佛山市禅城区汾江中路1号", "18600009999", None),
    ("0300100006", "张伟华", "佛山市禅城区人民南路12号之一", "13700004321", None),
    ("0300200003", "佛山市禅城区陈记家具店", "佛山市禅城区祖庙路5号", "0757-82220000", None),
    ("0300200004", "王芳", "佛山市禅城区祖庙路88号", "13500008888", None),
]
# Rows that arrive in a GBK-encoded CSV (full-width digits, an ideographic space).
GBK_CSV = "account_no,name,address,phone\n0300200001,李明,佛山市禅城区人民南路１２号　３栋,１３６００００７７７７\n0300200002,吕强,佛山市禅城区普澜二路9号,13600006666\n"


def _rows() -> list[dict]:
    gbk = pd.read_csv(io.BytesIO(GBK_CSV.encode("gbk")), encoding="gbk", dtype=str)
    people = PEOPLE + [(r.account_no, r.name, r.address, r.phone, None) for r in gbk.itertuples()]
    return [  # every other customer has a sensitivity: a column mixing text and NULL
        {"account_no": a, "name": n, "address": addr, "phone": p, "phone_alt": alt, "category": "居民",
         "sensitivity": "重要客户" if i % 2 else None,
         "location_quality": "geocoded", "geom": shapely.Point(113.1 + i / 1000, 23.0 + i / 1000)}
        for i, (a, n, addr, p, alt) in enumerate(people)
    ]


@pytest.fixture
def store(empty_store):
    with empty_store.begin() as conn:
        upsert_rows(conn, "customers", _rows())
        assert reindex_customers(conn) == len(PEOPLE) + 2
    return empty_store


def _answer(conn, q, index=None, limit=20):
    result = search_customers(conn, q, limit=limit, index=index)
    return result.shape, [(d["account_no"], d["matched"], d["score"]) for d in result.data], [d["account_no"] for d in result.suggestions]


EXPECTED = {
    # phones: full, formatted, +86, landline with its area code, shared by two customers (one as phone_alt)
    "13800001234": ("phone", [("0300100001", "phone", 1.0), ("0300100004", "phone", 1.0)], []),
    "+86 138-0000-1234": ("phone", [("0300100001", "phone", 1.0), ("0300100004", "phone", 1.0)], []),
    "139 0000 5678": ("phone", [("0300100002", "phone", 1.0)], []),
    "0757-8333-1234": ("phone", [("0300100003", "phone", 1.0)], []),
    "13600007777": ("phone", [("0300200001", "phone", 1.0)], []),  # typed full-width in the GBK file
    # 尾号: the last four digits of any number
    "1234": ("phone", [("0300100001", "phone_last4", 0.75), ("0300100003", "phone_last4", 0.75), ("0300100004", "phone_last4", 0.75)], []),
    # a partial number: a substring of the numbers, shorter number lists first
    "00012": ("account", [("0300100001", "phone", 0.4455), ("0300100004", "phone", 0.4217)], []),
    # account numbers: exact, then prefix
    "0300100004": ("account", [("0300100004", "account", 1.0)], []),
    "03002": ("account", [("0300200001", "account_prefix", 0.65), ("0300200002", "account_prefix", 0.65),
                          ("0300200003", "account_prefix", 0.65), ("0300200004", "account_prefix", 0.65)], []),
    # names: two characters exact, then longer names with that prefix; a surname alone; compound surname
    "张伟": ("name", [("0300100001", "name", 0.9), ("0300100002", "name", 0.9), ("0300100006", "name", 0.7)], []),
    "张": ("name", [("0300100001", "name", 0.7), ("0300100002", "name", 0.7), ("0300100006", "name", 0.7)], []),
    "曾伟": ("name", [("0300100003", "name", 0.9)], []),
    "欧阳": ("name", [("0300100005", "name", 0.7)], []),
    "欧阳娜娜": ("name", [("0300100005", "name", 0.9)], []),
    "李明": ("name", [("0300200001", "name", 0.9)], []),
    "陈记家具": ("name", [("0300200003", "name", 0.4364)], []),
    # pinyin: full and initials, every reading of a heteronym
    "zhangwei": ("pinyin", [("0300100001", "pinyin", 0.85), ("0300100002", "pinyin", 0.85), ("0300100006", "pinyin", 0.6)], []),
    "zengwei": ("pinyin", [("0300100003", "pinyin", 0.85)], []),
    "cengwei": ("pinyin", [("0300100003", "pinyin", 0.85)], []),
    "Zeng Wei": ("pinyin", [("0300100003", "pinyin", 0.85)], []),
    "shanli": ("pinyin", [("0300100004", "pinyin", 0.85)], []),
    "danli": ("pinyin", [("0300100004", "pinyin", 0.85)], []),
    "sl": ("pinyin", [("0300100004", "pinyin_initials", 0.8)], []),
    "zw": ("pinyin", [("0300100001", "pinyin_initials", 0.8), ("0300100002", "pinyin_initials", 0.8),
                      ("0300100003", "pinyin_initials", 0.8), ("0300100006", "pinyin_initials", 0.55)], []),
    "ouyang": ("pinyin", [("0300100005", "pinyin", 0.6)], []),
    "lvqiang": ("pinyin", [("0300200002", "pinyin", 0.85)], []),
    # addresses: every term contained (shorter addresses first), then fuzzy (trigram similarity)
    "人民南路 12号": ("mixed", [("0300100001", "address", 0.4538), ("0300200001", "address", 0.4467),
                             ("0300100006", "address", 0.4467)], []),
    # a typo: nothing contains it; addresses holding ≥ 60 % of its trigrams are fuzzy results
    "人民南路12好": ("mixed", [("0300100001", "address", 0.24), ("0300100003", "address", 0.24),
                            ("0300200001", "address", 0.24), ("0300100006", "address", 0.24)], []),
    "临园路": ("name", [("0300100004", "address", 0.4231), ("0300100002", "address", 0.42)], []),
    "１２号": ("mixed", [("0300100001", "address", 0.4231), ("0300200001", "address", 0.42), ("0300100006", "address", 0.42)], []),
    # an unknown caller: nothing matches; the nearest addresses are suggested
    "幸福路88号": ("mixed", [], ["0300200004"]),
    "13999999999": ("phone", [], []),
    "xyz": ("pinyin", [], []),
}


@pytest.mark.parametrize("q", list(EXPECTED))
def test_every_query_shape_gives_the_exact_ranked_answer(store, q):
    with store.connect() as conn:
        assert _answer(conn, q) == EXPECTED[q]


def test_the_memory_index_answers_exactly_as_the_store(store):
    with store.connect() as conn:
        index = build_caller_index(conn)
        for q in EXPECTED:
            assert _answer(conn, q, index) == _answer(conn, q), q
            # the records it keeps are the store's, field for field (coordinates to the bit)
            assert search_customers(conn, q, index=index).to_dict() == search_customers(conn, q).to_dict(), q
        assert len(index) == len(PEOPLE) + 2


@pytest.mark.parametrize("q", ["13800001234", "+86 138-0000-1234", "1234", "0300100004"])
def test_an_exact_lookup_is_answered_from_memory_alone(store, q):
    with store.connect() as conn:
        index = build_caller_index(conn)
        expected = search_customers(conn, q).to_dict()
    found = search_in_memory(q, index)  # the same answer, no store involved
    assert found is not None and found.to_dict() == expected


@pytest.mark.parametrize("q", ["张伟", "zw", "00012", "人民南路 12号", "13999999999"[:5]])
def test_other_shapes_say_they_need_the_store(store, q):
    with store.connect() as conn:
        index = build_caller_index(conn)
    assert search_in_memory(q, index) is None


def test_a_customer_added_after_the_index_was_built_still_gets_its_record_from_the_store(store):
    with store.connect() as conn:
        index = build_caller_index(conn)
    with store.begin() as conn:
        row = dict(_rows()[0], account_no="0300900001", name="张伟", phone="13800009999")
        upsert_rows(conn, "customers", [row])
        reindex_customers(conn, ["0300900001"])
    with store.connect() as conn:
        found = {d["account_no"]: d for d in search_customers(conn, "张伟", index=index).data}
    assert found["0300900001"]["phone"] == "13800009999"


def test_items_carry_the_contract_fields(store):
    with store.connect() as conn:
        item = search_customers(conn, "13800001234").data[0]
    assert item == {
        "account_no": "0300100001", "name": "张伟", "address": "佛山市禅城区人民南路12号", "phone": "13800001234",
        "category": "居民", "sensitivity": None, "transformer_id": None, "meter_box_id": None,
        "lon": 113.1, "lat": 23.0, "location_quality": "geocoded", "matched": "phone", "score": 1.0,
    }


def test_limit_cuts_the_ranked_list(store):
    with store.connect() as conn:
        assert [d["account_no"] for d in search_customers(conn, "zw", limit=2).data] == ["0300100001", "0300100002"]


@pytest.mark.parametrize("q, message", [("", "empty"), ("   ", "empty"), ("张\x00伟", "control"), ("1" * 101, "longer"), (None, "text")])
def test_an_absurd_query_is_refused_naming_the_field(store, q, message):
    with store.connect() as conn, pytest.raises(InvalidInput, match=message) as err:
        search_customers(conn, q)
    assert err.value.field == "q"


def test_reindexing_some_customers_replaces_their_rows(store):
    with store.begin() as conn:
        conn.execute(text("UPDATE customers SET phone = '13911112222', address = '佛山市禅城区季华五路1号' WHERE account_no = '0300100004'"))
        assert reindex_customers(conn, ["0300100004"]) == 1
    with store.connect() as conn:
        assert _answer(conn, "13911112222")[1] == [("0300100004", "phone", 1.0)]
        assert _answer(conn, "15912345678")[1] == []
        assert [a for a, _, _ in _answer(conn, "临园路")[1]] == ["0300100002"]
        assert [a for a, _, _ in _answer(conn, "季华五路")[1]] == ["0300100004"]
        assert _answer(conn, "13800001234")[1] == [("0300100001", "phone", 1.0), ("0300100004", "phone", 1.0)]  # phone_alt kept


def test_the_migration_creates_the_trigram_indexes(empty_store):
    names = set(inspect(empty_store).get_table_names())
    assert {"customer_search", "customer_keys"} <= names
    with empty_store.connect() as conn:
        if empty_store.dialect.name == "postgresql":
            idx = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%'")).scalars())
            assert idx == {"ix_customer_search_name_key_trgm", "ix_customer_search_address_key_trgm", "ix_customer_search_phones_trgm"}
        else:
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'customer_search_fts'")).scalar_one()
            assert "fts5" in sql and "trigram" in sql


def test_a_database_without_utf8_ctype_is_refused_clearly(pg_cluster):
    name = f"{pg_cluster.prefix}ascii"
    with pg_cluster.admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_CTYPE 'C' LC_COLLATE 'C' TEMPLATE template0"))
    pg_cluster.created.append(name)
    engine = make_engine(pg_cluster.url(name))
    try:
        with pytest.raises(StoreUnavailable, match="UTF-8") as err:
            migrate(engine)
        assert err.value.field == "database_url"
    finally:
        engine.dispose()


def test_normalization_of_phones_and_heteronyms():
    assert normalize_phone("+86 138-0000-1234") == normalize_phone("0086 13800001234") == "13800001234"
    assert normalize_phone("(0757) 8333 1234") == "075783331234"
    # a landline written internationally is the stored 0 + area code + number (gis.phones' form)
    assert normalize_phone("+86 757 8765 4321") == normalize_phone("0086-757-87654321") == "075787654321"
    assert normalize_phone("+86 (0)757 8765 4321") == "075787654321"
    full, initials = pinyin_keys("单丽")
    assert set(full) == {"danli", "shanli", "chanli"} and set(initials) == {"dl", "sl", "cl"}
    full, _ = pinyin_keys("曾长乐")  # 3 heteronyms: 2 × 2 × 2 readings at most (capped at 16)
    assert {"zengzhangle", "cengchangle", "zengchangyue"} <= set(full) and len(full) <= 16


def test_a_landline_typed_with_the_country_code_is_searched_as_stored():
    """+86 757 … is searched as 0757…, the form every loader stores (gis.phones), so it finds its customer."""
    from gis.search.normalize import parse_query, phone_keys

    q = parse_query("+86 757 8765 4321")
    assert q.shape == "phone" and q.digits == "075787654321"
    assert q.digits in phone_keys("075787654321", None)[0]


def test_address_fragments_match_a_brute_force_scan_of_the_sample(city_store):
    """Property against a simple reference: every fragment finds exactly the addresses containing it."""
    customers = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
    rng = random.Random(5)
    addresses = customers["address"].dropna().tolist()
    with city_store.connect() as conn:
        for _ in range(25):
            address = rng.choice(addresses)
            start = rng.randrange(6, len(address) - 3)
            fragment = address[start : start + rng.randint(3, 6)]
            expected = set(customers.loc[customers["address"].str.contains(fragment, regex=False, na=False), "account_no"])
            got = {d["account_no"] for d in search_customers(conn, fragment, limit=5000).data if d["matched"] == "address" and d["score"] >= 0.4}
            assert got == expected, fragment


def _search_state(conn) -> tuple:
    """Every row of the search tables (without the surrogate id) and the DDL of their indexes."""
    search = conn.execute(text("SELECT account_no, name_key, address_key, phones FROM customer_search ORDER BY account_no")).all()
    keys = conn.execute(text("SELECT kind, key, account_no FROM customer_keys ORDER BY kind, key, account_no")).all()
    if conn.dialect.name == "postgresql":
        ddl = conn.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE tablename IN ('customer_search', 'customer_keys') "
            "UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid IN ('customer_search'::regclass, 'customer_keys'::regclass) ORDER BY 1")).scalars().all()
    else:
        ddl = conn.execute(text("SELECT type, name, sql FROM sqlite_master WHERE tbl_name LIKE 'customer_s%' "
                                "OR tbl_name = 'customer_keys' ORDER BY name")).all()
        conn.execute(text("INSERT INTO customer_search_fts(customer_search_fts) VALUES ('integrity-check')"))
    return search, keys, ddl


_CHANGED_QUERIES = ["13911112222", "15912345678", "临园路", "季华五路", "wangfang", "王芳", "zhaoliu", "赵六", "1234"]


@pytest.mark.parametrize("share", [0.0, 1.0], ids=["bulk", "partial"])
def test_the_bulk_and_partial_paths_give_identical_rows_and_answers(store, monkeypatch, share):
    """The same change reindexed through the bulk path (indexes dropped and rebuilt) and the
    row-wise path leaves identical rows, the same indexes and the same answer to every query."""
    import gis.search.reindex as reindex_module

    with store.connect() as conn:
        before = _search_state(conn)
    sqlite = store.dialect.name == "sqlite"
    with store.connect() as conn:
        if sqlite:  # outside a transaction, where SQLite honours it
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        with conn.begin():
            conn.execute(text("UPDATE customers SET phone = '13911112222', address = '佛山市禅城区季华五路1号' WHERE account_no = '0300100004'"))
            conn.execute(text("UPDATE customers SET name = '赵六' WHERE account_no = '0300100006'"))
            if not sqlite:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("DELETE FROM customers WHERE account_no = '0300200004'"))  # no cascade: the reindex must drop its rows
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
    monkeypatch.setattr(reindex_module, "BULK_SHARE", share)
    with store.begin() as conn:
        assert reindex_customers(conn, ["0300100004", "0300100006", "0300200004", "0300100004"]) == 2
    with store.connect() as conn:
        changed = _search_state(conn)
        answers = {q: _answer(conn, q) for q in [*EXPECTED, *_CHANGED_QUERIES]}
    assert changed[2] == before[2]  # every index and constraint is back, unchanged
    assert "0300200004" not in {r[0] for r in changed[0]} | {r[2] for r in changed[1]}
    assert answers["13911112222"][1] == [("0300100004", "phone", 1.0)] and answers["15912345678"][1] == []
    assert [a for a, _, _ in answers["赵六"][1]] == ["0300100006"] and answers["王芳"][1] == []
    with store.begin() as conn:  # a full reindex (always the bulk path) agrees exactly
        assert reindex_customers(conn) == len(PEOPLE) + 1
    with store.connect() as conn:
        assert _search_state(conn) == changed
        assert {q: _answer(conn, q) for q in answers} == answers


def test_a_rolled_back_bulk_reindex_leaves_rows_and_indexes_intact(store):
    with store.connect() as conn:
        before = _search_state(conn)
    with pytest.raises(RuntimeError), store.begin() as conn:
        conn.execute(text("UPDATE customers SET name = '赵六'"))
        reindex_customers(conn)
        raise RuntimeError("the load fails after the reindex")
    with store.connect() as conn:
        assert _search_state(conn) == before
        assert _answer(conn, "张伟") == EXPECTED["张伟"]


def test_a_deleted_customer_leaves_no_search_entry(store):
    """The cascade removes its search rows; on SQLite the FTS5 mirror forgets it too (migration 0005)."""
    with store.connect() as conn:
        assert [d["account_no"] for d in search_customers(conn, "祖庙路88号").data] == ["0300200004"]
    with store.begin() as conn:
        conn.execute(text("DELETE FROM customers WHERE account_no = '0300200004'"))
    with store.begin() as conn:
        reindex_customers(conn, ["0300100001"])  # a small reindex beside it keeps the mirror consistent
    with store.connect() as conn:
        assert search_customers(conn, "祖庙路88号").data == []
        assert conn.execute(text("SELECT count(*) FROM customer_keys WHERE account_no = '0300200004'")).scalar() == 0
        if conn.dialect.name == "sqlite":  # the mirror holds exactly the table's rows
            conn.execute(text("INSERT INTO customer_search_fts(customer_search_fts, rank) VALUES ('integrity-check', 1)"))
            assert conn.execute(text("SELECT count(*) FROM customer_search_fts WHERE customer_search_fts MATCH '祖庙路88'")).scalar() == 0
    with store.begin() as conn:  # a full (bulk) reindex drops and recreates the trigger
        reindex_customers(conn)
    with store.begin() as conn:
        conn.execute(text("DELETE FROM customers WHERE account_no = '0300200003'"))
    with store.connect() as conn:
        assert "0300200003" not in {d["account_no"] for d in search_customers(conn, "陈记家具").data}
        if conn.dialect.name == "sqlite":
            conn.execute(text("INSERT INTO customer_search_fts(customer_search_fts, rank) VALUES ('integrity-check', 1)"))


def _columns(rows: list[dict]) -> list[list]:
    return [[r[c] for r in rows] for c in ("account_no", "name", "address", "phone", "phone_alt")]


@pytest.mark.parametrize("odd_account", [False, True], ids=["copy-text", "tuples"])
def test_rows_prepared_while_loading_equal_rows_built_from_the_store(store, odd_account):
    """A city load's search rows, built in a worker from its frame, are exactly those a reindex
    from the store gives; an account number COPY text would need escaped takes the tuple path."""
    from gis.search.reindex import PreparedRows

    rows = _rows()
    if odd_account:
        rows.append({**rows[0], "account_no": "03\\00\t1", "geom": shapely.Point(113.2, 23.1)})
        with store.begin() as conn:
            upsert_rows(conn, "customers", rows[-1:])
            reindex_customers(conn)
    with store.connect() as conn:
        expected = _search_state(conn)
    with PreparedRows(_columns(rows), dialect=store.dialect.name) as prepared:
        with store.begin() as conn:
            assert reindex_customers(conn, prepared=prepared) == len(rows)
        sqlite = store.dialect.name == "sqlite"
        assert prepared.result()[2] == ("json" if sqlite else "rows" if odd_account else "copy")
    with store.connect() as conn:
        assert _search_state(conn) == expected


def test_prepared_rows_of_fewer_customers_than_stored_are_not_used(store):
    """Customers stored before the load are not in the load's frame: the rows come from the store."""
    from gis.search.reindex import PreparedRows

    with store.connect() as conn:
        expected = _search_state(conn)
    with PreparedRows(_columns(_rows()[:3]), dialect=store.dialect.name) as prepared:
        with store.begin() as conn:
            assert reindex_customers(conn, prepared=prepared) == len(PEOPLE) + 2
    with store.connect() as conn:
        assert _search_state(conn) == expected


def test_prepared_parts_read_from_two_threads_are_the_rows_of_one_build():
    """Each side connection waits for its own table's rows; both get exactly what result() gives."""
    import threading

    from gis.search.reindex import PreparedRows, search_rows

    rows = _rows()
    got: dict[str, tuple] = {}
    with PreparedRows(_columns(rows), dialect="postgresql") as prepared:
        threads = [threading.Thread(target=lambda t=t: got.__setitem__(t, prepared.part(t)))
                   for t in ("customer_keys", "customer_search")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert prepared.result() == (got["customer_search"][0], got["customer_keys"][0], "copy")
    search, keys = search_rows(zip(*_columns(rows)))
    lines = "".join(got["customer_keys"][0]).splitlines()
    assert lines == sorted("\t".join(k) for k in keys)
    assert "".join(got["customer_search"][0]).splitlines() == ["\t".join(r) for r in search]


def test_a_failing_prepared_build_raises_in_the_caller_and_leaves_no_worker():
    from gis.search.reindex import PreparedRows

    with PreparedRows([["0300100001"], [5], [None], [None], [None]], dialect="postgresql") as prepared:
        with pytest.raises(TypeError):
            prepared.result()
    assert not prepared._process.is_alive()
    with PreparedRows(_columns(_rows()), dialect="sqlite") as unused:  # left before its result: ended
        pass
    assert not unused._process.is_alive()


def test_a_city_load_with_prepared_rows_indexes_exactly_as_a_reindex_from_the_store(empty_store, monkeypatch):
    import loaders.city as city
    from tests.conftest import SERVICE_AREA

    monkeypatch.setattr(city, "_PREPARE_MIN", 0)  # the sample city is small: use the worker anyway
    city.import_city(empty_store, SAMPLE_DIR, service_area=SERVICE_AREA)
    with empty_store.connect() as conn:
        loaded = _search_state(conn)
    with empty_store.begin() as conn:
        reindex_customers(conn)
    with empty_store.connect() as conn:
        assert _search_state(conn) == loaded
    assert len(loaded[0]) == 5000 and len(loaded[1]) > 5000

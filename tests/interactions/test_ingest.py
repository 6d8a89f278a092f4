"""Ingest of interactions on both stores: matching, placement, idempotency, bad rows, rollups kept exact."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from h3.api import basic_int as h3i
from sqlalchemy import text

from gis.interaction_rollups import FINE_RES, day_number, parent_cells, rebuild_rollups
from interactions.ingest import ingest, ingest_interactions
from tests.rollup_views import AREAS, CELLS
from tests.conftest import SAMPLE_DIR, SERVICE_AREA

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
A, B, C, D = (CUSTOMERS.iloc[i] for i in (0, 1, 2, 3))


def _rollups(conn) -> tuple[list, list]:
    """The counting rollup rows (a row that dropped to zero stays with n = 0 for the in-memory followers)."""
    cells = conn.execute(text(f"SELECT cell, day, channel, kind, n FROM {CELLS} c WHERE n <> 0 "
                              "ORDER BY 1,2,3,4")).all()
    areas = conn.execute(text(f"SELECT area_kind, area_id, day, channel, kind, n FROM {AREAS} a WHERE n <> 0 "
                              "ORDER BY 1,2,3,4,5")).all()
    return [tuple(r) for r in cells], [tuple(r) for r in areas]


def _assert_rollups_exact(engine) -> None:
    """The incrementally kept rollups equal a rebuild from the raw table."""
    with engine.connect() as conn:
        trans = conn.begin()
        kept = _rollups(conn)
        rebuild_rollups(conn)
        rebuilt = _rollups(conn)
        trans.rollback()
    assert kept == rebuilt


def _rec(i: str, **kw) -> dict:
    base = {"id": i, "channel": "95598电话", "kind": "投诉", "occurred_at": "2026-03-01T09:30:00+08:00", "text": "停电了"}
    return {**base, **kw}


def _row(engine, rid: str) -> dict:
    with engine.connect() as conn:
        r = conn.execute(text("SELECT account_no, matched_by, cell, day, transformer_id, feeder_id, kind FROM interactions WHERE id = :i"),
                         {"i": rid}).mappings().one()
    return dict(r)


def test_matching_placement_and_exact_rollups(city_store):
    with city_store.begin() as conn:  # B's second number is A's phone: that number is ambiguous
        conn.execute(text("UPDATE customers SET phone_alt = :p WHERE account_no = :a"), {"p": A.phone, "a": B.account_no})
        conn.execute(text("UPDATE customers SET wechat_openid = 'oWX-test-1' WHERE account_no = :a"), {"a": D.account_no})
    records = [
        _rec("T1", account_no=A.account_no),
        _rec("T2", account_no="9999999999", caller_phone="+86 " + C.phone),  # unknown account, known phone
        _rec("T3", caller_phone=A.phone),                                        # ambiguous phone
        _rec("T4", wechat_openid="oWX-test-1", channel="微信"),                  # openid
        _rec("T5", caller_phone="13900000000", lon=113.1, lat=23.0),             # unknown caller, own place
        _rec("T6", caller_phone="13900000001"),                                  # unknown, nowhere
    ]
    result = ingest(city_store, records, service_area=SERVICE_AREA)
    assert (result.inserted, result.updated, result.unchanged, result.rejects) == (6, 0, 0, [])
    assert result.matched == {"account": 1, "phone": 1, "ambiguous": 1, "wechat": 1, "unknown": 2}

    t1 = _row(city_store, "T1")
    assert (t1["account_no"], t1["matched_by"], t1["transformer_id"]) == (A.account_no, "account", A.transformer_id)
    assert t1["cell"] == h3i.latlng_to_cell(float(A.lat), float(A.lon), FINE_RES)  # placed at its customer
    assert t1["day"] == day_number(pd.Timestamp("2026-03-01").date())
    assert t1["feeder_id"] is not None
    assert _row(city_store, "T2")["account_no"] == C.account_no
    t3 = _row(city_store, "T3")
    assert (t3["account_no"], t3["matched_by"], t3["cell"], t3["transformer_id"]) == (None, "ambiguous", None, None)
    assert _row(city_store, "T4")["account_no"] == D.account_no
    t5 = _row(city_store, "T5")
    assert t5["cell"] == h3i.latlng_to_cell(23.0, 113.1, FINE_RES) and t5["transformer_id"] is None
    assert _row(city_store, "T6")["cell"] is None

    with city_store.connect() as conn:
        n = conn.execute(text(f"SELECT sum(n) FROM {AREAS} a WHERE area_kind = 'transformer' AND area_id = :t "
                              "AND day = :d AND kind = '投诉'"), {"t": A.transformer_id, "d": t1["day"]}).scalar_one()
        res9 = int(parent_cells([t5["cell"]], 9)[0])
        m = conn.execute(text(f"SELECT sum(n) FROM {CELLS} c WHERE cell = :c AND day = :d"),
                         {"c": res9, "d": t5["day"]}).scalar_one()
    assert n >= 1 and m >= 1
    _assert_rollups_exact(city_store)


def test_reingest_is_idempotent_and_a_change_moves_counts(city_store):
    records = [_rec("R1", account_no=A.account_no), _rec("R2", account_no=B.account_no, kind="咨询")]
    ingest(city_store, records, service_area=SERVICE_AREA)
    with city_store.connect() as conn:
        before = _rollups(conn)
    again = ingest(city_store, records, service_area=SERVICE_AREA)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    with city_store.connect() as conn:
        assert _rollups(conn) == before
    # R2 changes kind and customer: its count leaves B's 台区 / 咨询 and arrives at C's / 投诉
    changed = ingest(city_store, [_rec("R2", account_no=C.account_no, kind="投诉")], service_area=SERVICE_AREA)
    assert (changed.inserted, changed.updated) == (0, 1)
    assert _row(city_store, "R2")["transformer_id"] == C.transformer_id
    _assert_rollups_exact(city_store)


@pytest.mark.parametrize("field, value, reason", [
    ("channel", "抖音", "must be one of"),
    ("kind", "催费", "must be one of"),
    ("occurred_at", "2026-13-45 25:00", "not an ISO 8601 time"),
    ("occurred_at", None, "required"),
])
def test_bad_rows_are_rejected_with_reasons(empty_store, field, value, reason):
    records = [_rec("OK1"), _rec("BAD1", **{field: value})]
    result = ingest(empty_store, records, service_area=SERVICE_AREA, rows=[2, 3])
    assert result.inserted == 1
    [p] = result.rejects
    assert (p.row, p.id, p.field) == (3, "BAD1", field)
    assert reason in p.reason
    with empty_store.connect() as conn:
        assert conn.execute(text("SELECT id FROM interactions")).scalars().all() == ["OK1"]


def test_coordinates_outside_the_service_area_and_duplicates(empty_store):
    records = [_rec("X1", lon=100.0, lat=30.0), _rec("X2", lon=23.0, lat=113.1), _rec("X3", lon=113.1),
               _rec("X4"), _rec("X4", kind="咨询")]
    result = ingest(empty_store, records, service_area=SERVICE_AREA)
    reasons = {p.id: (p.field, p.reason) for p in result.rejects}
    assert reasons["X1"][0] == "lon,lat" and "outside the service area" in reasons["X1"][1]
    assert "swapped" in reasons["X2"][1]
    assert "both" in reasons["X3"][1]
    assert "given twice" in reasons["X4"][1]
    assert result.inserted == 1


def test_screeners_run_in_the_ingest_transaction(empty_store):
    class Alerts:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def screen(self, conn, rows):
            self.seen += [r["id"] for r in rows]
            assert conn.execute(text("SELECT count(*) FROM interactions")).scalar_one() == len(rows)  # already written

    class Failing:
        def screen(self, conn, rows):
            raise RuntimeError("screener failed")

    alerts = Alerts()
    ingest(empty_store, [_rec("S1"), _rec("S2")], service_area=SERVICE_AREA, screeners=[alerts])
    assert alerts.seen == ["S1", "S2"]
    again = Alerts()
    ingest(empty_store, [_rec("S1"), _rec("S2")], service_area=SERVICE_AREA, screeners=[again])
    assert again.seen == []  # unchanged rows are not screened twice
    with pytest.raises(RuntimeError):
        ingest(empty_store, [_rec("S3")], service_area=SERVICE_AREA, screeners=[Failing()])
    with empty_store.connect() as conn:  # the failed screener rolled the whole ingest back
        assert conn.execute(text("SELECT count(*) FROM interactions WHERE id = 'S3'")).scalar_one() == 0
        assert ingest_interactions  # the in-transaction form is the public seam too


def test_the_city_load_leaves_exact_rollups(city_store):
    sample = pd.read_csv(SAMPLE_DIR / "interactions.csv", dtype=str)
    with city_store.connect() as conn:
        placed = conn.execute(text("SELECT count(*) FROM interactions WHERE cell IS NOT NULL")).scalar_one()
        per_cell = conn.execute(text(f"SELECT sum(n) FROM {CELLS} c")).scalar_one()
        per_tr = conn.execute(text(f"SELECT sum(n) FROM {AREAS} a WHERE area_kind = 'transformer'")).scalar_one()
        known = conn.execute(text("SELECT count(*) FROM interactions WHERE transformer_id IS NOT NULL")).scalar_one()
    assert placed == sample["account_no"].notna().sum()  # every sample contact naming its customer is placed
    assert per_cell == placed and per_tr == known
    _assert_rollups_exact(city_store)


def test_two_ingests_of_one_new_contact_at_once_count_it_once(city_store):
    """Two ingests bring the same new contact at the same moment (threads, two connections): one
    inserts it, the other finds it stored and unchanged, and it is counted once. Each holds its
    transaction open in a screener until the other arrives (at most 1 s): before ingests took their
    lock first, both saw the id as new on PostGIS and the second's upsert counted it twice."""
    barrier = threading.Barrier(2)

    class Hold:
        def screen(self, conn, rows) -> None:
            try:
                barrier.wait(1.0)
            except threading.BrokenBarrierError:
                pass

    results, errors = [], []

    def run() -> None:
        try:
            results.append(ingest(city_store, [_rec("TWICE", account_no=A.account_no)], service_area=SERVICE_AREA,
                                  screeners=[Hold()]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert errors == []
    assert sorted((r.inserted, r.unchanged) for r in results) == [(0, 1), (1, 0)]
    _assert_rollups_exact(city_store)

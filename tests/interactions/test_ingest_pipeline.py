"""The ingest in parts (a writer thread writes one part while the next is prepared), on both stores:
the same rows, counts, rejects and rollups as one part; an id given again in a later part is the
later record's problem; a write that fails in the writer thread rolls the whole ingest back."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from sqlalchemy import text

import interactions.ingest as ingest_module
from gis.bulk import NewRows
from gis.interaction_rollups import RollupDeltas
from interactions.ingest import ingest
from tests.conftest import SAMPLE_DIR, SERVICE_AREA
from tests.interactions.test_ingest import _assert_rollups_exact, _rec, _rollups

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)


def _records() -> list[dict]:
    """Twenty contacts over four parts of five: accounts, phones, unknown callers with and without a
    point, a bad kind in part 2, an id of part 1 given again in part 3, a bad time in part 4."""
    out = []
    for i in range(20):
        c = CUSTOMERS.iloc[i]
        rec = _rec(f"P{i:02d}", kind=["咨询", "投诉", "报修", "意见", "表扬"][i % 5],
                   occurred_at=f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:15:00+08:00", text=f"第{i}条")
        if i % 4 == 0:
            rec["account_no"] = c.account_no
        elif i % 4 == 1:
            rec["caller_phone"] = c.phone
        elif i % 4 == 2:
            rec.update(caller_phone=f"1390000{i:04d}", lon=113.1 + i / 1000, lat=23.0)
        else:
            rec["caller_phone"] = f"1390001{i:04d}"
        out.append(rec)
    out[7]["kind"] = "催费"            # part 2 (rows 6-10): rejected
    out[12]["id"] = "P01"              # part 3: P01 was given in part 1, so this later record is the bad one
    out[18]["occurred_at"] = "昨天"     # part 4: rejected
    return out


def _stored(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, account_no, caller_account_no, channel, kind, occurred_at, text, caller_phone, matched_by, cell, "
            "day, transformer_id, feeder_id FROM interactions ORDER BY id"))]


@pytest.fixture
def writes_by_thread(monkeypatch) -> list[str]:
    """The names of the threads that ran each part's row and rollup writes."""
    names: list[str] = []
    for cls in (NewRows, RollupDeltas):
        original = cls.write

        def spy(self, _original=original):
            names.append(threading.current_thread().name)
            return _original(self)

        monkeypatch.setattr(cls, "write", spy)
    return names


def test_an_ingest_in_parts_equals_one_in_a_single_part(city_store, monkeypatch, writes_by_thread):
    records = _records()
    one = ingest(city_store, records, service_area=SERVICE_AREA)  # one part (25,000 records a part)
    assert set(writes_by_thread) == {threading.current_thread().name}  # one part: written inline
    single = (_stored(city_store), *_rollups_of(city_store))
    with city_store.begin() as conn:  # back to the city as loaded, rollups included
        conn.execute(text("DELETE FROM interactions WHERE id LIKE 'P%'"))
        from gis.interaction_rollups import rebuild_rollups
        rebuild_rollups(conn)

    monkeypatch.setattr(ingest_module, "_CHUNK", 5)
    writes_by_thread.clear()
    parts = ingest(city_store, records, service_area=SERVICE_AREA)
    assert len(writes_by_thread) == 8 and all(n.startswith("ga-ingest-write") for n in writes_by_thread)
    assert parts.to_dict() == one.to_dict()
    assert [(p.row, p.id, p.field) for p in parts.rejects] == [(p.row, p.id, p.field) for p in one.rejects] == [
        (8, "P07", "kind"), (13, "P01", "id"), (19, "P18", "occurred_at")]
    assert (parts.inserted, parts.rejected_rows) == (17, 3)
    assert (_stored(city_store), *_rollups_of(city_store)) == single
    _assert_rollups_exact(city_store)

    again = ingest(city_store, [{**r, "text": "更正"} if r["id"] in ("P03", "P16") else r for r in records],
                   service_area=SERVICE_AREA)  # in parts: two changed, the rest unchanged
    assert (again.inserted, again.updated, again.unchanged, again.rejected_rows) == (0, 2, 15, 3)
    _assert_rollups_exact(city_store)


def _rollups_of(engine) -> tuple[list, list]:
    with engine.connect() as conn:
        return _rollups(conn)


def test_a_write_failing_in_the_writer_thread_rolls_the_whole_ingest_back(city_store, monkeypatch):
    monkeypatch.setattr(ingest_module, "_CHUNK", 5)
    before = (_stored(city_store), *_rollups_of(city_store))
    calls = {"n": 0}
    original = RollupDeltas.write

    def third_fails(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the store went away")
        return original(self)

    monkeypatch.setattr(RollupDeltas, "write", third_fails)
    with pytest.raises(RuntimeError, match="the store went away"):
        ingest(city_store, _records(), service_area=SERVICE_AREA)
    assert (_stored(city_store), *_rollups_of(city_store)) == before  # parts 1 and 2 were written, and rolled back
    monkeypatch.setattr(RollupDeltas, "write", original)
    assert ingest(city_store, _records(), service_area=SERVICE_AREA).inserted == 17  # the connection is usable again
    _assert_rollups_exact(city_store)


def test_texts_with_copy_and_sql_specials_come_back_as_sent(city_store, monkeypatch):
    """PostgreSQL writes new rows as COPY text built column-wise (escaped once per distinct value),
    SQLite through a temporary table: tabs, line breaks, backslashes, a literal \\N, a lone \\. line,
    quotes and characters beyond the BMP come back byte for byte, in one part and in several."""
    texts = ["tab\there", "two\nlines", "cr\r\nlf", "back\\slash", "\\N", "end\n\\.\nmore", "it's \"quoted\"",
             "停电了😡", "plain", "plain"]
    records = [_rec(f"ESC{i}", text=t, caller_phone="13900000000", lon=113.1, lat=23.0) for i, t in enumerate(texts)]
    records.append(_rec("ESC\\id\t1", text="an id with a backslash and a tab"))
    for chunk in (25_000, 3):
        monkeypatch.setattr(ingest_module, "_CHUNK", chunk)
        for r in records:
            r["id"] = r["id"] + "x"
        assert ingest(city_store, records, service_area=SERVICE_AREA).inserted == len(records)
        with city_store.connect() as conn:
            stored = dict(conn.execute(text("SELECT id, text FROM interactions WHERE id LIKE 'ESC%'")).all())
        assert {r["id"]: r["text"] for r in records}.items() <= stored.items()


def test_the_parts_reads_go_through_a_second_connection(city_store, monkeypatch):
    """The reads of a multi-part ingest use another connection (so that they overlap the writer
    thread's write), on both stores. The rows and counts are those of the single-connection ingest
    (the test above), and a record stored before the ingest is still found as stored (changed)
    through the other connection."""
    monkeypatch.setattr(ingest_module, "_CHUNK", 5)
    reads: list[int] = []
    writes: list[int] = []
    original_stored, original_stage = ingest_module._stored, NewRows.stage

    def stored_spy(conn, ids):
        reads.append(id(conn.connection.driver_connection))
        return original_stored(conn, ids)

    def stage_spy(self, conn):
        writes.append(id(conn.connection.driver_connection))
        return original_stage(self, conn)

    monkeypatch.setattr(ingest_module, "_stored", stored_spy)
    monkeypatch.setattr(NewRows, "stage", stage_spy)
    records = _records()
    assert ingest(city_store, records, service_area=SERVICE_AREA).inserted == 17
    assert len(reads) == 4 and len(set(writes)) == 1 and set(reads).isdisjoint(writes)
    again = ingest(city_store, [{**r, "text": "更正"} if r["id"] in ("P03", "P16") else r for r in records],
                   service_area=SERVICE_AREA)
    assert (again.inserted, again.updated, again.unchanged, again.rejected_rows) == (0, 2, 15, 3)
    _assert_rollups_exact(city_store)

"""Outage records in the store (both backends): idempotent inserts, refused changes, exact reads."""

from __future__ import annotations

import datetime as dt

import pytest

from gis.errors import InvalidInput, NotFound
from gis.outages_store import (
    InterruptionRow,
    get_outage,
    insert_interruptions,
    interruption_counts,
    list_outages,
    read_interruptions,
)
from outage_impact.reliability import history_minutes

CST = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2025, 3, 1, 0, 0, tzinfo=CST)   # local midnight: a day boundary


def _rows():
    return [
        InterruptionRow("U1", "A", "unplanned", T0, T0 + dt.timedelta(minutes=90)),
        InterruptionRow("U1", "B", "unplanned", T0, T0 + dt.timedelta(minutes=45, seconds=30)),
        InterruptionRow("U2", "A", "unplanned", T0 + dt.timedelta(hours=23, minutes=59), T0 + dt.timedelta(hours=25)),
        InterruptionRow("M1", "C", "unplanned", T0 + dt.timedelta(hours=5), T0 + dt.timedelta(hours=5, minutes=3)),
        InterruptionRow("P1", "A", "planned", T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=2, hours=4)),
    ]


def test_insert_is_idempotent_and_refuses_changes(empty_store):
    with empty_store.begin() as conn:
        assert insert_interruptions(conn, _rows(), source="api").inserted == 5
    with empty_store.begin() as conn:
        again = insert_interruptions(conn, _rows(), source="api")
    assert (again.inserted, again.unchanged) == (0, 5)
    changed = InterruptionRow("U1", "A", "unplanned", T0, T0 + dt.timedelta(minutes=91))
    with pytest.raises(InvalidInput) as err:
        with empty_store.begin() as conn:
            insert_interruptions(conn, [InterruptionRow("U9", "Z", "unplanned", T0, T0), changed], source="api")
    assert err.value.field == "outage_id" and "not changed" in err.value.message
    with empty_store.connect() as conn, pytest.raises(NotFound):   # the whole insert rolled back
        get_outage(conn, "U9", limit=5, offset=0)


def test_reads_are_exact(empty_store):
    with empty_store.begin() as conn:
        insert_interruptions(conn, _rows(), source="csv")
    with empty_store.connect() as conn:
        frame = read_interruptions(conn, T0, T0 + dt.timedelta(days=1))
        counts = interruption_counts(conn, ["A", "B", "C", "Z"], T0 - dt.timedelta(days=1))
        outages, total = list_outages(conn, kind="unplanned", limit=10, offset=0)
        one = get_outage(conn, "U1", limit=10, offset=0)
    assert sorted(frame["account_no"]) == ["A", "A", "B", "C"]
    u1b = frame[(frame["account_no"] == "B")].iloc[0]
    assert u1b["start_s"] == T0.timestamp() and u1b["end_s"] - u1b["start_s"] == 45 * 60 + 30
    # the history the major-event-day method reads: unplanned, sustained (M1's 3 minutes are momentary)
    history = history_minutes(frame)
    assert sorted(history["customer_minutes"]) == pytest.approx([45.5, 61, 90])
    assert counts == {"A": 3, "B": 1, "C": 1}
    assert total == 3 and [o["outage_id"] for o in outages] == ["U2", "M1", "U1"]
    assert one["customers"] == 2 and one["end"] == (T0 + dt.timedelta(minutes=90)).astimezone(dt.timezone.utc).isoformat()


def test_the_api_cache_reads_only_new_records_and_recovers_from_late_commits(empty_store):
    from api.outage_cache import InterruptionCache
    from gis.models import OutageRecord

    cache = InterruptionCache()
    with empty_store.begin() as conn:
        insert_interruptions(conn, _rows()[:3], source="api")
    cache.refresh(empty_store)
    assert len(cache) == 3
    with empty_store.begin() as conn:
        insert_interruptions(conn, _rows()[3:], source="api")
        conn.execute(OutageRecord.__table__.insert().values(
            id=100, outage_id="L1", account_no="D", kind="unplanned", start_at=T0, end_at=T0, source="api",
            recorded_at=T0))
    cache.refresh(empty_store)
    assert (len(cache), cache.full_reads) == (6, 0)
    if empty_store.dialect.name == "sqlite":
        return  # one writer: ids commit in increasing order, a late lower id cannot happen there
    with empty_store.begin() as conn:   # a transaction that took id 50 commits after id 100 was read
        conn.execute(OutageRecord.__table__.insert().values(
            id=50, outage_id="L2", account_no="E", kind="planned", start_at=T0, end_at=T0, source="api",
            recorded_at=T0))
    cache.refresh(empty_store)
    assert (len(cache), cache.full_reads) == (7, 1)
    cache.refresh(empty_store)
    assert (len(cache), cache.full_reads) == (7, 1)

"""The audit trail on both stores: append, filter, page; UPDATE and DELETE refused by the store."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gis.audit import AuditWriter, query_events, record_event
from gis.db import make_engine
from gis.errors import InvalidInput, StoreUnavailable


def _seed(engine) -> None:
    with engine.begin() as conn:
        record_event(conn, actor="a (1111aaaa)", role="agent", action="customer.pii_read",
                     object_kind="customer", object_id="0300000001", details={"unmasked": ["phone"]})
        record_event(conn, actor="p (2222bbbb)", role="planner", action="plan.create",
                     object_kind="plan", object_id="7")
        record_event(conn, actor="a (1111aaaa)", role="agent", action="export",
                     object_kind="impact", object_id=None, details={"format": "csv", "rows": 12})


def test_events_are_recorded_filtered_and_paged(empty_store):
    _seed(empty_store)
    with empty_store.connect() as conn:
        everything = query_events(conn, limit=10)
        assert [e["action"] for e in everything] == ["export", "plan.create", "customer.pii_read"]
        first = everything[-1]
        assert first["actor"] == "a (1111aaaa)" and first["role"] == "agent"
        assert first["object_kind"] == "customer" and first["object_id"] == "0300000001"
        assert first["details"] == {"unmasked": ["phone"]}
        assert first["at"].tzinfo is not None
        assert abs((dt.datetime.now(dt.timezone.utc) - first["at"]).total_seconds()) < 60
        assert [e["action"] for e in query_events(conn, actor="a (1111aaaa)", limit=10)] == ["export", "customer.pii_read"]
        assert [e["object_id"] for e in query_events(conn, object_kind="plan", limit=10)] == ["7"]
        assert query_events(conn, action="alert.ack", limit=10) == []
        assert [e["action"] for e in query_events(conn, limit=1, offset=1)] == ["plan.create"]
        future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        assert query_events(conn, since=future, limit=10) == []
        assert len(query_events(conn, until=future, limit=10)) == 3
        # a naive or other-zone time means the same instant
        beijing = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=8)))
        assert len(query_events(conn, since=beijing, limit=10)) == 3


def test_an_event_rolls_back_with_its_transaction(empty_store):
    with pytest.raises(RuntimeError):
        with empty_store.begin() as conn:
            record_event(conn, actor="x (0000ffff)", role="admin", action="plan.update", object_kind="plan", object_id="1")
            raise RuntimeError("the change failed")
    with empty_store.connect() as conn:
        assert query_events(conn, limit=10) == []


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET actor = 'someone else'",
    "UPDATE audit_events SET details = '{}' WHERE action = 'export'",
    "DELETE FROM audit_events",
    "DELETE FROM audit_events WHERE action = 'plan.create'",
])
def test_the_store_refuses_to_change_or_delete_events(empty_store, statement):
    _seed(empty_store)
    with pytest.raises(DBAPIError, match="append-only"):
        with empty_store.begin() as conn:
            conn.execute(text(statement))
    with empty_store.connect() as conn:
        events = query_events(conn, limit=10)
    assert len(events) == 3 and {e["actor"] for e in events} == {"a (1111aaaa)", "p (2222bbbb)"}


def test_emptying_the_table_is_refused(empty_store):
    """PostgreSQL's TRUNCATE bypasses row triggers (a statement trigger stops it); SQLite has no
    TRUNCATE, and its truncate optimization of an unqualified DELETE is off while triggers exist."""
    _seed(empty_store)
    statement = "TRUNCATE audit_events" if empty_store.dialect.name == "postgresql" else "DELETE FROM audit_events"
    with pytest.raises(DBAPIError, match="append-only"):
        with empty_store.begin() as conn:
            conn.execute(text(statement))
    with empty_store.connect() as conn:
        assert len(query_events(conn, limit=10)) == 3


@pytest.mark.parametrize(("field", "kwargs"), [
    ("actor", {"actor": ""}),
    ("action", {"action": "x" * 65}),
    ("object_id", {"object_id": "9" * 101}),
    ("details", {"details": {"blob": "x" * 5000}}),
])
def test_bad_events_are_refused_naming_the_field(empty_store, field, kwargs):
    event = {"actor": "a (1111aaaa)", "role": "agent", "action": "export", "object_kind": "impact", "object_id": None}
    event.update(kwargs)
    with empty_store.begin() as conn, pytest.raises(InvalidInput) as caught:
        record_event(conn, **event)
    assert caught.value.field == field


def _writer_engine(engine):
    return make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in its own thread, as the API server's is for its route threads."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def _on(loop: asyncio.AbstractEventLoop, coro):
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)


async def _open_writer(engine, **kwargs) -> AuditWriter:
    return AuditWriter(engine, **kwargs)


def _event(i: int) -> dict:
    return dict(actor=f"k{i} (0000aaaa)", role="agent", action="customer.pii_read",
                object_kind="customer", object_id=f"03000{i:05d}", details={"unmasked": ["phone"]})


def test_the_writer_commits_concurrent_events_together_and_returns_only_once_committed(empty_store, loop):
    writer = _on(loop, _open_writer(_writer_engine(empty_store)))
    n = 40

    def visible(i: int) -> bool:
        with empty_store.connect() as conn:
            return bool(query_events(conn, object_id=f"03000{i:05d}", limit=1))

    async def one(i: int) -> bool:
        await writer.record_async(**_event(i))
        return await asyncio.to_thread(visible, i)  # visible to everyone as soon as it returns

    async def all_at_once() -> list[bool]:
        return await asyncio.gather(*(one(i) for i in range(n)))

    try:
        assert _on(loop, all_at_once()) == [True] * n
        assert writer.commits == 1  # the 40 arrived before the writer ran: one commit for all
    finally:
        _on(loop, writer.aclose())
    with empty_store.connect() as conn:
        events = query_events(conn, action="customer.pii_read", limit=100)
    assert sorted(e["object_id"] for e in events) == sorted(f"03000{i:05d}" for i in range(n))
    assert events[0]["details"] == {"unmasked": ["phone"]} and events[0]["at"].tzinfo is not None


def test_synchronous_callers_in_other_threads_wait_for_their_commit(empty_store, loop):
    writer = _on(loop, _open_writer(_writer_engine(empty_store)))
    n = 24

    def one(i: int) -> None:
        writer.record(**_event(i))
        with empty_store.connect() as conn:
            assert query_events(conn, object_id=f"03000{i:05d}", limit=1)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, range(n)))
        with pytest.raises(RuntimeError, match="block its own event loop"):
            _on(loop, _call_record_on_the_loop(writer))
    finally:
        _on(loop, writer.aclose())
    assert 1 <= writer.commits <= n
    with empty_store.connect() as conn:
        assert len(query_events(conn, action="customer.pii_read", limit=100)) == n


async def _call_record_on_the_loop(writer: AuditWriter) -> None:
    writer.record(**_event(0))


def test_the_writer_fails_every_waiter_when_the_store_refuses_and_refuses_after_close(empty_store, loop):
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")  # nothing listens there
    writer = _on(loop, _open_writer(engine, timeout_s=20))
    with pytest.raises(StoreUnavailable, match="audit trail could not be written"):
        writer.record(actor="a (1111aaaa)", role="agent", action="export", object_kind="impact", object_id=None)

    async def two_at_once() -> list:
        return await asyncio.gather(*(writer.record_async(**_event(i)) for i in range(2)), return_exceptions=True)

    assert [type(outcome) for outcome in _on(loop, two_at_once())] == [StoreUnavailable, StoreUnavailable]
    with pytest.raises(InvalidInput, match="actor"):  # a malformed event is refused before it is queued
        writer.record(actor="", role="agent", action="export", object_kind="impact", object_id=None)
    _on(loop, writer.aclose())
    assert writer.commits == 0
    with pytest.raises(StoreUnavailable, match="closed"):
        writer.record(actor="a (1111aaaa)", role="agent", action="export", object_kind="impact", object_id=None)


def test_the_action_list_names_only_actions_the_product_records():
    from pathlib import Path

    from gis.audit import AUDIT_ACTIONS

    root = Path(__file__).resolve().parents[2]
    code = "".join(p.read_text(encoding="utf-8") for d in ("api", "gis", "loaders", "outage_impact", "interactions")
                   for p in (root / d).rglob("*.py") if p.name != "audit.py" or d != "gis")
    assert [a for a in AUDIT_ACTIONS if f'"{a}"' not in code] == []

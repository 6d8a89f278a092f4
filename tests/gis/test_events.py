"""The live-event bus (gis.events): durable publish in the caller's transaction, followed by a hub.

Both stores: SQLite is followed by polling, PostgreSQL by LISTEN/NOTIFY; the out-of-order
commit case exists only where two writers can hold open transactions at once (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from gis.db import make_engine
from gis.errors import InvalidInput
from gis.events import EventHub, SubscriberLagged, last_event_id, prune, publish, read_since


def _publish(url: str, channel: str, payload: dict, target: str | None = None) -> int:
    """Publish from another engine, as another worker or a command would."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return publish(conn, channel, payload, target=target)
    finally:
        engine.dispose()


def test_publish_is_part_of_the_callers_transaction(empty_store):
    with empty_store.begin() as conn:
        first = publish(conn, "alerts", {"alert_id": 1, "severity": "high"})
    with pytest.raises(RuntimeError):
        with empty_store.begin() as conn:
            publish(conn, "alerts", {"alert_id": 2})
            raise RuntimeError("the change failed")
    with empty_store.connect() as conn:
        events = read_since(conn, 0)
        assert [(e.id, e.channel, dict(e.payload)) for e in events] == [(first, "alerts", {"alert_id": 1, "severity": "high"})]
        assert last_event_id(conn) == first
        assert events[0].created_at.tzinfo is not None


def test_bad_channel_or_target_is_refused_by_name(empty_store):
    with empty_store.begin() as conn:
        with pytest.raises(InvalidInput) as bad:
            publish(conn, "Alerts!", {})
        assert bad.value.field == "channel"
        with pytest.raises(InvalidInput) as bad:
            publish(conn, "calls", {}, target="agent 7")
        assert bad.value.field == "target"


def test_read_since_filters_channels_and_prune_keeps_ids_growing(empty_store):
    with empty_store.begin() as conn:
        a = publish(conn, "alerts", {"n": 1})
        b = publish(conn, "calls", {"n": 2}, target="name:1001")
    with empty_store.connect() as conn:
        assert [e.id for e in read_since(conn, 0, channels=["calls"])] == [b]
        assert [e.id for e in read_since(conn, a)] == [b]
    with empty_store.begin() as conn:
        assert prune(conn, older_than=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)) == 2
    with empty_store.begin() as conn:
        c = publish(conn, "alerts", {"n": 3})
    assert c > b  # a resuming client's Last-Event-ID never names a reused id


def test_hub_delivers_new_events_within_a_second_and_respects_targets(empty_store_url):
    async def scenario():
        engine = make_engine(empty_store_url)
        hub = EventHub(engine, poll_interval_s=0.1)
        try:
            agent = await hub.subscribe({"calls", "alerts"}, audience={"name:1001", "role:agent"})
            other = await hub.subscribe({"calls"}, audience={"name:1002", "role:agent"})
            sent = time.monotonic()
            await asyncio.to_thread(_publish, empty_store_url, "calls", {"call_id": "c1"}, "name:1001")
            await asyncio.to_thread(_publish, empty_store_url, "alerts", {"alert_id": 9})
            got = [await asyncio.wait_for(agent.__anext__(), 5), await asyncio.wait_for(agent.__anext__(), 5)]
            elapsed = time.monotonic() - sent
            assert [(e.channel, dict(e.payload)) for e in got] == [("calls", {"call_id": "c1"}), ("alerts", {"alert_id": 9})]
            assert elapsed < 1.0, f"delivered after {elapsed:.2f} s"
            assert await other.get(0.5) is None  # the call was for agent 1001 only; alerts not followed
        finally:
            await hub.aclose()
            engine.dispose()

    asyncio.run(scenario())


def test_resuming_replays_what_was_missed_without_duplicates(empty_store_url):
    async def scenario():
        ids = [await asyncio.to_thread(_publish, empty_store_url, "alerts", {"n": n}) for n in range(5)]
        engine = make_engine(empty_store_url)
        hub = EventHub(engine, poll_interval_s=0.05)
        try:
            sub = await hub.subscribe({"alerts"}, after_id=ids[1])
            later = await asyncio.to_thread(_publish, empty_store_url, "alerts", {"n": 5})
            seen = []
            while len(seen) < 4:
                seen.append((await asyncio.wait_for(sub.__anext__(), 5)).id)
            assert seen == ids[2:] + [later]
            assert await sub.get(0.4) is None  # the follower's own pass over ids[2:] is not sent again
        finally:
            await hub.aclose()
            engine.dispose()

    asyncio.run(scenario())


def test_a_subscriber_that_does_not_read_is_dropped_and_told_where_to_resume(empty_store_url):
    async def scenario():
        engine = make_engine(empty_store_url)
        hub = EventHub(engine, poll_interval_s=0.05, subscriber_queue=3)
        try:
            sub = await hub.subscribe({"alerts"})
            for n in range(5):
                await asyncio.to_thread(_publish, empty_store_url, "alerts", {"n": n})
            deadline = time.monotonic() + 10  # the follower may trail the publishes on a loaded machine
            while not sub.lagged and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            got = []
            with pytest.raises(SubscriberLagged):
                while True:
                    got.append(await asyncio.wait_for(sub.__anext__(), 5))
            assert len(got) == 3 and sub.last_id == got[-1].id
            assert hub.subscribers == 0
        finally:
            await hub.aclose()
            engine.dispose()

    asyncio.run(scenario())


@pytest.mark.parametrize("empty_store_url", ["postgis"], indirect=True)
def test_an_event_committed_after_a_higher_id_is_still_delivered(empty_store_url):
    """PostgreSQL: ids are taken at INSERT, commits come in any order; nothing may be skipped."""

    async def scenario():
        engine = make_engine(empty_store_url)
        hub = EventHub(engine, poll_interval_s=0.05)
        slow_conn = engine.connect()
        slow = slow_conn.begin()
        try:
            sub = await hub.subscribe({"alerts"})
            low = publish(slow_conn, "alerts", {"n": "slow"})  # id taken, not yet committed
            high = await asyncio.to_thread(_publish, empty_store_url, "alerts", {"n": "fast"})
            assert high > low
            assert (await asyncio.wait_for(sub.__anext__(), 5)).id == high
            await asyncio.to_thread(slow.commit)
            assert (await asyncio.wait_for(sub.__anext__(), 5)).id == low
        finally:
            slow_conn.close()
            await hub.aclose()
            engine.dispose()

    asyncio.run(scenario())

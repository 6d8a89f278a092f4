"""The outbox in the store (both backends): enqueue, claims with leases, outcomes, dead letters."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from gis.errors import Conflict, InvalidInput
from gis.outbox import NewMessage, Outcome, SqlOutboxStore, enqueue, list_messages, retry_message, state_counts

T0 = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.timezone.utc)


def _messages(n: int, prefix: str = "k") -> list[NewMessage]:
    return [NewMessage(channel="sms" if i % 2 else "wechat", template="t", recipient=f"1380000{i:04d}",
                       payload={"text": f"message {i}"}, idempotency_key=f"{prefix}-{i}", account_no=f"A{i}")
            for i in range(n)]


def test_enqueue_is_idempotent_by_key_and_atomic_with_the_callers_transaction(empty_store):
    with empty_store.begin() as conn:
        assert enqueue(conn, _messages(5), now=T0) == 5
    with empty_store.begin() as conn:
        assert enqueue(conn, _messages(7), now=T0) == 2  # keys k-0..k-4 are already there
    with pytest.raises(RuntimeError):
        with empty_store.begin() as conn:
            enqueue(conn, _messages(3, "rolled-back"), now=T0)
            raise RuntimeError("the change failed after enqueueing")
    with empty_store.connect() as conn:
        assert state_counts(conn) == {"pending": 7, "sent": 0, "dead": 0}
    with empty_store.begin() as conn, pytest.raises(InvalidInput) as err:
        enqueue(conn, [NewMessage("fax", "t", "x", {}, "k")])
    assert err.value.field == "messages[0].channel"


def test_claims_do_not_overlap_and_an_expired_lease_is_claimed_again(empty_store):
    with empty_store.begin() as conn:
        enqueue(conn, _messages(10), now=T0)
    store = SqlOutboxStore(empty_store)
    first = store.claim("w1", limit=4, lease_s=30, now=T0)
    second = store.claim("w2", limit=10, lease_s=30, now=T0)
    assert len(first) == 4 and len(second) == 6
    assert not {m.id for m in first} & {m.id for m in second}
    assert all(m.attempts == 1 and m.lease_owner == "w1" for m in first)
    assert store.claim("w3", limit=10, lease_s=30, now=T0 + dt.timedelta(seconds=29)) == []
    # w1 died: its lease runs out and w3 takes its messages over (a second attempt)
    store.finish("w2", [Outcome(m.id, sent=True) for m in second], now=T0)
    again = store.claim("w3", limit=10, lease_s=30, now=T0 + dt.timedelta(seconds=31))
    assert {m.id for m in again} == {m.id for m in first} and all(m.attempts == 2 for m in again)
    # w1 comes back late: its failure report must not undo w3's claim; its "sent" does count
    store.finish("w1", [Outcome(first[0].id, sent=False, error="late", next_try_at=T0)], now=T0)
    with empty_store.connect() as conn:
        row = next(m for m in list_messages(conn, state="pending").items if m.id == first[0].id)
    assert row.lease_owner == "w3" and row.last_error is None
    store.finish("w3", [Outcome(again[0].id, sent=True), Outcome(again[1].id, sent=False, error="503", next_try_at=T0 + dt.timedelta(seconds=60)),
                        Outcome(again[2].id, sent=False, error="400 bad recipient")], now=T0)
    with empty_store.connect() as conn:
        assert state_counts(conn) == {"pending": 2, "sent": 7, "dead": 1}
        dead = list_messages(conn, state="dead").items[0]
    assert dead.last_error == "400 bad recipient"
    # the retried one is not due before its time, the unfinished one not before w3's lease ends
    assert store.claim("w4", limit=10, lease_s=30, now=T0 + dt.timedelta(seconds=59)) == []
    due = store.claim("w4", limit=10, lease_s=30, now=T0 + dt.timedelta(seconds=62))
    assert {m.id for m in due} == {again[1].id, again[3].id}


def test_dead_messages_are_retried_on_request_only(empty_store):
    with empty_store.begin() as conn:
        enqueue(conn, _messages(2), now=T0)
    store = SqlOutboxStore(empty_store)
    a, b = store.claim("w", limit=2, lease_s=30, now=T0)
    store.finish("w", [Outcome(a.id, sent=False, error="gone"), Outcome(b.id, sent=True)], now=T0)
    with pytest.raises(Conflict):
        retry_message(empty_store, b.id)
    again = retry_message(empty_store, a.id, now=T0)
    assert again.state == "pending" and again.attempts == 0 and again.last_error == "gone"
    assert [m.id for m in store.claim("w", limit=5, lease_s=30, now=T0)] == [a.id]


def test_concurrent_claimers_never_take_the_same_message(empty_store):
    with empty_store.begin() as conn:
        enqueue(conn, _messages(200), now=T0)
    store = SqlOutboxStore(empty_store)
    taken: dict[str, list[int]] = {}

    def claim_all(name: str) -> None:
        got: list[int] = []
        while batch := store.claim(name, limit=7, lease_s=300):
            got += [m.id for m in batch]
        taken[name] = got

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [i for got in taken.values() for i in got]
    assert len(ids) == 200 and len(set(ids)) == 200

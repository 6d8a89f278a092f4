"""The outbox (待发消息) in the store: enqueue in the caller's transaction, claim with a lease, finish.

Messages are written by :func:`enqueue` inside the transaction of the change that causes
them, so a change and its messages commit together or not at all. Workers take due
messages with :meth:`SqlOutboxStore.claim`: on PostgreSQL one ``UPDATE … WHERE id IN
(SELECT … FOR UPDATE SKIP LOCKED)``, so concurrent workers never wait for nor take each
other's rows; on SQLite a ``BEGIN IMMEDIATE`` transaction (the write lock is taken before
the read, so two workers cannot claim the same row). A claim sets ``lease_owner`` and
``lease_until``; a message whose lease ran out (its worker was killed) is due again and
claimed by another worker. Each claim counts as an attempt. :meth:`SqlOutboxStore.finish`
records a batch's outcome in one transaction: sent, due again at a later time, or dead.

Times are stored in UTC; every state change is one guarded statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from gis.errors import Conflict, InvalidInput, NotFound
from gis.models import OUTBOX_CHANNELS, OUTBOX_STATES, OutboxMessage

__all__ = ["NewMessage", "OutboxRecord", "OutboxPage", "Outcome", "enqueue", "SqlOutboxStore", "list_messages",
           "get_message", "retry_message", "state_counts"]

_OUTBOX = OutboxMessage.__table__


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to enqueue; ``recipient`` must come from the customer record (one source for contacts)."""

    channel: str
    template: str
    recipient: str
    payload: Mapping[str, Any]
    idempotency_key: str
    account_no: str | None = None
    plan_id: int | None = None


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    channel: str
    template: str
    account_no: str | None
    recipient: str
    payload: dict[str, Any]
    idempotency_key: str
    plan_id: int | None
    state: str
    attempts: int
    next_try_at: dt.datetime
    lease_owner: str | None
    lease_until: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        iso = (lambda t: t.isoformat() if t is not None else None)
        return {"id": self.id, "channel": self.channel, "template": self.template, "account_no": self.account_no,
                "recipient": self.recipient, "payload": self.payload, "idempotency_key": self.idempotency_key,
                "plan_id": self.plan_id, "state": self.state, "attempts": self.attempts,
                "next_try_at": iso(self.next_try_at), "lease_owner": self.lease_owner,
                "lease_until": iso(self.lease_until), "last_error": self.last_error,
                "created_at": iso(self.created_at), "sent_at": iso(self.sent_at)}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed message: ``sent``, or failed with ``error`` and either a
    ``next_try_at`` (retry) or none (dead)."""

    id: int
    sent: bool
    error: str | None = None
    next_try_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxPage:
    items: list[OutboxRecord]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + len(self.items)
        return nxt if nxt < self.total else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)  # SQLite gives back the stored UTC wall time


def _record(row: Any) -> OutboxRecord:
    m = row._mapping
    return OutboxRecord(
        id=m["id"], channel=m["channel"], template=m["template"], account_no=m["account_no"],
        recipient=m["recipient"], payload=m["payload"], idempotency_key=m["idempotency_key"], plan_id=m["plan_id"],
        state=m["state"], attempts=m["attempts"], next_try_at=_aware(m["next_try_at"]),
        lease_owner=m["lease_owner"], lease_until=_aware(m["lease_until"]), last_error=m["last_error"],
        created_at=_aware(m["created_at"]), sent_at=_aware(m["sent_at"]))


def enqueue(conn: Connection, messages: Sequence[NewMessage], *, now: dt.datetime | None = None) -> int:
    """Insert ``messages`` as pending in the caller's transaction; returns how many were new.

    A message whose idempotency key is already in the outbox is skipped (the first one
    stands), so re-running the change that caused it never sends twice.
    """
    if not messages:
        return 0
    now = (now or _now()).astimezone(dt.timezone.utc)
    rows = []
    for i, m in enumerate(messages):
        if m.channel not in OUTBOX_CHANNELS:
            raise InvalidInput(f"unknown channel {m.channel!r}; one of {', '.join(OUTBOX_CHANNELS)}",
                               field=f"messages[{i}].channel", value=m.channel)
        if not m.recipient:
            raise InvalidInput("a message needs a recipient", field=f"messages[{i}].recipient", value=m.account_no)
        if not m.idempotency_key or len(m.idempotency_key) > 128:
            raise InvalidInput("an idempotency key has 1–128 characters", field=f"messages[{i}].idempotency_key",
                               value=m.idempotency_key)
        rows.append({"channel": m.channel, "template": m.template, "account_no": m.account_no,
                     "recipient": m.recipient, "payload": dict(m.payload), "idempotency_key": m.idempotency_key,
                     "plan_id": m.plan_id, "state": "pending", "attempts": 0, "next_try_at": now,
                     "created_at": now})
    insert = pg_dialect.insert if conn.dialect.name == "postgresql" else sqlite_dialect.insert
    stmt = insert(_OUTBOX).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(_OUTBOX.c.id)
    new = 0
    for start in range(0, len(rows), 2000):
        # RETURNING with executemany is per row on both drivers; one statement per chunk keeps it exact
        new += len(conn.execute(stmt.values(rows[start:start + 2000])).fetchall())
    return new


class SqlOutboxStore:
    """The worker's view of the outbox (the interface ``outage_impact.outbox`` expects)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, worker: str, *, limit: int, lease_s: float, now: dt.datetime | None = None) -> list[OutboxRecord]:
        """Claim up to ``limit`` due messages for ``worker`` until ``now + lease_s`` (oldest due first)."""
        now = (now or _now()).astimezone(dt.timezone.utc)
        until = now + dt.timedelta(seconds=lease_s)
        due = and_(_OUTBOX.c.state == "pending", _OUTBOX.c.next_try_at <= now,
                   or_(_OUTBOX.c.lease_until.is_(None), _OUTBOX.c.lease_until <= now))
        pick = select(_OUTBOX.c.id).where(due).order_by(_OUTBOX.c.next_try_at, _OUTBOX.c.id).limit(limit)
        values = {"lease_owner": worker, "lease_until": until, "attempts": _OUTBOX.c.attempts + 1}
        if self._engine.dialect.name == "postgresql":
            with self._engine.begin() as conn:
                ids = pick.with_for_update(skip_locked=True).scalar_subquery()
                rows = conn.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(**values)
                                    .returning(*_OUTBOX.c)).fetchall()
        else:
            with self._engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
                ids = conn.execute(pick).scalars().all()
                rows = conn.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(**values)
                                    .returning(*_OUTBOX.c)).fetchall() if ids else []
        return sorted((_record(r) for r in rows), key=lambda r: (r.next_try_at, r.id))

    def finish(self, worker: str, outcomes: Sequence[Outcome], *, now: dt.datetime | None = None) -> None:
        """Record a batch's outcomes in one transaction.

        ``sent`` is recorded whoever holds the lease (the message did go out). A failure is
        recorded only while ``worker`` still holds the lease, so a worker that overran its
        lease cannot undo another worker's newer claim.
        """
        if not outcomes:
            return
        now = (now or _now()).astimezone(dt.timezone.utc)
        sent = [o.id for o in outcomes if o.sent]
        with self._engine.begin() as conn:
            if sent:
                conn.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(sent), _OUTBOX.c.state == "pending")
                             .values(state="sent", sent_at=now, lease_owner=None, lease_until=None, last_error=None))
            for o in outcomes:
                if o.sent:
                    continue
                values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "last_error": (o.error or "")[:2000]}
                if o.next_try_at is None:
                    values["state"] = "dead"
                else:
                    values["next_try_at"] = o.next_try_at.astimezone(dt.timezone.utc)
                conn.execute(update(_OUTBOX).where(_OUTBOX.c.id == o.id, _OUTBOX.c.state == "pending",
                                                   _OUTBOX.c.lease_owner == worker).values(**values))


def _state(state: str | None) -> None:
    if state is not None and state not in OUTBOX_STATES:
        raise InvalidInput(f"unknown state {state!r}; one of {', '.join(OUTBOX_STATES)}", field="state", value=state)


def list_messages(conn: Connection, *, state: str | None = None, plan_id: int | None = None, limit: int = 100,
                  offset: int = 0) -> OutboxPage:
    """Messages by id (newest first), filtered by state and plan."""
    _state(state)
    cond = and_(True, *([_OUTBOX.c.state == state] if state else []),
                *([_OUTBOX.c.plan_id == plan_id] if plan_id is not None else []))
    total = conn.execute(select(func.count()).select_from(_OUTBOX).where(cond)).scalar_one()
    rows = conn.execute(select(_OUTBOX).where(cond).order_by(_OUTBOX.c.id.desc()).limit(limit).offset(offset))
    return OutboxPage([_record(r) for r in rows], total, offset, limit)


def get_message(conn: Connection, message_id: int) -> OutboxRecord:
    row = conn.execute(select(_OUTBOX).where(_OUTBOX.c.id == message_id)).first()
    if row is None:
        raise NotFound(f"no outbox message {message_id}", field="message_id", value=message_id)
    return _record(row)


def retry_message(engine: Engine, message_id: int, *, now: dt.datetime | None = None) -> OutboxRecord:
    """Send a message again now: a dead one becomes pending with a fresh set of attempts, a pending
    one waiting for its next try is due at once. A sent message is a :class:`Conflict`."""
    now = (now or _now()).astimezone(dt.timezone.utc)
    with engine.begin() as conn:
        done = conn.execute(
            update(_OUTBOX).where(_OUTBOX.c.id == message_id, _OUTBOX.c.state.in_(("dead", "pending")))
            .values(state="pending", next_try_at=now,
                    attempts=case((_OUTBOX.c.state == "dead", 0), else_=_OUTBOX.c.attempts))
            .returning(_OUTBOX.c.id)).first()
        current = get_message(conn, message_id)
        if done is None:
            raise Conflict(f"outbox message {message_id} is {current.state!r}: it was delivered",
                           field="state", value=current.state)
        return current


def state_counts(conn: Connection, *, plan_id: int | None = None) -> dict[str, int]:
    """Messages per state (every state named, zero included)."""
    q = select(_OUTBOX.c.state, func.count()).group_by(_OUTBOX.c.state)
    if plan_id is not None:
        q = q.where(_OUTBOX.c.plan_id == plan_id)
    out = dict.fromkeys(OUTBOX_STATES, 0)
    out.update({s: n for s, n in conn.execute(q)})
    return out

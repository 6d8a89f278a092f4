"""The append-only audit trail: who (key and role) did what to which object, and when.

Every read of a customer's personal data, every export, every plan change and every alert
action is recorded here by the API. Rows are only ever inserted; the store itself refuses
UPDATE and DELETE on ``audit_events`` (triggers of migration 0004 on both backends), so a
bug or a compromised process cannot rewrite history through this table.

``details`` is a small JSON object describing *what* was done (e.g. which fields were shown
unmasked, how many rows an export held), never secrets or the personal data itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import queue
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from gis.errors import InvalidInput, StoreUnavailable
from gis.models import AuditEvent

__all__ = ["record_event", "query_events", "AuditWriter", "AUDIT_ACTIONS", "MAX_DETAILS_CHARS"]

_TABLE = AuditEvent.__table__

#: Actions the API records (others may be added; the names are lower-case dotted words).
AUDIT_ACTIONS = (
    "customer.pii_read",
    "export",
    "import",
    "plan.create",
    "plan.update",
    "plan.status",
    "alert.ack",
    "key.create",
    "key.revoke",
)

#: Upper bound on the serialized size of ``details`` (an audit row is a note, not a payload).
MAX_DETAILS_CHARS = 4000


def _utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive value is taken as UTC (SQLite hands back naive UTC times)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _event_row(
    *,
    actor: str,
    role: str,
    action: str,
    object_kind: str,
    object_id: str | None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One checked ``audit_events`` row (``at`` is now, in UTC)."""
    for name, value, limit in (("actor", actor, 100), ("role", role, 32), ("action", action, 64),
                               ("object_kind", object_kind, 32)):
        if not value or len(value) > limit:
            raise InvalidInput(f"audit {name} must be 1–{limit} characters", field=name, value=value)
    if object_id is not None and len(object_id) > 100:
        raise InvalidInput("audit object_id must be at most 100 characters", field="object_id", value=object_id)
    body = dict(details or {})
    if len(json.dumps(body, default=str, ensure_ascii=False)) > MAX_DETAILS_CHARS:
        raise InvalidInput(f"audit details must serialize to at most {MAX_DETAILS_CHARS} characters",
                           field="details")
    return dict(actor=actor, role=role, action=action, object_kind=object_kind, object_id=object_id,
                at=dt.datetime.now(dt.timezone.utc), details=json.loads(json.dumps(body, default=str)))


def record_event(
    conn: Connection,
    *,
    actor: str,
    role: str,
    action: str,
    object_kind: str,
    object_id: str | None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one event in ``conn``'s transaction (commit is the caller's: the event then
    stands or falls with the change it records)."""
    conn.execute(_TABLE.insert().values(**_event_row(
        actor=actor, role=role, action=action, object_kind=object_kind, object_id=object_id, details=details)))


class AuditWriter:
    """Group commit of audit events that record something already done (a read, an export).

    :meth:`record` returns only once its event is committed, so no response goes out for an
    action whose event could still be lost. One writer thread with its own engine commits
    the events: those that arrive while a commit runs go together in the next one. Under
    load one commit then serves many requests, where an insert + commit per request would
    serialize them on the store's commit; a lone request waits just for its own commit.
    The writer's separate engine (one connection) means a request holding a pooled
    connection can never wait on a writer that waits for the pool.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 1000, timeout_s: float = 30.0) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._timeout = timeout_s
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Future] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def timeout_s(self) -> float:
        return self._timeout

    def submit(self, **fields: Any) -> Future:
        """Queue one event (fields as :func:`record_event`); the future is done once it is committed.

        Raises :class:`InvalidInput` for a malformed event at once; the future fails with
        :class:`StoreUnavailable` when the store did not take it (the caller's request then
        fails: unrecorded PII reads are not served)."""
        row = _event_row(**fields)
        done: Future = Future()
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the audit trail is closed (the server is shutting down)")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()
            self._queue.put((row, done))
        return done

    def record(self, **fields: Any) -> None:
        """:meth:`submit` and wait until the event is committed."""
        done = self.submit(**fields)
        try:
            done.result(timeout=self._timeout)
        except FutureTimeout as exc:
            raise StoreUnavailable(f"the audit event was not committed within {self._timeout:g} s") from exc

    def close(self) -> None:
        """Commit what is queued, stop the thread, release the engine."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
        self._engine.dispose()

    def _run(self) -> None:
        conn: Connection | None = None  # held open between batches: no pool checkout, no ping per commit
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                if conn is None:
                    conn = self._engine.connect()
                conn.execute(_TABLE.insert(), [row for row, _ in batch])
                conn.commit()
            except Exception as exc:  # every waiter learns its event was not stored
                if conn is not None:  # a fresh connection for the next batch (the store may have restarted)
                    with contextlib.suppress(Exception):
                        conn.close()
                    conn = None
                for _, done in batch:
                    done.set_exception(StoreUnavailable(f"the audit trail could not be written: {type(exc).__name__}"))
            else:
                for _, done in batch:
                    done.set_result(None)
        if conn is not None:
            conn.close()


def query_events(
    conn: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_kind: str | None = None,
    object_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Events matching every given filter, newest first (``since`` inclusive, ``until`` exclusive)."""
    if limit < 1:
        raise InvalidInput("limit must be at least 1", field="limit", value=limit)
    if offset < 0:
        raise InvalidInput("offset must not be negative", field="offset", value=offset)
    query = select(_TABLE)
    for column, value in (("actor", actor), ("action", action), ("object_kind", object_kind),
                          ("object_id", object_id)):
        if value is not None:
            query = query.where(_TABLE.c[column] == value)
    if since is not None:
        query = query.where(_TABLE.c.at >= _utc(since))
    if until is not None:
        query = query.where(_TABLE.c.at < _utc(until))
    query = query.order_by(_TABLE.c.at.desc(), _TABLE.c.id.desc()).limit(limit).offset(offset)
    out = []
    for row in conn.execute(query):
        event = dict(row._mapping)
        event["at"] = _utc(event["at"]) if event["at"] is not None else None
        out.append(event)
    return out

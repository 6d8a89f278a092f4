"""The append-only audit trail: who (key and role) did what to which object, and when.

Every read of a customer's personal data, every export, every plan change and every alert
action is recorded here by the API. Rows are only ever inserted; the store itself refuses
UPDATE and DELETE on ``audit_events`` (triggers of migration 0004 on both backends), so a
bug or a compromised process cannot rewrite history through this table.

``details`` is a small JSON object describing *what* was done (e.g. which fields were shown
unmasked, how many rows an export held), never secrets or the personal data itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from gis.errors import InvalidInput, StoreUnavailable
from gis.models import AuditEvent

__all__ = ["record_event", "query_events", "AuditWriter", "AUDIT_ACTIONS", "MAX_DETAILS_CHARS"]

_TABLE = AuditEvent.__table__
_COLUMNS = ("actor", "role", "action", "object_kind", "object_id", "at", "details")

#: Actions the API records today (features add theirs; the names are lower-case dotted words).
AUDIT_ACTIONS = (
    "customer.pii_read",
    "customer.pii_lookup",
    "export",
    "import",
    "plan.create",
    "plan.update",
    "plan.status",
    "plan.delete",
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
    text = json.dumps(dict(details or {}), default=str, ensure_ascii=False)  # serialized once: size and plain JSON
    if len(text) > MAX_DETAILS_CHARS:
        raise InvalidInput(f"audit details must serialize to at most {MAX_DETAILS_CHARS} characters",
                           field="details")
    return dict(actor=actor, role=role, action=action, object_kind=object_kind, object_id=object_id,
                at=dt.datetime.now(dt.timezone.utc), details=json.loads(text))


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

    A caller returns only once its event is committed, so no response goes out for an
    action whose event could still be lost. The writer lives on the event loop that serves
    the requests: one task commits the events, and those that arrive while a commit runs go
    together in the next one. Under load one commit then serves many requests, where an
    insert + commit per request would serialize them on the store's commit; a lone request
    waits just for its own commit. On PostgreSQL the commit is psycopg's asynchronous
    connection on that same loop, so an event costs the request's thread no hand-off and no
    contention for the GIL with a writer thread; SQLite, which has no asynchronous driver,
    commits each batch in a thread. The writer's own connection (never the request pool)
    means a request holding a pooled connection can never wait on a writer that waits for
    the pool.

    Create it on the loop that will run it; coroutines call :meth:`record_async`, code in
    other threads (synchronous routes) :meth:`record`.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 1000, timeout_s: float = 30.0) -> None:
        self._loop = asyncio.get_running_loop()  # raises outside a running loop: the writer needs one
        self._engine = engine
        self._batches = _PostgresBatches(engine) if engine.dialect.name == "postgresql" else _EngineBatches(engine)
        self._max_batch = max_batch
        self._timeout = timeout_s
        self._pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._commits = 0
        self._task = self._loop.create_task(self._run(), name="audit-writer")

    @property
    def commits(self) -> int:
        """Batches committed so far (events per commit = load the group commit absorbs)."""
        return self._commits

    async def record_async(self, **fields: Any) -> None:
        """Queue one event (fields as :func:`record_event`) and return once it is committed.

        Raises :class:`InvalidInput` for a malformed event before queueing it, and
        :class:`StoreUnavailable` when the store did not take it in time (the caller's request
        then fails: unrecorded PII reads are not served)."""
        row = _event_row(**fields)
        if self._closed:
            raise StoreUnavailable("the audit trail is closed (the server is shutting down)")
        done = self._loop.create_future()
        self._pending.append((row, done))
        self._wake.set()
        try:
            await asyncio.wait_for(done, timeout=self._timeout)
        except TimeoutError as exc:
            raise StoreUnavailable(f"the audit event was not committed within {self._timeout:g} s") from exc

    def record(self, **fields: Any) -> None:
        """:meth:`record_async` from a thread other than the writer's loop (blocks until committed)."""
        try:
            on_own_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # no loop in this thread: the usual case
            on_own_loop = False
        if on_own_loop:
            raise RuntimeError("AuditWriter.record() would block its own event loop; await record_async()")
        if self._loop.is_closed() or not self._loop.is_running():
            raise StoreUnavailable("the audit trail is closed (its event loop has stopped)")
        done = asyncio.run_coroutine_threadsafe(self.record_async(**fields), self._loop)
        try:
            done.result(timeout=self._timeout + 5)  # record_async times out first; this guards a stopped loop
        except concurrent.futures.TimeoutError as exc:
            done.cancel()
            raise StoreUnavailable(f"the audit event was not committed within {self._timeout:g} s") from exc

    async def aclose(self) -> None:
        """Commit what is queued, stop the writer, release its connection and engine."""
        self._closed = True
        self._wake.set()
        await self._task
        await self._batches.close()
        self._engine.dispose()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:self._max_batch], self._pending[self._max_batch:]
                try:
                    await self._batches.commit([row for row, _ in batch])
                except Exception as exc:  # every waiter learns its event was not stored
                    outcome: BaseException | None = StoreUnavailable(
                        f"the audit trail could not be written: {type(exc).__name__}")
                else:
                    outcome = None
                    self._commits += 1
                for _, done in batch:
                    if done.done():  # its waiter gave up (timeout) or went away
                        continue
                    if outcome is None:
                        done.set_result(None)
                    else:
                        done.set_exception(outcome)
            if self._closed:
                return


class _PostgresBatches:
    """Batches committed through one psycopg asynchronous connection, held open between batches
    (no pool checkout, no ping) and replaced after a failure (the store may have restarted).

    A batch is one ``INSERT … SELECT FROM unnest(arrays)`` in autocommit: a single statement
    is atomic, so the batch costs one round trip and one WAL flush (an INSERT then a COMMIT
    would be two round trips), and its fixed text is prepared once by psycopg."""

    _INSERT = (f"INSERT INTO {_TABLE.name} ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
               "%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], "
               "%s::timestamptz[], %s::json[])")

    def __init__(self, engine: Engine) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: psycopg.AsyncConnection | None = None

    async def commit(self, rows: list[dict[str, Any]]) -> None:
        columns: list[list[Any]] = [[row[name] for row in rows] for name in _COLUMNS[:-1]]
        columns.append([json.dumps(row["details"], ensure_ascii=False) for row in rows])
        try:
            if self._conn is None:
                self._conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            await self._conn.execute(self._INSERT, columns)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


class _EngineBatches:
    """Batches committed through the engine in a thread (SQLite has no asynchronous driver)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def commit(self, rows: list[dict[str, Any]]) -> None:
        await asyncio.to_thread(self._commit, rows)

    def _commit(self, rows: list[dict[str, Any]]) -> None:
        with self._engine.begin() as conn:
            conn.execute(_TABLE.insert(), rows)

    async def close(self) -> None:
        pass


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

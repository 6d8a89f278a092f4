"""Live events: published durably with the change that causes them, pushed to every API worker.

A change that others must see at once (a new sensitive-word alert, a ringing phone for an
agent) calls :func:`publish` inside its own transaction: one ``events`` row and, on
PostgreSQL, a ``pg_notify`` that the server delivers at commit (never for a rolled-back
change). Each API worker runs one :class:`EventHub`. It follows the table — woken by LISTEN
on PostgreSQL, polling on SQLite (one writer; a primary-key range read every
``poll_interval_s``) — and fans new events out to its subscribers: Server-Sent-Events streams
or in-process consumers. An event published by one worker therefore reaches a map connected
to another, and a client that reconnects with the last id it saw gets what it missed.

Ordering and gaps: PostgreSQL assigns ids at INSERT, but transactions commit in any order, so
id 41 may become visible after id 42. The follower keeps a watermark below which every id has
been seen, re-reads above it and skips ids already delivered; a gap older than
``gap_timeout_s`` (a rolled-back insert leaves one forever) is given up.

Payloads carry references and non-personal summaries only (ids, category, severity, 台区);
clients fetch details through the role-masked routes. ``target`` narrows who receives an
event: ``None`` every subscriber of the channel, ``"name:<key name>"`` the subscribers signed
in with that key name (an agent's key is named after the agent), ``"role:<role>"`` a role.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Connection, Engine

from gis.errors import InvalidInput
from gis.models import Event

__all__ = [
    "LiveEvent",
    "EventHub",
    "Subscription",
    "SubscriberLagged",
    "publish",
    "read_since",
    "last_event_id",
    "prune",
    "NOTIFY_CHANNEL",
]

log = logging.getLogger("gridatlas.events")

#: The PostgreSQL LISTEN/NOTIFY channel every publish notifies.
NOTIFY_CHANNEL = "gridatlas_events"
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One published event, as subscribers receive it."""

    id: int
    channel: str
    target: str | None
    payload: Mapping[str, Any]
    created_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "channel": self.channel, "target": self.target, "payload": dict(self.payload),
                "created_at": self.created_at.isoformat()}


def publish(conn: Connection, channel: str, payload: Mapping[str, Any], *, target: str | None = None) -> int:
    """Record an event in the caller's transaction (visible to followers when it commits); its id.

    ``payload`` must be JSON-serializable and hold no personal data (see the module docstring).
    """
    if not _CHANNEL.match(channel):
        raise InvalidInput("an event channel is 1–32 lower-case letters, digits or _", field="channel", value=channel)
    if target is not None and (len(target) > 120 or not target.startswith(("name:", "role:"))):
        raise InvalidInput("an event target is 'name:<key name>' or 'role:<role>' (≤ 120 characters)",
                           field="target", value=target)
    result = conn.execute(insert(Event).values(channel=channel, target=target, payload=dict(payload),
                                               created_at=dt.datetime.now(dt.timezone.utc)))
    event_id = int(result.inserted_primary_key[0])
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :id)"), {"channel": NOTIFY_CHANNEL, "id": str(event_id)})
    return event_id


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def read_since(conn: Connection, after_id: int, *, limit: int = 1000,
               channels: Iterable[str] | None = None) -> list[LiveEvent]:
    """Events with ``id > after_id`` in id order (at most ``limit``), optionally of some channels only."""
    query = select(Event.id, Event.channel, Event.target, Event.payload, Event.created_at).where(Event.id > after_id)
    if channels is not None:
        query = query.where(Event.channel.in_(sorted(set(channels))))
    rows = conn.execute(query.order_by(Event.id).limit(limit)).all()
    return [LiveEvent(int(r.id), r.channel, r.target, r.payload or {}, _aware(r.created_at)) for r in rows]


def last_event_id(conn: Connection) -> int:
    """The highest event id stored (0 when there is none)."""
    return int(conn.execute(select(func.coalesce(func.max(Event.id), 0))).scalar_one())


def prune(conn: Connection, *, older_than: dt.datetime) -> int:
    """Delete events created before ``older_than`` (the table is a live feed, not an archive); how many."""
    return conn.execute(delete(Event).where(Event.created_at < older_than)).rowcount or 0


class SubscriberLagged(Exception):
    """A subscriber did not keep up and was dropped; it should resume from the last id it saw."""


_CLOSED = object()


@dataclass(eq=False)
class Subscription:
    """An async iterator of the events one subscriber wants, in id order."""

    channels: frozenset[str]
    audience: frozenset[str]
    maxsize: int = 1000
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    lagged: bool = False
    last_id: int = 0
    _replaying: bool = False
    _held: list[LiveEvent] = field(default_factory=list)
    _replayed: set[int] = field(default_factory=set)  # replayed ids the follower may still offer live

    def wants(self, event: LiveEvent) -> bool:
        return event.channel in self.channels and (event.target is None or event.target in self.audience)

    def _offer(self, event: LiveEvent) -> None:
        if self._replaying:
            self._held.append(event)
            return
        if event.id in self._replayed:
            self._replayed.discard(event.id)
            return
        if self.lagged:
            return
        if self.queue.qsize() >= self.maxsize:
            self.lagged = True
            self.queue.put_nowait(_CLOSED)
            return
        self.last_id = max(self.last_id, event.id)
        self.queue.put_nowait(event)

    def close(self) -> None:
        self.queue.put_nowait(_CLOSED)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> LiveEvent:
        item = await self.queue.get()
        if item is _CLOSED:
            self.queue.put_nowait(_CLOSED)  # stays closed for any later reader
            if self.lagged:
                raise SubscriberLagged(f"dropped after {self.maxsize} undelivered events; resume from {self.last_id}")
            raise StopAsyncIteration
        return item

    async def get(self, timeout: float) -> LiveEvent | None:
        """The next event, or None when none came within ``timeout`` seconds (for heartbeats)."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except asyncio.TimeoutError:
            return None


class EventHub:
    """One per API worker: follows the ``events`` table and fans events out to subscribers.

    The follower starts with the first subscriber (a worker nobody listens to reads nothing).
    ``backlog_limit`` bounds what a resuming subscriber is replayed; ``retention`` is how long
    events are kept (pruned about hourly by the follower).
    """

    def __init__(self, engine: Engine, *, poll_interval_s: float = 0.25, gap_timeout_s: float = 30.0,
                 backlog_limit: int = 1000, retention: dt.timedelta = dt.timedelta(days=1),
                 subscriber_queue: int = 1000) -> None:
        self._engine = engine
        self._poll = poll_interval_s
        self._gap_timeout = gap_timeout_s
        self._backlog_limit = backlog_limit
        self._retention = retention
        self._queue_size = subscriber_queue
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task | None = None
        self._start_lock = asyncio.Lock()
        self._started = asyncio.Event()
        self._closed = False
        # follower state: every id <= _watermark is delivered or given up
        self._watermark = 0
        self._above: set[int] = set()
        self._gaps: dict[int, float] = {}
        self._listener: Any = None

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    async def subscribe(self, channels: Iterable[str], *, audience: Iterable[str] = (),
                        after_id: int | None = None) -> Subscription:
        """A subscription to ``channels`` for a subscriber known as ``audience`` (e.g. {"name:1001",
        "role:agent"}); with ``after_id`` the stored events after it are replayed first."""
        if self._closed:
            raise RuntimeError("the event hub is closed")
        await self._ensure_started()
        sub = Subscription(frozenset(channels), frozenset(audience), maxsize=self._queue_size)
        sub.last_id = self._watermark if after_id is None else after_id
        self._subs.add(sub)
        if after_id is not None:
            sub._replaying = True
            try:
                backlog = await asyncio.to_thread(self._read, after_id, self._backlog_limit, sub.channels)
            except BaseException:
                self._subs.discard(sub)
                raise
            held, sub._held = sub._held, []
            sub._replaying = False
            replayed = {e.id for e in backlog}
            for event in backlog + sorted((e for e in held if e.id not in replayed), key=lambda e: e.id):
                if sub.wants(event):
                    sub._offer(event)
            # ids above the follower's position were read from the store before the follower saw them:
            # when it offers them live, they are skipped
            sub._replayed = {i for i in replayed if i > self._watermark and i not in self._above}
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        sub.close()

    async def aclose(self) -> None:
        """Stop following and end every subscription."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_listener()
        for sub in list(self._subs):
            self.unsubscribe(sub)

    # ------------------------------------------------------------------ follower
    async def _ensure_started(self) -> None:
        async with self._start_lock:
            if self._task is None:
                self._watermark = await asyncio.to_thread(self._last_id)
                self._task = asyncio.create_task(self._follow(), name="gridatlas-events")
                self._started.set()

    def _last_id(self) -> int:
        with self._engine.connect() as conn:
            return last_event_id(conn)

    def _read(self, after_id: int, limit: int, channels: Iterable[str] | None = None) -> list[LiveEvent]:
        with self._engine.connect() as conn:
            return read_since(conn, after_id, limit=limit, channels=channels)

    def _prune(self) -> None:
        with self._engine.begin() as conn:
            prune(conn, older_than=dt.datetime.now(dt.timezone.utc) - self._retention)

    async def _follow(self) -> None:
        next_prune = time.monotonic() + 60.0
        while True:
            try:
                await self._wait()
                await self._catch_up()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + 3600.0
                    await asyncio.to_thread(self._prune)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following: a store hiccup must not end live delivery
                log.warning("following the events table failed; retrying", exc_info=True)
                await self._close_listener()
                await asyncio.sleep(max(self._poll, 1.0))

    async def _catch_up(self) -> None:
        while True:
            batch = await asyncio.to_thread(self._read, self._watermark, 1000)
            fresh = [e for e in batch if e.id not in self._above]
            for event in fresh:
                self._above.add(event.id)
                for sub in list(self._subs):
                    if sub.wants(event):
                        sub._offer(event)
                    if sub.lagged:
                        self._subs.discard(sub)
            self._advance()
            if len(batch) < 1000:
                return

    def _advance(self) -> None:
        """Move the watermark over delivered ids and expired gaps; remember the gaps still open."""
        if not self._above:
            self._gaps.clear()
            return
        now = time.monotonic()
        top = max(self._above)
        for missing in range(self._watermark + 1, top):
            if missing not in self._above:
                self._gaps.setdefault(missing, now)
        while self._watermark < top:
            nxt = self._watermark + 1
            if nxt in self._above:
                self._above.discard(nxt)
            elif now - self._gaps.get(nxt, now) >= self._gap_timeout:
                log.info("event id %d never became visible (rolled back?); skipping it", nxt)
            else:
                break
            self._gaps.pop(nxt, None)
            self._watermark = nxt

    async def _wait(self) -> None:
        """Until something may have been published: a NOTIFY (PostgreSQL) or the next poll."""
        if self._engine.dialect.name != "postgresql":
            await asyncio.sleep(self._poll)
            return
        if self._listener is None:
            await self._open_listener()
            return  # read once right after (re)connecting: nothing published meanwhile is missed
        timeout = self._poll if self._gaps else 5.0  # open gaps are re-read often; else a safety net
        async for _ in self._listener.notifies(timeout=timeout, stop_after=1):
            pass

    async def _open_listener(self) -> None:
        import psycopg

        conninfo = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._listener = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        await self._listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close()

"""Ingest of interactions (客户交互) from every channel: check, match, place, write, count — atomically.

:func:`ingest_interactions` takes records (mappings with ``id, account_no, channel, kind,
occurred_at, text, caller_phone, wechat_openid, lon, lat``; strings, numbers or datetimes) and,
in the caller's transaction:

1. checks every record (unknown channel or kind, a time that is not ISO 8601, coordinates
   that are not lon/lat or lie outside the service area, an id given twice) and rejects bad
   ones with a :class:`gis.validation.Problem` naming row, id, field, value and reason
   (:func:`gis.interaction_checks.check_records`: one pass per field, shared with ``import city``);
2. matches the caller to a customer by account number, else caller phone, else WeChat openid
   (:func:`gis.interaction_rollups.match_callers`; ambiguous or unknown callers stay
   unmatched and keep their own coordinates) and places it (H3 cell, local day, 台区, feeder);
3. compares with what is stored under the same id: an identical record is left alone
   (idempotent), a changed one is updated and its old counts are moved;
4. writes the new and changed rows, adds their counts to the rollups
   (:func:`gis.interaction_rollups.apply_deltas`), and hands them to the **screeners**.

Everything runs over columns (numpy/pandas), never record by record: at 1M customers the cost
is the store's own (the row into a table with six B-trees, one rollup upsert per contact);
new rows go in without a conflict check (PostgreSQL: ``COPY``), since ingests run one after the
other (:func:`_serialize`). See ``bench/ingest_bench.py`` and its section in ``bench/README.md``.

Screeners (the seam for sensitive-word alerts, issue 15) are objects with
``screen(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None``, called once per
ingest with the same connection, inside the same transaction, after the rows are written.
``rows`` are the interactions this ingest inserted or changed (never the unchanged ones), as
dicts with ``id, account_no`` (the matched customer or None), ``caller_account_no, channel,
kind, occurred_at`` (tz-aware UTC datetime), ``text, caller_phone, wechat_openid,
matched_by, transformer_id, feeder_id, cell, day``. Whatever a screener writes commits with
the interactions; an exception it raises rolls the whole ingest back.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import shapely
from sqlalchemy.engine import Connection, Engine

from gis.bulk import NewRows, bulk_upsert
from gis.dialects.sqlite import WalCheckpointer, checkpoint_later, page_cache, point_xy
from gis.errors import InvalidInput
from gis.interaction_rollups import (
    RollupDeltas,
    caller_candidates,
    select_in,
    local_days,
    match_callers,
    place,
    rollup_deltas,
    transformer_feeders,
)
from gis.interaction_checks import CHANNEL_ALIASES, FIELDS, check_records
from gis.validation import BBox, Problem

__all__ = ["Screener", "IngestResult", "InteractionsRejected", "ingest_interactions", "ingest", "ingest_all_or_nothing",
           "FIELDS", "CHANNEL_ALIASES"]

_COMPARED = ("caller_account_no", "channel", "kind", "occurred_at", "text", "caller_phone", "wechat_openid", "lon", "lat")
#: Records per part of an ingest (see :func:`ingest_interactions`): small enough that the first
#: part's preparation and the last one's write, which nothing overlaps, are short.
_CHUNK = 25_000
#: SQLite page cache (MiB) while an ingest writes (see :func:`_page_cache`).
_SQLITE_CACHE_MIB = 1024
#: SQLite page cache (MiB) of the reads' connection (customers and ids probed by every part).
_SQLITE_READ_CACHE_MIB = 256


class Screener(Protocol):
    """Looks at the rows an ingest wrote, in its transaction (see the module docstring)."""

    def screen(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None: ...


@dataclass
class IngestResult:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    matched: dict[str, int] = field(default_factory=dict)
    rejects: list[Problem] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({p.row for p in self.rejects})

    def to_dict(self) -> dict[str, Any]:
        return {"received": self.received, "inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "rejected_rows": self.rejected_rows, "matched": dict(self.matched)}


class InteractionsRejected(InvalidInput):
    """Some records are bad and nothing was written (the all-or-nothing form of an ingest)."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems; nothing was stored)" if len(problems) > 1 else " (nothing was stored)"
        super().__init__(str(first) + more, field=first.field, value=first.value, row=first.row)
        self.problems = problems

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["errors"] = [{"row": p.row, "id": p.id, "field": p.field,
                          "value": None if p.value is None else str(p.value), "reason": p.reason} for p in self.problems]
        return out


# ------------------------------------------------------------------------------- stored rows
def _stored(conn: Connection, ids: Sequence[str]) -> pd.DataFrame:
    """The stored rows under ``ids`` (columns as a checked frame, plus their placement)."""
    pg = conn.dialect.name == "postgresql"
    point = "ST_X(geom), ST_Y(geom)" if pg else "geom, NULL"
    cols = ["id", "caller_account_no", "channel", "kind", "occurred_at", "text", "caller_phone", "wechat_openid",
            "lon", "lat", "cell", "day", "transformer_id", "feeder_id"]
    sql = ("SELECT id, caller_account_no, channel, kind, occurred_at, text, caller_phone, wechat_openid, "
           f"{point}, cell, day, transformer_id, feeder_id FROM interactions WHERE id ")
    rows = select_in(conn, sql, list(ids))
    frame = pd.DataFrame(rows, columns=cols)
    if not pg and len(frame):
        frame["lon"], frame["lat"] = point_xy(frame["lon"].to_numpy(object))
    # SQLite hands text SQL its stored UTC text; naive values are UTC on both stores
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    return frame


def _blanks(values: np.ndarray) -> np.ndarray:
    """Missing or empty values of an object array (new values come cleaned by :func:`_texts`, stored
    ones are NULL or text)."""
    return np.asarray(pd.isna(values), dtype=bool) | np.asarray(values == "", dtype=bool)


def _same_column(name: str, new: pd.Series, old: pd.Series) -> np.ndarray:
    """Where a new value equals the stored one (aligned), as a record-by-record comparison would:
    blanks equal, times to the microsecond, floats within 1e-9."""
    if name == "occurred_at":
        a = new.dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]")
        b = pd.to_datetime(old, utc=True).dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]")
        return (np.isnat(a) & np.isnat(b)) | (a == b)
    if name in ("lon", "lat"):
        a, b = new.to_numpy(float, na_value=np.nan), pd.to_numeric(old, errors="coerce").to_numpy(float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) < 1e-9)
    a, b = new.to_numpy(object), old.to_numpy(object)
    blank_a, blank_b = _blanks(a), _blanks(b)
    return (blank_a & blank_b) | (~blank_a & ~blank_b & np.asarray(a == b, dtype=bool))


# ------------------------------------------------------------------------------- ingest
def ingest_interactions(conn: Connection, records: Iterable[Mapping[str, Any]], *, service_area: BBox,
                        rows: Sequence[int] | None = None, screeners: Sequence[Screener] = (),
                        progress: Callable[[str, int, int], None] | None = None,
                        reader: Connection | None = None) -> IngestResult:
    """Check, match, place and write ``records`` in the caller's transaction (see the module docstring).

    ``rows``: the row number of each record in its source, for the rejects (default 1, 2, …).
    Rejected records are left out; the others are written in parts of :data:`_CHUNK` records (each
    part's rollup deltas summed in memory and merged once). ``progress(stage, done, total)`` is
    called as the parts advance. Returns the counts and the rejects.

    **A pipeline on one connection.** A part goes through: check (Python) → read what is stored
    under its ids, leave out the records identical to it, read the customers the others' callers
    could be (the connection) → match, place, count and encode (Python, :class:`_Part`) → stage (the connection, brief) → write (the
    store's work: the rows into their table and indexes, the rollup merges) → screen. The write
    is a few statements during which the driver releases the GIL, so it runs in a writer thread
    while this one prepares the next part; the connection is only ever used by one thread at a
    time. Everything is still one transaction, written in input order.

    ``reader``: another connection to the same store that sees what ``conn`` saw when this ingest
    began (:func:`ingest` gives one, :func:`_reader`). A part's reads then go through it while the
    writer thread writes the part before, instead of waiting for it: what they read (the
    customers, and the rows stored under the part's ids before this ingest) is the same on both
    connections, since an id appears in one part only (a repeated id is rejected) and an ingest
    writes no customer.
    """
    records = records if isinstance(records, list) else list(records)
    numbers = list(rows) if rows is not None else list(range(1, len(records) + 1))
    result = IngestResult(received=len(records))
    spans = [(s, min(s + _CHUNK, len(records))) for s in range(0, len(records), _CHUNK)]
    taken: set[str] = set()
    ctx = _Context(conn, screeners, result, reader)

    def check(span: tuple[int, int]) -> pd.DataFrame:
        checked = check_records(records[span[0]:span[1]], numbers[span[0]:span[1]], service_area, taken=taken)
        result.rejects += checked.problems
        if progress is not None:
            progress("check interactions", span[1], len(records))
        return checked.frame

    with _page_cache(conn), _Writer(parallel=len(spans) > 1) as writer:
        clean = check(spans[0]) if spans else None
        looked = ctx.look_up(clean) if clean is not None and len(clean) else None
        for i, _span in enumerate(spans):
            part = _Part(ctx, looked) if looked is not None else None  # overlaps the previous write
            clean = check(spans[i + 1]) if i + 1 < len(spans) else None
            if reader is not None:  # the next part's reads overlap this write too
                looked = ctx.look_up(clean) if clean is not None and len(clean) else None
            writer.wait()  # the connection is free again
            if reader is None:
                looked = ctx.look_up(clean) if clean is not None and len(clean) else None
            if part is not None:
                part.stage()
                writer.submit(part)
            if progress is not None and ctx.started:
                progress("write interactions", spans[i][1], len(records))
        writer.wait()
    return result


class _Context:
    """What every part of one ingest shares: the connection, the 台区 → feeder map and the result."""

    def __init__(self, conn: Connection, screeners: Sequence[Screener], result: IngestResult,
                 reader: Connection | None = None) -> None:
        self.conn, self.screeners, self.result = conn, screeners, result
        self.reads = reader if reader is not None else conn
        self.dialect = conn.dialect.name
        self.feeders: Mapping[str, str] = {}
        self.started = False

    def look_up(self, clean: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The part's reads: (its records that are new or changed, the rows stored under their ids,
        the customers their callers could be). Records identical to the stored ones are counted as
        unchanged and left out here, so their callers are not looked up."""
        if not self.started:  # the lock first, then every read (see _serialize)
            _serialize(self.conn)
            self.feeders = transformer_feeders(self.reads)
            self.started = True
        new = clean
        old = _stored(self.reads, clean["id"].tolist())
        if len(old):
            was = old.set_index("id").reindex(new["id"])
            same = was["channel"].notna().to_numpy().copy()  # stored under this id (channel is required)
            for name in _COMPARED:
                same &= _same_column(name, new[name], was[name])
            self.result.unchanged += int(same.sum())
            new = new[~same].reset_index(drop=True)
            old = old[old["id"].isin(set(new["id"]))]
        candidates = caller_candidates(self.reads, new["caller_account_no"].dropna(), new["caller_phone"].dropna(),
                                       new["wechat_openid"].dropna())
        return new, old, candidates


def _serialize(conn: Connection) -> None:
    """PostgreSQL: take the rollup state's row lock now, before anything is read, so ingests run one
    after the other (as SQLite's ``BEGIN IMMEDIATE`` makes them): what this ingest reads as stored
    cannot change before it commits, so its new rows are plainly new (COPYed, no conflict check) and
    a contact two concurrent ingests both bring is counted once — the second one sees it stored."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT version FROM interaction_rollup_state WHERE id = 1 FOR UPDATE")


@contextlib.contextmanager
def _page_cache(conn: Connection) -> Iterator[None]:
    """SQLite: a larger page cache while a batch is written (:func:`gis.dialects.sqlite.page_cache`;
    the default 2 MB made every rollup upsert a read of its B-tree pages from the OS)."""
    if conn.dialect.name != "sqlite" or not _SQLITE_CACHE_MIB:
        yield
        return
    conn.exec_driver_sql("SELECT 1")
    with page_cache(conn.connection.driver_connection, _SQLITE_CACHE_MIB):
        yield


class _Writer:
    """Runs each part's write in one writer thread (``parallel``) or inline, one part at a time.
    :meth:`wait` returns when the connection is free again and raises what the write raised; leaving
    the block waits too, so an error elsewhere never rolls back under a running statement."""

    def __init__(self, *, parallel: bool) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ga-ingest-write") if parallel else None
        self._pending: Future[None] | None = None
        self._part: _Part | None = None

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._pending is not None:
                with contextlib.suppress(BaseException):
                    self._pending.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def submit(self, part: _Part) -> None:
        self._part = part
        if self._pool is None:
            part.write()
            return
        self._pending = self._pool.submit(part.write)

    def wait(self) -> None:
        pending, part = self._pending, self._part
        self._pending, self._part = None, None
        if pending is not None:
            pending.result()
        if part is not None:
            part.screen()


class _Part:
    """One part of an ingest, from its checked records and reads to what it writes: built in the
    calling thread without the connection (it may be writing the part before)."""

    def __init__(self, ctx: _Context, looked: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
        self.ctx = ctx
        result = ctx.result
        new, old, candidates = looked
        self.frame: pd.DataFrame | None = None
        self.changed: pd.DataFrame | None = None
        if not len(new):
            return
        matched, how = match_callers(new["caller_account_no"].to_numpy(object), new["caller_phone"].to_numpy(object),
                                     new["wechat_openid"].to_numpy(object), candidates)
        placed = place(matched, new["lon"].to_numpy(float, na_value=np.nan), new["lat"].to_numpy(float, na_value=np.nan),
                       candidates, ctx.feeders)
        times = new["occurred_at"]
        has = new["lon"].notna().to_numpy() & new["lat"].notna().to_numpy()
        geoms = np.full(len(new), None, dtype=object)
        geoms[has] = shapely.points(new["lon"][has].to_numpy(float), new["lat"][has].to_numpy(float))
        frame = pd.DataFrame({
            "id": new["id"], "account_no": matched, "caller_account_no": new["caller_account_no"],
            "channel": new["channel"], "kind": new["kind"], "occurred_at": times, "text": new["text"],
            "caller_phone": new["caller_phone"], "wechat_openid": new["wechat_openid"], "geom": geoms,
            "matched_by": how, "cell": placed["cell"], "day": local_days(times), "transformer_id": placed["transformer_id"],
            "feeder_id": placed["feeder_id"],
        })
        fresh = ~frame["id"].isin(set(old["id"])).to_numpy()
        # not stored, and cannot be before commit (_serialize); in the order of the table's indexes
        self.rows = NewRows("interactions", frame[fresh].iloc[_index_order(frame[fresh])], dialect=ctx.dialect)
        self.changed = frame[~fresh] if not fresh.all() else None
        counted = old[old["day"].notna()]  # rows stored before placement existed were never counted
        signed = [rollup_deltas(frame, +1)] + ([rollup_deltas(counted, -1)] if len(counted) else [])
        self.deltas = RollupDeltas(signed, dialect=ctx.dialect)
        result.updated += len(old)
        result.inserted += len(frame) - len(old)
        for k, n in pd.Series(how).value_counts().items():
            result.matched[str(k)] = result.matched.get(str(k), 0) + int(n)
        self.frame = frame

    def stage(self) -> None:
        """On the connection, in this thread: the changed rows (rare: the staged upsert), then the
        new rows' and the deltas' staging."""
        if self.frame is None:
            return
        if self.changed is not None:
            bulk_upsert(self.ctx.conn, "interactions", self.changed)
        self.rows.stage(self.ctx.conn)
        self.deltas.stage(self.ctx.conn)

    def write(self) -> None:
        """The store's work (any thread: the connection is this part's until it returns)."""
        if self.frame is None:
            return
        self.rows.write()
        self.deltas.write()

    def screen(self) -> None:
        """The screeners, on the connection, after the write."""
        if self.frame is None or not self.ctx.screeners:
            return
        written = _screened_rows(self.frame)
        for screener in self.ctx.screeners:
            screener.screen(self.ctx.conn, written)


def _index_order(frame: pd.DataFrame) -> np.ndarray:
    """Rows in the order of 台区, then account: consecutive rows then land on neighbouring pages of
    the table's 台区, feeder, account and cell indexes (a 台区's customers are near one another, and
    utilities number accounts by area), not on a random page each."""
    keys = [pd.factorize(frame[c].to_numpy(object), sort=True, use_na_sentinel=True)[0]
            for c in ("account_no", "transformer_id")]  # lexsort: the last key is the primary one
    return np.lexsort(keys)


_SCREENED = ("id", "account_no", "caller_account_no", "channel", "kind", "occurred_at", "text", "caller_phone",
             "wechat_openid", "matched_by", "cell", "day", "transformer_id", "feeder_id")


def _screened_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The written rows as the screeners get them (module docstring): dicts built column-wise."""
    columns: list[list[Any]] = []
    for name in _SCREENED:
        if name == "occurred_at":
            columns.append(list(frame[name].dt.to_pydatetime()))
        elif name in ("cell", "day"):
            columns.append([None if v is None or (type(v) is float and math.isnan(v)) else int(v)
                            for v in frame[name].to_numpy(object)])
        else:
            values = frame[name].to_numpy(object)
            columns.append([None if v is None or (type(v) is float and math.isnan(v)) else v for v in values])
    return [dict(zip(_SCREENED, values)) for values in zip(*columns)]


def ingest(engine: Engine, records: Iterable[Mapping[str, Any]], *, service_area: BBox,
           rows: Sequence[int] | None = None, screeners: Sequence[Screener] = (),
           progress: Callable[[str, int, int], None] | None = None) -> IngestResult:
    """:func:`ingest_interactions` in a transaction of its own (all written, or nothing).

    On SQLite the transaction takes the write lock at ``BEGIN IMMEDIATE``: two ingests then run one
    after the other (the second waits up to the busy timeout) instead of both reading first and the
    later writer failing on its stale snapshot ("database is locked").
    """
    records = records if isinstance(records, list) else list(records)
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(engine.connect().execution_options(sqlite_begin="IMMEDIATE"))
        stack.enter_context(_checkpoint_later(conn))
        stack.enter_context(conn.begin())
        reader = stack.enter_context(_reader(conn)) if len(records) > _CHUNK else None
        return ingest_interactions(conn, records, service_area=service_area, rows=rows, screeners=screeners,
                                   progress=progress, reader=reader)


@contextlib.contextmanager
def _reader(conn: Connection) -> Iterator[Connection | None]:
    """A second connection for a multi-part ingest's reads (see :func:`ingest_interactions`).

    SQLite: opened after ``conn``'s ``BEGIN IMMEDIATE``, so no writer can commit while it reads;
    None for a store without a file (an in-memory store is one connection). PostgreSQL: its reads
    run in READ COMMITTED after the ingest took the rollup state's lock (:func:`_serialize`), as
    ``conn``'s own would: every ingest waits for that lock, and an ingest writes no customer."""
    if conn.dialect.name != "sqlite":
        with conn.engine.connect() as reader:
            yield reader
        return
    if WalCheckpointer.of(conn.engine) is None:
        yield None
        return
    with conn.engine.connect() as reader:
        reader.exec_driver_sql("SELECT 1")
        with page_cache(reader.connection.driver_connection, _SQLITE_READ_CACHE_MIB):
            yield reader


@contextlib.contextmanager
def _checkpoint_later(conn: Connection) -> Iterator[None]:
    """SQLite: the commit does not copy the log into the database; a background thread does it after
    (:func:`gis.dialects.sqlite.checkpoint_later`: 2–3 s of a 200,000-contact ingest into 10M)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    with checkpoint_later(conn.engine, conn.connection.driver_connection):
        yield


def ingest_all_or_nothing(engine: Engine, records: Iterable[Mapping[str, Any]], *, service_area: BBox,
                          screeners: Sequence[Screener] = ()) -> IngestResult:
    """Every record stored, or none: raises :class:`InteractionsRejected` (listing every bad record)
    when any is bad. What the JSON API does: a client resends a corrected batch whole."""
    records = list(records)
    problems = check_records(records, list(range(1, len(records) + 1)), service_area).problems
    if problems:
        raise InteractionsRejected(problems)
    return ingest(engine, records, service_area=service_area, screeners=screeners)

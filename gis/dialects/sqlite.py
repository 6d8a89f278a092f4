"""SQLite specifics: pragmas, WKB bounding-box SQL functions and R*Tree spatial indexes.

The R*Tree ``rtree_<table>_<column>`` holds one box per row keyed by the table's rowid
and is kept by triggers that call the ``ga_minx``/``ga_maxx``/``ga_miny``/``ga_maxy``
functions registered on every connection made by :func:`gis.db.make_engine`. Rowids of
tables without an INTEGER PRIMARY KEY may change on VACUUM, so :func:`rebuild_spatial_index`
is run by :func:`gis.db.vacuum` afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import sqlite3
import struct
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import shapely
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

__all__ = [
    "configure_engine",
    "create_spatial_index",
    "drop_spatial_index",
    "rebuild_spatial_index",
    "has_spatial_index",
    "suspend_spatial_triggers",
    "resume_spatial_triggers",
    "refill_spatial_index",
    "bbox_clause",
    "wkb_bounds",
    "point_xy",
    "ConnectionBounds",
    "intersects_box",
    "page_cache",
    "checkpoint_later",
    "WalCheckpointer",
]

_POINT_LE = struct.Struct("<xIdd")


_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def point_xy(blobs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of WKB point blobs as SQLite stores them (NaN where a blob is None or empty).

    The 21-byte little-endian 2-D points are read as one numpy view of their bytes (an ingest reads
    25,000 customers' points a part: shapely's ``from_wkb`` cost ~5 µs each, in the thread that also
    prepares the next part); any other geometry goes through shapely."""
    blobs = np.asarray(blobs, dtype=object)
    x, y = np.full(len(blobs), np.nan), np.full(len(blobs), np.nan)
    if not len(blobs):
        return x, y
    try:
        joined = b"".join(blobs)
    except TypeError:  # some are None
        joined = None
    if joined is not None and len(joined) == _WKB_POINT.itemsize * len(blobs):
        view = np.frombuffer(joined, dtype=_WKB_POINT)
        if (view["order"] == 1).all() and (view["type"] == 1).all():
            return view["x"].copy(), view["y"].copy()
    geoms = shapely.from_wkb(blobs)
    point = shapely.get_type_id(geoms) == 0
    x[point], y[point] = shapely.get_x(geoms[point]), shapely.get_y(geoms[point])
    return x, y


def wkb_bounds(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """Bounds (minx, miny, maxx, maxy) of a WKB geometry; a fast path for 2-D points."""
    if blob is None:
        return None
    if len(blob) == 21 and blob[0] == 1:
        gtype, x, y = _POINT_LE.unpack(blob)
        if gtype == 1:
            return (x, y, x, y)
    geom = shapely.from_wkb(blob)
    return tuple(geom.bounds) if not geom.is_empty else None


class ConnectionBounds:
    """:func:`wkb_bounds` with a one-entry cache, owned by one connection.

    The four ``ga_*`` calls of one trigger row pass the same value, so the last answer is
    kept; one connection runs one statement at a time, so its cache is never shared (a
    module-level one was, by every connection of every thread: one thread could pair another's
    blob with its own bounds between two assignments).
    """

    __slots__ = ("_blob", "_bounds")

    def __init__(self) -> None:
        self._blob: bytes | None = None
        self._bounds: tuple[float, float, float, float] | None = (math.nan,) * 4

    def __call__(self, blob: bytes | None) -> tuple[float, float, float, float] | None:
        if blob is not None and blob == self._blob:
            return self._bounds
        bounds = wkb_bounds(blob)
        self._blob, self._bounds = blob, bounds
        return bounds

    def component(self, i: int):
        def fn(blob):
            b = self(blob)
            return None if b is None else b[i]

        return fn


def intersects_box(blob: bytes | None, minx: float, miny: float, maxx: float, maxy: float) -> int:
    """Exact test: does the WKB geometry intersect the box? (Points without shapely.)"""
    b = wkb_bounds(blob)
    if b is None or b[0] > maxx or b[2] < minx or b[1] > maxy or b[3] < miny:
        return 0
    if b[0] == b[2] and b[1] == b[3]:
        return 1  # a point inside the box
    if minx <= b[0] and b[2] <= maxx and miny <= b[1] and b[3] <= maxy:
        return 1  # wholly inside
    return int(shapely.intersects(shapely.from_wkb(blob), shapely.box(minx, miny, maxx, maxy)))


def _on_connect(dbapi_conn: sqlite3.Connection, record) -> None:
    bounds = ConnectionBounds()
    record.info["gridatlas_bounds"] = bounds  # on the connection's own pool record
    for name, idx in (("ga_minx", 0), ("ga_miny", 1), ("ga_maxx", 2), ("ga_maxy", 3)):
        dbapi_conn.create_function(name, 1, bounds.component(idx), deterministic=True)
    dbapi_conn.create_function("ga_intersects_box", 5, intersects_box, deterministic=True)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")  # the busy timeout is the connection's (make_engine)
    cur.close()


def configure_engine(engine: Engine) -> None:
    """Register pragmas and the bounding-box functions on every new connection."""
    event.listen(engine, "connect", _on_connect)


#: Parameters per multi-row statement of :func:`insert_rows` (under every SQLite's variable limit).
_PARAMS_PER_STATEMENT = 2048


def insert_rows(raw: sqlite3.Connection, head: str, width: int, rows: Iterable[Sequence[object]], tail: str = "") -> None:
    """``rows`` (sequences of ``width`` values) through ``{head} VALUES (…), (…), … {tail}`` statements
    of many rows each, in order — what ``raw.executemany(head + " VALUES (?, …) " + tail, rows)``
    does, 5–8x faster into a table without secondary indexes (a staging table, a load whose indexes
    are suspended): executemany pays the module's per-row reset, bind and step (~25 µs a row at 16
    columns), one multi-row statement pays it once. Into a table with live indexes executemany
    measured faster (200,000 contacts into 10M: 54,000 vs 45,000 rows/s), so callers keep it there.
    Rows within a statement are applied in order, so an upsert's later row wins as it would."""
    if width < 1:
        raise ValueError("insert_rows needs at least one column")
    per = max(1, min(_PARAMS_PER_STATEMENT, raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)) // width)
    one = "(" + ", ".join("?" * width) + ")"
    full = f"{head} VALUES {', '.join([one] * per)} {tail}"
    it = iter(rows)
    while chunk := list(itertools.islice(it, per)):
        flat = list(itertools.chain.from_iterable(chunk))
        if len(flat) != width * len(chunk):
            raise ValueError(f"insert_rows: a row has not {width} values")
        sql = full if len(chunk) == per else f"{head} VALUES {', '.join([one] * len(chunk))} {tail}"
        raw.execute(sql, flat)


@contextlib.contextmanager
def page_cache(raw: sqlite3.Connection, mib: int) -> Iterator[None]:
    """``mib`` MiB of page cache on a driver connection while a large write runs (the default 2 MB
    makes every B-tree update a read of its pages from the OS); the connection's own setting is
    restored after. Bulk loads, the search reindex, the interaction ingest and migrations use it."""
    (before,) = raw.execute("PRAGMA cache_size").fetchone()
    raw.execute(f"PRAGMA cache_size = -{int(mib) * 1024}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


@contextlib.contextmanager
def checkpoint_later(engine: Engine, raw: sqlite3.Connection) -> Iterator[None]:
    """A large write on ``raw`` whose commit does not copy the write-ahead log into the database.

    SQLite's automatic checkpoint runs in the committing call: after a bulk ingest's commit it copies
    every page the transaction wrote (~1 GB for 200,000 contacts into 10M) and syncs the file, seconds
    in which the caller waits and nothing else of the ingest happens. Inside this block the automatic
    checkpoint is off on ``raw``; on leaving it (after the commit) it is restored and the engine's
    :class:`WalCheckpointer` is asked to run one in its own thread — what SQLite's documentation
    advises for a writer that must not wait (https://sqlite.org/wal.html#ckpt). Nothing is less
    durable: the log is the database until it is copied, and any connection reads through it.
    Engines without a file (``:memory:``) run the block as it is.
    """
    checkpointer = WalCheckpointer.of(engine)
    if checkpointer is None:
        yield
        return
    (before,) = raw.execute("PRAGMA wal_autocheckpoint").fetchone()
    raw.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA wal_autocheckpoint = {int(before)}")
        checkpointer.request()


class WalCheckpointer:
    """One thread per engine that runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection when
    asked (:func:`checkpoint_later`). Requests while a checkpoint runs fold into one more run; the
    thread ends after ``idle_s`` without a request and starts again on the next. A passive checkpoint
    never blocks readers or the next writer: it copies what no reader still needs, and a later
    checkpoint (this one's next run, or SQLite's automatic one) copies the rest."""

    _by_engine: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = weakref.WeakKeyDictionary()
    _registry_lock = threading.Lock()

    def __init__(self, path: str, idle_s: float = 30.0) -> None:
        self.path, self.idle_s = path, idle_s
        self.runs = 0  # checkpoints completed
        self.last_error: BaseException | None = None
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, engine: Engine) -> WalCheckpointer | None:
        """The engine's checkpointer (made on first use); None for a database without a file."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
            return None
        with cls._registry_lock:
            found = cls._by_engine.get(engine)
            if found is None:
                found = cls._by_engine[engine] = cls(database)
            return found

    def request(self) -> None:
        """Run a checkpoint soon, in the checkpointer's thread."""
        with self._lock:
            self._wanted.set()
            self._busy = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpoint", daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no checkpoint is asked for or running (tests, benchmarks, shutdown); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            while True:
                if not self._wanted.wait(self.idle_s):
                    with self._lock:
                        if not self._wanted.is_set():  # idle: end (a later request starts a new thread)
                            self._thread = None
                            return
                self._wanted.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.runs += 1
                except sqlite3.Error as exc:  # the next request, or SQLite's own checkpoint, tries again
                    self.last_error = exc
                with self._lock:
                    if not self._wanted.is_set():
                        self._busy = False
                        self._idle.notify_all()
        except sqlite3.Error as exc:  # could not open the file: SQLite's own checkpoints remain
            self.last_error = exc
        finally:
            if conn is not None:
                conn.close()
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread, self._busy = None, False
                    self._idle.notify_all()


def _rtree(table: str, column: str) -> str:
    return f"rtree_{table}_{column}"


def _trigger_sql(table: str, column: str) -> list[str]:
    rt = _rtree(table, column)
    box = f"ga_minx(NEW.{column}), ga_maxx(NEW.{column}), ga_miny(NEW.{column}), ga_maxy(NEW.{column})"
    return [
        f"""CREATE TRIGGER IF NOT EXISTS {rt}_insert AFTER INSERT ON {table}
            WHEN NEW.{column} IS NOT NULL
            BEGIN INSERT OR REPLACE INTO {rt} VALUES (NEW.rowid, {box}); END""",
        f"""CREATE TRIGGER IF NOT EXISTS {rt}_update AFTER UPDATE OF {column} ON {table}
            BEGIN
              DELETE FROM {rt} WHERE id = OLD.rowid;
              INSERT INTO {rt} SELECT NEW.rowid, {box} WHERE NEW.{column} IS NOT NULL;
            END""",
        f"""CREATE TRIGGER IF NOT EXISTS {rt}_delete AFTER DELETE ON {table}
            BEGIN DELETE FROM {rt} WHERE id = OLD.rowid; END""",
    ]


def create_spatial_index(bind, table: str, column: str) -> None:
    """Create the R*Tree for ``table.column`` with its triggers and fill it."""
    rt = _rtree(table, column)
    bind.execute(text(f"CREATE VIRTUAL TABLE IF NOT EXISTS {rt} USING rtree(id, minx, maxx, miny, maxy)"))
    for stmt in _trigger_sql(table, column):
        bind.execute(text(stmt))
    rebuild_spatial_index(bind, table, column)


def rebuild_spatial_index(bind, table: str, column: str) -> None:
    """Refill the R*Tree from the table (after VACUUM or a bulk load without triggers)."""
    rt = _rtree(table, column)
    bind.execute(text(f"DELETE FROM {rt}"))
    bind.execute(
        text(
            f"INSERT INTO {rt} SELECT rowid, ga_minx({column}), ga_maxx({column}), "
            f"ga_miny({column}), ga_maxy({column}) FROM {table} WHERE {column} IS NOT NULL"
        )
    )


# -- bulk loads (gis.bulk): on the raw sqlite3 connection, inside the caller's transaction ----
def has_spatial_index(raw: sqlite3.Connection, table: str, column: str) -> bool:
    """Does ``table.column`` have its R*Tree and all three triggers?"""
    rt = _rtree(table, column)
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE name LIKE ?", (rt + "%",))}
    return {rt, f"{rt}_insert", f"{rt}_update", f"{rt}_delete"} <= names


def suspend_spatial_triggers(raw: sqlite3.Connection, table: str, column: str) -> None:
    """Drop the insert/update triggers for a bulk load; DDL is transactional in SQLite, so a
    rollback restores them, and :func:`resume_spatial_triggers` must follow a refill."""
    rt = _rtree(table, column)
    raw.execute(f"DROP TRIGGER IF EXISTS {rt}_insert")
    raw.execute(f"DROP TRIGGER IF EXISTS {rt}_update")


def resume_spatial_triggers(raw: sqlite3.Connection, table: str, column: str) -> None:
    for stmt in _trigger_sql(table, column):
        raw.execute(stmt)


def refill_spatial_index(raw: sqlite3.Connection, table: str, column: str) -> None:
    """Rebuild the R*Tree from the table in one pass, bounds computed by shapely in bulk."""
    rt = _rtree(table, column)
    raw.execute(f"DELETE FROM {rt}")
    rows = raw.execute(f"SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL").fetchall()
    if not rows:
        return
    ids, blobs = zip(*rows)
    geoms = shapely.from_wkb(np.asarray(blobs, dtype=object))
    bounds = shapely.bounds(geoms)
    keep = np.flatnonzero(~shapely.is_empty(geoms))
    raw.executemany(
        f"INSERT INTO {rt} VALUES (?, ?, ?, ?, ?)",
        zip(
            np.asarray(ids)[keep].tolist(),
            bounds[keep, 0].tolist(), bounds[keep, 2].tolist(), bounds[keep, 1].tolist(), bounds[keep, 3].tolist(),
        ),
    )



def drop_spatial_index(bind, table: str, column: str) -> None:
    rt = _rtree(table, column)
    for suffix in ("insert", "update", "delete"):
        bind.execute(text(f"DROP TRIGGER IF EXISTS {rt}_{suffix}"))
    bind.execute(text(f"DROP TABLE IF EXISTS {rt}"))


def bbox_clause(table: str, column: str, bbox: tuple[float, float, float, float]):
    """SQL selecting ``table`` rows whose geometry intersects ``bbox``.

    The R*Tree (float32 boxes rounded outward) gives candidates; an exact test refines them.
    """
    rt = _rtree(table, column)
    sql = (
        f"{table}.rowid IN (SELECT id FROM {rt} WHERE minx <= :bb_maxx AND maxx >= :bb_minx "
        f"AND miny <= :bb_maxy AND maxy >= :bb_miny) "
        f"AND ga_intersects_box({table}.{column}, :bb_minx, :bb_miny, :bb_maxx, :bb_maxy)"
    )
    minx, miny, maxx, maxy = bbox
    return text(sql).bindparams(bb_minx=minx, bb_miny=miny, bb_maxx=maxx, bb_maxy=maxy)

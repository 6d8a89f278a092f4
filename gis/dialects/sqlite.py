"""SQLite specifics: pragmas, WKB bounding-box SQL functions and R*Tree spatial indexes.

The R*Tree ``rtree_<table>_<column>`` holds one box per row keyed by the table's rowid
and is kept by triggers that call the ``ga_minx``/``ga_maxx``/``ga_miny``/``ga_maxy``
functions registered on every connection made by :func:`gis.db.make_engine`. Rowids of
tables without an INTEGER PRIMARY KEY may change on VACUUM, so :func:`rebuild_spatial_index`
is run by :func:`gis.db.vacuum` afterwards.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import struct
from collections.abc import Iterator

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
    "ConnectionBounds",
    "intersects_box",
]

_POINT_LE = struct.Struct("<xIdd")


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

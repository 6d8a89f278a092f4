"""Bulk upserts of whole tables (DataFrames) by primary key, inside the caller's transaction.

The interface every loader writes through: :func:`bulk_upsert`. Internals per store:

* **PostGIS** — the pgloader pattern: ``COPY`` (psycopg 3, on the caller's own connection,
  so inside its transaction) into a ``TEMP … ON COMMIT DROP`` staging table with the
  table's columns and no constraints, geometry as plain WKB (``bytea``); one SQL pass
  checks the staged rows (required values, geometry type, lon/lat range, validity) and a
  bad row raises :class:`RejectedRow` naming table, id, field and value; then
  ``INSERT … SELECT … ON CONFLICT (pk) DO UPDATE SET`` the given columns only. Duplicate
  ids and foreign SRIDs are refused before the COPY (cheaper in numpy); a foreign-key or
  CHECK violation is a RejectedRow too.
* **SQLite** — the same checks vectorized in numpy/shapely, then ``INSERT … ON CONFLICT`` over
  tuples in 100k batches with WKB from :func:`shapely.to_wkb`: multi-row statements
  (:func:`gis.dialects.sqlite.insert_rows`) while the table's secondary indexes are suspended,
  ``executemany`` into live indexes (where it measured faster).

On both, a load that dominates its table (≥ ``_LARGE`` rows and ≥ half the table) rebuilds
the table's non-unique indexes after the insert (PostGIS also re-adds its foreign keys,
validated in one pass; SQLite refills the R*Tree in one pass instead of per-row triggers).
That is DDL in the caller's transaction: a failure restores everything; until commit the
table is locked for other writers (and, on PostGIS, readers). Durability settings are
never touched.

The Python validators of the loaders run first; the checks here are the backstop that
keeps a bad row out of the store whatever the caller forgot.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Date, DateTime, Table
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.geometry_type import SRID, Geometry
from gis.models import Base

__all__ = ["bulk_upsert", "bulk_upsert_parts", "bulk_insert_new", "NewRows", "copy_fields", "sqlite_stage", "RejectedRow",
           "Progress"]

Progress = Callable[[str, int, int], None]

#: Rows per COPY progress report / per SQLite executemany batch.
_CHUNK = 100_000
#: From this many rows, and at least half the table's size, a load rebuilds the table's
#: secondary indexes once (and re-validates foreign keys, PostGIS; refills the R*Tree,
#: SQLite) instead of maintaining them per row, and refreshes planner statistics.
_LARGE = 5_000


class RejectedRow(InvalidInput):
    """A row the store's own checks refused; nothing of the call was written."""

    def __init__(self, table: str, row_id: object, field: str, value: object, reason: str) -> None:
        ident = "" if row_id is None else f" id {row_id!r}"
        super().__init__(f"{table}{ident}: {field}={value!r}: {reason}", field=field, value=value)
        self.table = table
        self.id = row_id
        self.reason = reason


@dataclass(frozen=True)
class _Plan:
    """What one call writes: the table, its key, the given columns and the defaults added."""

    table: Table
    pk: str
    columns: list[str]
    defaults: dict[str, Any]
    geom: str | None
    geom_type: str
    indexes_suspended: bool = False  # by :func:`bulk_upsert_parts`, for all its parts

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def missing_required(self) -> list[str]:
        """Required columns the frame leaves out: then every row must already exist and is
        updated in place (both databases check NOT NULL before an ON CONFLICT can apply)."""
        return [
            c.name for c in self.table.columns
            if not c.nullable and c.name not in self.columns and c.name not in self.defaults
            and c.server_default is None and not c.primary_key
        ]


def bulk_upsert(conn: Connection, table: str, frame: pd.DataFrame, *, progress: Progress | None = None,
                _indexes_suspended: bool = False) -> int:
    """Insert or update every row of ``frame`` into ``table`` by primary key; returns the row count.

    ``frame``'s columns are the table's column names (a subset is fine; columns left out
    keep their stored values on update). A geometry column (``geom``) holds shapely
    geometries in EPSG:4326 lon/lat. Missing values (NaN/NaT/None) are stored as NULL.
    Runs in the caller's transaction, so a failure anywhere leaves the store unchanged.
    """
    plan = replace(_plan(table, frame), indexes_suspended=_indexes_suspended)
    total = len(frame)
    if progress is not None:
        progress(f"write {table}", 0, total)
    if total == 0:
        return 0
    if conn.dialect.name == "postgresql":
        _pg_upsert(conn, plan, frame, progress)
    else:
        _sqlite_upsert(conn, plan, frame, progress)
    if progress is not None:
        progress(f"write {table}", total, total)
    return total


# ------------------------------------------------------------------------------- shared
def _plan(table: str, frame: pd.DataFrame) -> _Plan:
    tbl = Base.metadata.tables[_plan_table(table)]
    pk_cols = [c.name for c in tbl.primary_key.columns]
    if len(pk_cols) != 1:
        raise InvalidInput(f"bulk_upsert needs a single-column primary key; {table} has {pk_cols}", field="table", value=table)
    pk = pk_cols[0]
    columns = [str(c) for c in frame.columns]
    unknown = [c for c in columns if c not in tbl.c]
    if unknown:
        raise InvalidInput(f"{table} has no column {unknown[0]!r}", field=unknown[0], value=None)
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise InvalidInput(f"column {dup!r} is given twice for {table}", field=dup, value=None)
    if pk not in columns:
        raise InvalidInput(f"rows for {table} need their id column {pk!r}", field=pk, value=None)
    defaults: dict[str, Any] = {}
    for col in tbl.columns:
        if col.name in columns or col.default is None or col.primary_key:
            continue
        if col.default.is_scalar:
            defaults[col.name] = col.default.arg
        elif col.default.is_callable:
            defaults[col.name] = col.default.arg(None)  # SQLAlchemy wraps fn() as fn(ctx)
    geoms = [c.name for c in tbl.columns if isinstance(c.type, Geometry)]
    geom = geoms[0] if geoms and geoms[0] in columns else None
    geom_type = tbl.c[geom].type.geometry_type if geom else "GEOMETRY"
    return _Plan(tbl, pk, columns, defaults, geom, geom_type)


def _missing(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy(dtype=bool)


def _objects(series: pd.Series) -> np.ndarray:
    """The column as an object array of Python scalars with None for missing values."""
    if series.dtype == object:
        values = series.to_numpy(dtype=object, copy=True)
        values[_missing(series)] = None
        return values
    return series.to_numpy(dtype=object, na_value=None)


def _geometries(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype=object, copy=True)
    values[_missing(series)] = None
    bad = ~shapely.is_valid_input(values)  # neither a geometry nor None (vectorized in C)
    if bad.any():
        v = values[np.flatnonzero(bad)[0]]
        raise InvalidInput(f"expected shapely geometries, got {type(v).__name__}", field=str(series.name), value=str(v)[:80])
    return values


def _timestamps(series: pd.Series, *, with_zone: bool) -> np.ndarray:
    """ISO text of a datetime column (vectorized); a zoned column in UTC with ``Z``."""
    s = pd.to_datetime(series)
    zoned = getattr(s.dt, "tz", None) is not None
    if zoned and with_zone:
        naive = s.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        naive = s.dt.tz_localize(None) if zoned else s  # SQLAlchemy's SQLite DateTime keeps wall time
    arr = naive.to_numpy(dtype="datetime64[us]")
    text = np.datetime_as_string(arr, unit="us", timezone="UTC" if zoned and with_zone else "naive")
    if not with_zone:  # SQLAlchemy's SQLite format: "YYYY-MM-DD HH:MM:SS.ffffff"
        text = np.strings.replace(text, "T", " ")
    out = text.astype(object)
    out[np.isnat(arr)] = None
    return out


def _dates(series: pd.Series) -> np.ndarray:
    arr = pd.to_datetime(series).to_numpy(dtype="datetime64[D]")
    out = np.datetime_as_string(arr, unit="D").astype(object)
    out[np.isnat(arr)] = None
    return out


def _column(plan: _Plan, name: str, series: pd.Series, *, postgres: bool) -> np.ndarray:
    """One column as an object array ready for the driver (None = NULL)."""
    sql_type = plan.table.c[name].type
    if isinstance(sql_type, Geometry):
        raise AssertionError("geometry columns are encoded separately")
    if isinstance(sql_type, DateTime) and len(series) and (
        pd.api.types.is_datetime64_any_dtype(series) or series.dtype == object
    ):
        return _timestamps(series, with_zone=postgres)
    if isinstance(sql_type, Date) and not isinstance(sql_type, DateTime) and len(series):
        return _dates(series)
    return _objects(series)  # bools stay bools: sqlite3 stores them as 1/0, as SQLAlchemy does


# ----------------------------------------------------------------------------- PostGIS
_KEY_RE = re.compile(r"Key \((?P<field>[^)]+)\)=\((?P<value>.*)\)")


def _pg_upsert(conn: Connection, plan: _Plan, frame: pd.DataFrame, progress: Progress | None) -> None:
    import psycopg

    stage = f"ga_stage_{plan.name}"
    cols = plan.columns
    # Geometry travels as plain WKB in a bytea column (shapely writes binary WKB ~4x faster
    # than hex EWKB); the checks and the insert read it with ST_GeomFromWKB.
    select = ", ".join(f"NULL::bytea AS {c}" if c == plan.geom else c for c in cols)
    # Through SQLAlchemy first: this begins the caller's transaction if it had not begun.
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{stage}")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {select} FROM {plan.name} WITH NO DATA"
    )
    raw = conn.connection.driver_connection
    _check_duplicates(plan, frame)
    arrays = []
    for c in cols:
        if c == plan.geom:
            geoms = _geometries(frame[c])
            _check_srid(plan, frame, geoms)
            arrays.append(shapely.to_wkb(geoms, include_srid=False).astype(object))
        else:
            arrays.append(_column(plan, c, frame[c], postgres=True))
    total = len(frame)
    with raw.cursor() as cur:
        with cur.copy(f"COPY {stage} ({', '.join(cols)}) FROM STDIN") as copy:
            for start in range(0, total, _CHUNK):
                for row in zip(*(a[start : start + _CHUNK] for a in arrays)):
                    copy.write_row(row)
                if progress is not None:
                    progress(f"write {plan.name}", min(start + _CHUNK, total), total)
        _pg_check(cur, plan, stage)
        cur.execute(f"SELECT count(*) FROM {plan.name}")
        existing = cur.fetchone()[0]
        # A load that dominates the table rebuilds its secondary indexes and re-validates its
        # foreign keys in one pass each (what pg_restore does) instead of per row: ~6x faster.
        # All of it is DDL in the caller's transaction, so a failure restores them as they were;
        # the table is locked (ACCESS EXCLUSIVE) until commit.
        large = total >= _LARGE and total * 2 >= existing and not plan.indexes_suspended
        deferred = _pg_suspend(cur, plan.name) if large else None
        try:
            _pg_insert(cur, plan, stage, upsert=existing > 0)
            if deferred is not None:
                _pg_resume(cur, plan.name, deferred)
        except psycopg.errors.IntegrityError as exc:
            raise _pg_rejected(plan.name, exc) from exc
        cur.execute(f"DROP TABLE {stage}")
        if total >= _LARGE and not plan.indexes_suspended:
            cur.execute(f"ANALYZE {plan.name}")


def _check_srid(plan: _Plan, frame: pd.DataFrame, geoms: np.ndarray) -> None:
    srid = shapely.get_srid(geoms)
    bad = ~shapely.is_missing(geoms) & (srid != 0) & (srid != SRID)
    if bad.any():
        ids = frame[plan.pk].to_numpy(dtype=object)[bad]
        i = int(np.argmin([str(x) for x in ids]))
        raise RejectedRow(plan.name, str(ids[i]), plan.geom, f"SRID={srid[bad][i]}", f"SRID must be {SRID}")


def _pg_check(cur, plan: _Plan, stage: str) -> None:
    """The staging check: one pass over the stage; the first bad row (by id) raises RejectedRow."""
    tbl, pk = plan.table, plan.pk
    cases: list[tuple[str, str, str]] = []  # condition, field, reason
    for c in plan.columns:
        if not tbl.c[c].nullable:
            cases.append((f"{c} IS NULL", c, "required value is missing"))
    if plan.geom is not None:
        if plan.geom_type != "GEOMETRY":
            cases.append((f"GeometryType(g) <> '{plan.geom_type}'", plan.geom, f"geometry type must be {plan.geom_type}"))
        cases.append(
            ("NOT (ST_XMin(g) >= -180 AND ST_XMax(g) <= 180 AND ST_YMin(g) >= -90 AND ST_YMax(g) <= 90 "
             "AND ST_XMax(g) - ST_XMin(g) + ST_YMax(g) - ST_YMin(g) < 'Infinity')",
             plan.geom, "not a WGS 84 lon/lat geometry")
        )
        # A point with finite coordinates is valid; GEOS is asked about the other shapes only.
        cases.append(("GeometryType(g) <> 'POINT' AND NOT ST_IsValid(g)", plan.geom, "invalid geometry"))
    if not cases:
        return
    when = " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _f, _r) in enumerate(cases))
    # OFFSET 0 keeps the subquery: each WKB is decoded once, not once per test.
    inner = ", ".join(dict.fromkeys([pk, *(c for c in plan.columns if not tbl.c[c].nullable and c != plan.geom)]))
    geom = f", ST_GeomFromWKB({plan.geom}) AS g, {plan.geom}" if plan.geom else ""
    cur.execute(
        f"SELECT {pk}::text, k, {plan.geom or 'NULL'} FROM (SELECT *, CASE {when} END AS k FROM "
        f"(SELECT {inner}{geom} FROM {stage} OFFSET 0) s) t WHERE k IS NOT NULL ORDER BY {pk} LIMIT 1"
    )
    bad = cur.fetchone()
    if bad is not None:
        _cond, field, reason = cases[bad[1]]
        value = None
        if field == plan.geom and bad[2] is not None:
            value = shapely.to_wkt(shapely.from_wkb(bytes(bad[2])), rounding_precision=-1)[:80]
        raise RejectedRow(plan.name, bad[0], field, value, reason)
    required = plan.missing_required
    if required:  # new rows must bring every required column
        cur.execute(
            f"SELECT s.{pk}::text FROM {stage} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {plan.name} t WHERE t.{pk} = s.{pk}) ORDER BY s.{pk} LIMIT 1"
        )
        new = cur.fetchone()
        if new is not None:
            raise RejectedRow(plan.name, new[0], required[0], None, "required value is missing (a new row needs it)")


def _pg_insert(cur, plan: _Plan, stage: str, *, upsert: bool) -> None:
    def value(c: str, prefix: str = "") -> str:
        return f"ST_GeomFromWKB({prefix}{c}, {SRID})" if c == plan.geom else f"{prefix}{c}"

    if plan.missing_required:  # only existing rows (checked): update them in place
        sets = ", ".join(f"{c} = {value(c, 's.')}" for c in plan.columns if c != plan.pk)
        if sets:
            cur.execute(f"UPDATE {plan.name} t SET {sets} FROM {stage} s WHERE t.{plan.pk} = s.{plan.pk}")
        return
    cols = plan.columns
    extra = list(plan.defaults)
    target = ", ".join(cols + extra)
    source = ", ".join([value(c) for c in cols] + ["%s"] * len(extra))
    updates = [c for c in cols if c != plan.pk]
    conflict = (
        "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in updates) if updates else "DO NOTHING"
    )
    # Into an empty table there is nothing to conflict with (the stage has no duplicate ids).
    tail = f" ON CONFLICT ({plan.pk}) {conflict}" if upsert else ""
    cur.execute(f"INSERT INTO {plan.name} ({target}) SELECT {source} FROM {stage}{tail}", [plan.defaults[c] for c in extra] or None)


@dataclass(frozen=True)
class _Deferred:
    indexes: list[str]  # CREATE INDEX statements
    foreign_keys: list[tuple[str, str]]  # (name, definition)


def _pg_suspend(cur, table: str) -> _Deferred:
    """Drop ``table``'s non-unique indexes and its outgoing foreign keys; returns how to restore them."""
    cur.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
        (table,),
    )
    indexes = cur.fetchall()
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        (table,),
    )
    fks = cur.fetchall()
    for name, _ in fks:
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    return _Deferred([d for _, d in indexes], [(n, d) for n, d in fks])


def _pg_resume(cur, table: str, deferred: _Deferred) -> None:
    cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for stmt in deferred.indexes:
        cur.execute(stmt)
    for name, definition in deferred.foreign_keys:  # validated now, in one pass each
        cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _pg_rejected(table: str, exc) -> RejectedRow:
    diag = exc.diag
    detail = diag.message_detail or diag.message_primary or str(exc)
    m = _KEY_RE.search(detail)
    field = m["field"] if m else (diag.column_name or diag.constraint_name or table)
    value = m["value"] if m else None
    return RejectedRow(table, None, field, value, f"{diag.message_primary}: {detail}")


# ------------------------------------------------------------------------------ SQLite
def _sqlite_check(plan: _Plan, frame: pd.DataFrame, geoms: np.ndarray | None) -> None:
    """The same checks as the PostGIS staging pass, vectorized; the first bad row (by id) raises."""
    ids = frame[plan.pk].to_numpy(dtype=object)
    found: list[tuple[object, str, object, str]] = []

    def first(mask: np.ndarray, field: str, values, reason: str) -> None:
        if mask.any():
            idx = np.flatnonzero(mask)
            order = idx[np.argsort(np.asarray([str(ids[i]) for i in idx]), kind="stable")][0]
            found.append((ids[order], field, None if values is None else values[order], reason))

    for c in plan.columns:
        if not plan.table.c[c].nullable:
            first(_missing(frame[c]), c, None, "required value is missing")
    if geoms is not None:
        g = plan.geom
        present = ~shapely.is_missing(geoms)
        srid = shapely.get_srid(geoms)
        first(present & (srid != 0) & (srid != SRID), g, np.array([f"SRID={s}" for s in srid]), f"SRID must be {SRID}")
        if plan.geom_type != "GEOMETRY":
            names = np.array(["POINT", "LINESTRING", "LINEARRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING",
                              "MULTIPOLYGON", "GEOMETRYCOLLECTION"])
            tid = shapely.get_type_id(geoms)
            kind = np.where(tid >= 0, names[np.clip(tid, 0, 7)], "")
            first(present & (kind != plan.geom_type), g, kind, f"geometry type must be {plan.geom_type}")
        b = shapely.bounds(geoms)
        with np.errstate(invalid="ignore"):
            out = ~np.isfinite(b).all(axis=1) | (b[:, 0] < -180) | (b[:, 2] > 180) | (b[:, 1] < -90) | (b[:, 3] > 90)
        empty = shapely.is_empty(geoms)
        wkt = _LazyWkt(geoms)
        first(present & ~empty & out, g, wkt, "not a WGS 84 lon/lat geometry")
        first(present & ~shapely.is_valid(geoms), g, wkt, "invalid geometry")
    if found:
        row_id, field, value, reason = min(found, key=lambda f: str(f[0]))
        raise RejectedRow(plan.name, None if row_id is None else str(row_id), field, value, reason)
    _check_duplicates(plan, frame)


def _check_duplicates(plan: _Plan, frame: pd.DataFrame) -> None:
    """Two rows with one id in a batch: refused (an upsert could keep either)."""
    key = frame[plan.pk]
    dup = key.duplicated(keep=False).to_numpy() & ~_missing(key)
    if dup.any():
        row_id = min(str(i) for i in key.to_numpy(dtype=object)[dup])
        raise RejectedRow(plan.name, row_id, plan.pk, row_id, "duplicate id in the batch")


class _LazyWkt:
    """WKT of one geometry, computed only for the row that is reported."""

    def __init__(self, geoms: np.ndarray) -> None:
        self._geoms = geoms

    def __getitem__(self, i: int) -> str:
        return shapely.to_wkt(self._geoms[i], rounding_precision=-1)[:80]


def _sqlite_new_rows_complete(raw, plan: _Plan, ids: np.ndarray) -> None:
    required = plan.missing_required
    if not required:
        return
    existing = {r[0] for r in raw.execute(f"SELECT {plan.pk} FROM {plan.name}")}
    new = sorted(str(i) for i in ids if i not in existing)
    if new:
        raise RejectedRow(plan.name, new[0], required[0], None, "required value is missing (a new row needs it)")


def _sqlite_upsert(conn: Connection, plan: _Plan, frame: pd.DataFrame, progress: Progress | None) -> None:
    import sqlite3

    from gis.dialects import sqlite as sq

    geoms = _geometries(frame[plan.geom]) if plan.geom else None
    _sqlite_check(plan, frame, geoms)
    arrays: list[Sequence[Any]] = []
    for c in plan.columns:
        if c == plan.geom:
            arrays.append(shapely.to_wkb(geoms).astype(object))
        else:
            arrays.append(_column(plan, c, frame[c], postgres=False))
    extra = list(plan.defaults)
    consts = [itertools.repeat(plan.defaults[c]) for c in extra]
    cols = plan.columns + extra
    updates = [c for c in plan.columns if c != plan.pk]
    conflict = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates) if updates else "DO NOTHING"
    head, tail = f"INSERT INTO {plan.name} ({', '.join(cols)})", f"ON CONFLICT ({plan.pk}) {conflict}"
    sql = ""
    if plan.missing_required:  # only existing rows (checked below): update them in place
        key = plan.columns.index(plan.pk)
        arrays = [a for i, a in enumerate(arrays) if i != key] + [arrays[key]]
        consts = []
        sql = f"UPDATE {plan.name} SET {', '.join(f'{c} = ?' for c in updates) or f'{plan.pk} = {plan.pk}'} WHERE {plan.pk} = ?"
    conn.exec_driver_sql("SELECT 1")  # begins the caller's transaction if it had not begun
    raw = conn.connection.driver_connection
    _sqlite_new_rows_complete(raw, plan, frame[plan.pk].to_numpy(dtype=object))
    total = len(frame)
    dominates = not plan.indexes_suspended and _dominates(raw, plan, total)
    bulk_index = plan.geom is not None and dominates and sq.has_spatial_index(raw, plan.name, plan.geom)
    with sq.page_cache(raw, 256):
        if bulk_index:
            sq.suspend_spatial_triggers(raw, plan.name, plan.geom)
        # As on PostGIS: a load that dominates the table rebuilds its secondary indexes once
        # (CREATE INDEX sorts) instead of inserting into each per row; same transaction.
        indexes = _sqlite_suspend_indexes(raw, plan.name) if dominates else []
        try:
            for start in range(0, total, _CHUNK):
                rows = zip(*(a[start : start + _CHUNK] for a in arrays), *consts)
                if sql:  # updates of stored rows
                    raw.executemany(sql, rows)
                elif dominates or plan.indexes_suspended:
                    # no secondary index to keep: many rows a statement (executemany's per-row cost
                    # was most of the load: a 100k-customer city imported 41.9 s -> 34.9 s)
                    sq.insert_rows(raw, head, len(cols), rows, tail)
                else:  # into live indexes executemany was the faster (10M contacts: 54k vs 45k rows/s)
                    raw.executemany(f"{head} VALUES ({', '.join('?' * len(cols))}) {tail}", rows)
                if progress is not None:
                    progress(f"write {plan.name}", min(start + _CHUNK, total), total)
        except sqlite3.IntegrityError as exc:
            raise _sqlite_integrity(plan, exc) from exc
        for stmt in indexes:
            raw.execute(stmt)
        if bulk_index:
            sq.refill_spatial_index(raw, plan.name, plan.geom)
            sq.resume_spatial_triggers(raw, plan.name, plan.geom)


def bulk_insert_new(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """Insert rows the caller knows are new: their ids are not stored, and no other writer can store
    them before this transaction ends (the interaction ingest holds its lock). Returns the row count.

    :class:`NewRows` in one go (encode, stage, write); see there for what each store does.
    """
    rows = NewRows(table, frame, dialect=conn.dialect.name)
    rows.stage(conn)
    return rows.write()


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def copy_fields(values: np.ndarray) -> list[str]:
    """A column as ``COPY … FROM STDIN`` text-format fields, built column-wise: integers as digits,
    every other value converted and escaped once per distinct value (None/NaN as ``\\N``, bytes as
    ``\\x`` hex, booleans as ``t``/``f``)."""
    if values.dtype.kind in "iu":
        return list(map(str, values.tolist()))
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = list(uniques)
    if set(map(type, distinct)) <= {str} and not _COPY_SPECIAL.search("\x00".join(distinct)):
        fields = np.array(distinct + ["\\N"], dtype=object)  # plain text, the common case: nothing to escape
    else:
        fields = np.array([_copy_field(u) for u in distinct] + ["\\N"], dtype=object)
    return fields[codes].tolist()  # code -1 (missing) takes the last entry


def _copy_field(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, (bool, np.bool_)):
        return "t" if value else "f"
    return str(value).translate(_COPY_ESCAPES)


def sqlite_stage(raw: Any, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """SQLite: ``rows`` into a fresh temporary table ``name`` (untyped ``columns``, so values keep the
    types bound), for one ``INSERT … SELECT`` that a writer thread then runs without the GIL."""
    raw.execute(f"DROP TABLE IF EXISTS temp.{name}")
    raw.execute(f"CREATE TEMP TABLE {name} ({', '.join(columns)})")
    from gis.dialects.sqlite import insert_rows  # noqa: PLC0415

    insert_rows(raw, f"INSERT INTO temp.{name}", len(columns), rows)


class NewRows:
    """New rows of one table (as :func:`bulk_insert_new` takes them) written in three steps, so that
    the store's work can run in another thread while this one prepares the next batch:

    1. ``NewRows(table, frame, dialect=…)`` checks and **encodes** the rows without the connection
       (any thread): the batch's duplicate ids, the geometries' SRID (and, SQLite, the staging
       checks of :func:`bulk_upsert`); PostgreSQL: the ``COPY`` text, built column-wise (geometry
       as hex EWKB); SQLite: the value tuples.
    2. :meth:`stage` on the connection, brief: SQLite copies the tuples into a temporary table
       (``executemany`` takes the GIL for every row, so it must not compete with a busy thread);
       PostgreSQL has nothing to do. When the table keeps an R*Tree by triggers (Python functions,
       run per row) or the load dominates the table (:func:`bulk_upsert` then rebuilds its indexes
       once), SQLite writes the rows here with :func:`bulk_upsert` instead.
    3. :meth:`write`, from any thread while no other uses the connection: the store's own work,
       one statement — PostgreSQL ``COPY`` straight into the table, no staging table and no
       per-row conflict check; SQLite ``INSERT … SELECT`` from the temporary table. The driver
       releases the GIL for all of it. The database still enforces types, NOT NULL, CHECK and the
       primary key: a violation is a :class:`RejectedRow`, and the caller rolls back.

    The caller's geometries must come from checked coordinates: PostgreSQL skips the staging
    pass's geometry checks.
    """

    def __init__(self, table: str, frame: pd.DataFrame, *, dialect: str) -> None:
        plan = _plan(table, frame)
        if plan.missing_required:
            raise InvalidInput(f"new {table} rows need {plan.missing_required[0]!r}", field=plan.missing_required[0],
                               value=None)
        self.plan, self.count, self.postgres = plan, len(frame), dialect == "postgresql"
        self._frame: pd.DataFrame | None = None
        self._raw: Any = None
        self._payload: bytes = b""
        self._rows: list[tuple[Any, ...]] = []
        if not self.count:
            return
        geoms = _geometries(frame[plan.geom]) if plan.geom else None
        if self.postgres:
            _check_duplicates(plan, frame)
            fields = []
            for c in plan.columns:
                if c == plan.geom:
                    _check_srid(plan, frame, geoms)
                    hexes = shapely.to_wkb(shapely.set_srid(geoms, SRID), hex=True, include_srid=True)
                    fields.append(copy_fields(np.asarray(hexes, dtype=object)))
                else:
                    fields.append(copy_fields(_column(plan, c, frame[c], postgres=True)))
            for c in plan.defaults:
                fields.append([_copy_field(plan.defaults[c]) if plan.defaults[c] is not None else "\\N"] * self.count)
            self._payload = ("\n".join(map("\t".join, zip(*fields))) + "\n").encode()
            return
        _sqlite_check(plan, frame, geoms)
        self._frame = frame  # for the fallback in :meth:`stage`
        arrays: list[Sequence[Any]] = []
        for c in plan.columns:
            arrays.append(shapely.to_wkb(geoms).astype(object) if c == plan.geom else _column(plan, c, frame[c], postgres=False))
        self._rows = list(zip(*arrays, *(itertools.repeat(plan.defaults[c]) for c in plan.defaults)))

    @property
    def _stage_table(self) -> str:
        return f"ga_new_{self.plan.name}"

    @property
    def _columns(self) -> list[str]:
        return self.plan.columns + list(self.plan.defaults)

    def stage(self, conn: Connection) -> None:
        """Step 2 (see the class docstring), in the caller's transaction."""
        conn.exec_driver_sql("SELECT 1")  # begins the caller's transaction if it had not begun
        self._raw = conn.connection.driver_connection
        if self.postgres or not self.count:
            return
        from gis.dialects import sqlite as sq

        raw, plan = self._raw, self.plan
        if (plan.geom is not None and sq.has_spatial_index(raw, plan.name, plan.geom)) or _dominates(raw, plan, self.count):
            bulk_upsert(conn, plan.name, self._frame)  # type: ignore[arg-type]
            self.count = 0  # written
            return
        sqlite_stage(raw, self._stage_table, self._columns, self._rows)
        self._rows, self._frame = [], None

    def write(self) -> int:
        """Step 3: the rows into the table; returns how many this call wrote."""
        if not self.count:
            return 0
        if self._raw is None:
            raise RuntimeError("NewRows.write before stage")
        cols = ", ".join(self._columns)
        if self.postgres:
            import psycopg

            try:
                with self._raw.cursor() as cur, cur.copy(f"COPY {self.plan.name} ({cols}) FROM STDIN") as copy:
                    copy.write(self._payload)
            except psycopg.errors.IntegrityError as exc:
                raise _pg_rejected(self.plan.name, exc) from exc
            self._payload = b""
            return self.count
        import sqlite3

        try:
            self._raw.execute(f"INSERT INTO {self.plan.name} ({cols}) SELECT {cols} FROM temp.{self._stage_table}")
        except sqlite3.IntegrityError as exc:
            raise _sqlite_integrity(self.plan, exc) from exc
        finally:
            self._raw.execute(f"DROP TABLE IF EXISTS temp.{self._stage_table}")
        return self.count


def bulk_upsert_parts(conn: Connection, table: str, parts: Iterable[pd.DataFrame], *, rows: int,
                      progress: Progress | None = None) -> int:
    """:func:`bulk_upsert` of a table given in parts (slices of a load too large to hold at once,
    ``rows`` in all), in the caller's transaction. When the whole load dominates the table (as
    :func:`bulk_upsert` decides for one frame), the table's secondary indexes are suspended once
    before the first part and rebuilt once after the last: slice by slice, every slice after the
    third would have paid for them row by row in an ever larger table."""
    existing = conn.exec_driver_sql(f"SELECT count(*) FROM {_plan_table(table)}").scalar_one()
    if rows < _LARGE or rows * 2 < existing:
        return sum(bulk_upsert(conn, table, part, progress=progress) for part in parts)
    with _indexes_suspended(conn, table):
        return sum(bulk_upsert(conn, table, part, progress=progress, _indexes_suspended=True) for part in parts)


def _plan_table(table: str) -> str:
    """``table`` if the models know it, else InvalidInput."""
    if table not in Base.metadata.tables:
        raise InvalidInput(f"unknown table {table!r}", field="table", value=table)
    return table


@contextlib.contextmanager
def _indexes_suspended(conn: Connection, table: str) -> Iterator[None]:
    """The table's secondary indexes (and, on PostGIS, outgoing foreign keys; on SQLite, its R*Tree
    triggers) dropped for the block and rebuilt after it, in the caller's transaction (DDL: an
    exception rolls it all back with the rows)."""
    raw = conn.connection.driver_connection
    geom = next((c.name for c in Base.metadata.tables[table].columns if isinstance(c.type, Geometry)), None)
    if conn.dialect.name == "postgresql":
        import psycopg

        with raw.cursor() as cur:
            deferred = _pg_suspend(cur, table)
        yield
        with raw.cursor() as cur:
            try:
                _pg_resume(cur, table, deferred)  # the foreign keys are validated here, over every part
            except psycopg.errors.IntegrityError as exc:
                raise _pg_rejected(table, exc) from exc
            cur.execute(f"ANALYZE {table}")
        return
    from gis.dialects import sqlite as sq

    spatial = geom is not None and sq.has_spatial_index(raw, table, geom)
    with sq.page_cache(raw, 256):
        if spatial:
            sq.suspend_spatial_triggers(raw, table, geom)
        indexes = _sqlite_suspend_indexes(raw, table)
        yield
        for stmt in indexes:
            raw.execute(stmt)
        if spatial:
            sq.refill_spatial_index(raw, table, geom)
            sq.resume_spatial_triggers(raw, table, geom)


def _dominates(raw, plan: _Plan, total: int) -> bool:
    """Does a load of ``total`` rows dominate ``plan``'s table (≥ _LARGE rows, ≥ half the table)?
    Counts at most 2 × ``total`` + 1 stored rows: a small load into a large table need not count it."""
    if total < _LARGE:
        return False
    existing = raw.execute(f"SELECT count(*) FROM (SELECT 1 FROM {plan.name} LIMIT {2 * int(total) + 1})").fetchone()[0]
    return total * 2 >= existing


def _sqlite_suspend_indexes(raw, table: str) -> list[str]:
    """Drop ``table``'s explicit non-unique indexes; returns their CREATE statements."""
    rows = raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL "
        "AND sql NOT LIKE 'CREATE UNIQUE%'",
        (table,),
    ).fetchall()
    for name, _ in rows:
        raw.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def _sqlite_integrity(plan: _Plan, exc: Exception) -> RejectedRow:
    msg = str(exc)
    m = re.search(r"constraint failed: (?:\w+\.)?(\w+)", msg)
    field = m.group(1) if m else plan.name
    return RejectedRow(plan.name, None, field, None, msg)

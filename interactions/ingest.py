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
is the store's own (the row into a table with six B-trees, three rollup upserts per contact);
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
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import shapely
from sqlalchemy.engine import Connection, Engine

from gis.bulk import bulk_insert_new, bulk_upsert
from gis.dialects.sqlite import page_cache
from gis.errors import InvalidInput
from gis.interaction_rollups import (
    apply_deltas,
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
_CHUNK = 100_000
#: SQLite page cache (MiB) while an ingest writes (see :func:`_page_cache`).
_SQLITE_CACHE_MIB = 256


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
        pts = shapely.from_wkb(frame["lon"].to_numpy(object))
        frame["lon"], frame["lat"] = shapely.get_x(pts), shapely.get_y(pts)
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
                        progress: Callable[[str, int, int], None] | None = None) -> IngestResult:
    """Check, match, place and write ``records`` in the caller's transaction (see the module docstring).

    ``rows``: the row number of each record in its source, for the rejects (default 1, 2, …).
    Rejected records are left out; the others are written in batches of 100,000 (each batch's
    rollup deltas summed in memory and upserted once). ``progress(stage, done, total)`` is
    called as the checks and the batches advance. Returns the counts and the rejects.
    """
    records = records if isinstance(records, list) else list(records)
    numbers = list(rows) if rows is not None else list(range(1, len(records) + 1))
    result = IngestResult(received=len(records))
    checked = check_records(records, numbers, service_area)
    result.rejects += checked.problems
    clean = checked.frame
    if progress is not None:
        progress("check interactions", len(records), len(records))
    if not len(clean):
        return result
    _serialize(conn)
    feeders = transformer_feeders(conn)
    with _page_cache(conn):
        for start in range(0, len(clean), _CHUNK):
            _write_chunk(conn, clean.iloc[start:start + _CHUNK].reset_index(drop=True), feeders, result, screeners)
            if progress is not None:
                progress("write interactions", min(start + _CHUNK, len(clean)), len(clean))
    return result


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


def _write_chunk(conn: Connection, new: pd.DataFrame, feeders: Mapping[str, str], result: IngestResult,
                 screeners: Sequence[Screener]) -> None:
    old = _stored(conn, new["id"].tolist())
    if len(old):
        was = old.set_index("id").reindex(new["id"])
        same = was["channel"].notna().to_numpy().copy()  # stored under this id (channel is required)
        for name in _COMPARED:
            same &= _same_column(name, new[name], was[name])
        result.unchanged += int(same.sum())
        new = new[~same].reset_index(drop=True)
        old = old[old["id"].isin(set(new["id"]))]
    if not len(new):
        return
    candidates = caller_candidates(conn, new["caller_account_no"].dropna(), new["caller_phone"].dropna(),
                                   new["wechat_openid"].dropna())
    matched, how = match_callers(new["caller_account_no"].to_numpy(object), new["caller_phone"].to_numpy(object),
                                 new["wechat_openid"].to_numpy(object), candidates)
    placed = place(matched, new["lon"].to_numpy(float, na_value=np.nan), new["lat"].to_numpy(float, na_value=np.nan),
                   candidates, feeders)
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
    bulk_insert_new(conn, "interactions", frame[fresh])  # not stored, and cannot be before commit (_serialize)
    if not fresh.all():
        bulk_upsert(conn, "interactions", frame[~fresh])
    plus = rollup_deltas(frame, +1)
    counted = old[old["day"].notna()]  # rows stored before placement existed were never counted
    if len(counted):
        minus = rollup_deltas(counted, -1)
        apply_deltas(conn, [plus[0], minus[0]], [plus[1], minus[1]])
    else:
        apply_deltas(conn, [plus[0]], [plus[1]])
    result.updated += len(old)
    result.inserted += len(frame) - len(old)
    for k, n in pd.Series(how).value_counts().items():
        result.matched[str(k)] = result.matched.get(str(k), 0) + int(n)
    if screeners:
        written = _screened_rows(frame)
        for screener in screeners:
            screener.screen(conn, written)


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
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        return ingest_interactions(conn, records, service_area=service_area, rows=rows, screeners=screeners,
                                   progress=progress)


def ingest_all_or_nothing(engine: Engine, records: Iterable[Mapping[str, Any]], *, service_area: BBox,
                          screeners: Sequence[Screener] = ()) -> IngestResult:
    """Every record stored, or none: raises :class:`InteractionsRejected` (listing every bad record)
    when any is bad. What the JSON API does: a client resends a corrected batch whole."""
    records = list(records)
    problems = check_records(records, list(range(1, len(records) + 1)), service_area).problems
    if problems:
        raise InteractionsRejected(problems)
    return ingest(engine, records, service_area=service_area, screeners=screeners)

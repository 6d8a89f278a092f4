"""Ingest of interactions (客户交互) from every channel: check, match, place, write, count — atomically.

:func:`ingest_interactions` takes records (mappings with ``id, account_no, channel, kind,
occurred_at, text, caller_phone, wechat_openid, lon, lat``; strings, numbers or datetimes) and,
in the caller's transaction:

1. checks every record (unknown channel or kind, a time that is not ISO 8601, coordinates
   that are not lon/lat or lie outside the service area, an id given twice) and rejects bad
   ones with a :class:`gis.validation.Problem` naming row, id, field, value and reason;
2. matches the caller to a customer by account number, else caller phone, else WeChat openid
   (:func:`gis.interaction_rollups.match_callers`; ambiguous or unknown callers stay
   unmatched and keep their own coordinates) and places it (H3 cell, local day, 台区, feeder);
3. compares with what is stored under the same id: an identical record is left alone
   (idempotent), a changed one is updated and its old counts are moved;
4. writes the new and changed rows, adds their counts to the rollups
   (:func:`gis.interaction_rollups.apply_deltas`), and hands them to the **screeners**.

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
import datetime as dt
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import shapely
from sqlalchemy.engine import Connection, Engine

from gis.bulk import bulk_upsert
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
from gis.models import CHANNELS, INTERACTION_KINDS
from gis.search.normalize import normalize_phone
from gis.validation import BBox, Problem

__all__ = ["Screener", "IngestResult", "InteractionsRejected", "ingest_interactions", "ingest", "ingest_all_or_nothing",
           "FIELDS", "CHANNEL_ALIASES"]

#: The record fields an ingest reads (the sample's ``interactions.csv`` columns plus the openid).
FIELDS = ("id", "account_no", "channel", "kind", "occurred_at", "text", "caller_phone", "wechat_openid", "lon", "lat")
#: Channel names used by the channels' own systems → GridAtlas channel.
CHANNEL_ALIASES = {"95598": "95598电话", "95598热线": "95598电话", "电话": "95598电话", "掌厅": "掌上电力",
                   "网厅": "网上国网", "微信公众号": "微信"}
#: Local time of a time written without an offset (an Excel cell has none): China Standard Time.
_CST = dt.timezone(dt.timedelta(hours=8))
_COMPARED = ("caller_account_no", "channel", "kind", "occurred_at", "text", "caller_phone", "wechat_openid", "lon", "lat")
_CHUNK = 100_000
#: SQLite page cache (KiB) while an ingest writes (see :func:`_page_cache`).
_SQLITE_CACHE_KIB = 262_144


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


# ------------------------------------------------------------------------------- checks
def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _text(v: object, limit: int | None = None) -> str | None:
    if type(v) is str:  # the common case, first
        s = v.strip()
        return (s[:limit] if limit else s) or None
    if _blank(v):
        return None
    s = str(v).strip()
    if isinstance(v, float) and v.is_integer():  # a number cell read from a spreadsheet
        s = str(int(v))
    return s[:limit] if limit else s


def _time(v: object) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        t = v
    else:
        s = str(v).strip().replace("/", "-")
        try:
            t = dt.datetime.fromisoformat(s)
        except ValueError:
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_CST)
    return t.astimezone(dt.timezone.utc)


def _number(v: object) -> float | None | str:
    if _blank(v):
        return None
    try:
        x = float(str(v).strip())
    except ValueError:
        return "bad"
    return x if math.isfinite(x) else "bad"


def _check(record: Mapping[str, Any], row: int, area: BBox, seen: set[str]) -> tuple[dict[str, Any] | None, list[Problem]]:
    """One record → (clean row or None, problems)."""
    t = "interactions"
    rid = _text(record.get("id"))
    problems: list[Problem] = []

    def bad(field_: str, value: object, reason: str) -> None:
        problems.append(Problem(t, row, rid, field_, None if _blank(value) else value, reason))

    if rid is None:
        bad("id", record.get("id"), "required")
    elif len(rid) > 64:
        bad("id", rid, "longer than 64 characters")
    elif rid in seen:
        bad("id", rid, "given twice in this input (the first one is kept)")
    channel = _text(record.get("channel"))
    channel = CHANNEL_ALIASES.get(channel, channel) if channel else None
    if channel not in CHANNELS:
        bad("channel", record.get("channel"), "required" if channel is None else "must be one of " + "/".join(CHANNELS))
    kind = _text(record.get("kind"))
    if kind not in INTERACTION_KINDS:
        bad("kind", record.get("kind"), "required" if kind is None else "must be one of " + "/".join(INTERACTION_KINDS))
    when = None
    if _blank(record.get("occurred_at")):
        bad("occurred_at", None, "required")
    else:
        when = _time(record.get("occurred_at"))
        if when is None:
            bad("occurred_at", record.get("occurred_at"), "not an ISO 8601 time, e.g. 2026-03-01T09:30:00+08:00")
    lon, lat = _number(record.get("lon")), _number(record.get("lat"))
    for name, v in (("lon", lon), ("lat", lat)):
        if v == "bad":
            bad(name, record.get(name), "not a number")
    if lon != "bad" and lat != "bad":
        if (lon is None) != (lat is None):
            bad("lon,lat", f"{record.get('lon')},{record.get('lat')}", "give both lon and lat, or neither")
        elif lon is not None:
            minx, miny, maxx, maxy = area
            coord = f"{lon},{lat}"
            if minx <= lat <= maxx and miny <= lon <= maxy and not (minx <= lon <= maxx and miny <= lat <= maxy):
                bad("lon,lat", coord, "lon/lat look swapped (lat,lon given)")
            elif abs(lon) > 180 or abs(lat) > 90:
                bad("lon,lat", coord, "not a WGS 84 lon,lat coordinate")
            elif not (minx <= lon <= maxx and miny <= lat <= maxy):
                bad("lon,lat", coord, f"outside the service area {minx},{miny},{maxx},{maxy}")
    account = _text(record.get("account_no"))
    if account is not None and len(account) > 32:
        bad("account_no", account, "longer than 32 characters")
    openid = _text(record.get("wechat_openid"))
    if openid is not None and len(openid) > 64:
        bad("wechat_openid", openid, "longer than 64 characters")
    phone_raw = _text(record.get("caller_phone"))
    phone = normalize_phone(phone_raw) if phone_raw else None
    if phone_raw and (phone is None or len(phone) > 32):
        bad("caller_phone", phone_raw, "not a phone number")
    if rid is not None and not any(p.field == "id" for p in problems):
        seen.add(rid)
    if problems:
        return None, problems
    return {"id": rid, "caller_account_no": account, "channel": channel, "kind": kind, "occurred_at": when,
            "text": _text(record.get("text")), "caller_phone": phone, "wechat_openid": openid,
            "lon": lon, "lat": lat}, []


# ------------------------------------------------------------------------------- checks, vectorized
_CHANNEL_OF = {**{c: c for c in CHANNELS}, **CHANNEL_ALIASES}
_KINDS = frozenset(INTERACTION_KINDS)


def _texts(values: Sequence[object]) -> list[str | None]:
    """:func:`_text` of every value (strings, the common case, inline)."""
    return [(v.strip() or None) if type(v) is str else (None if v is None else _text(v)) for v in values]


def _numbers(values: Sequence[object]) -> list[float | None | str]:
    """:func:`_number` of every value (None and finite floats, the common cases, inline)."""
    return [None if v is None else (v if type(v) is float and math.isfinite(v) else _number(v)) for v in values]


def _floats(values: list[float | None | str]) -> np.ndarray:
    return np.array([v if type(v) is float else np.nan for v in values], dtype=float)


@dataclass
class Checked:
    """The outcome of :func:`check_records`: the good records as columns, and the problems of the others.

    ``frame`` holds one row per good record, in input order, with the columns ``id,
    caller_account_no, channel, kind, occurred_at`` (tz-aware UTC), ``text, caller_phone``
    (normalized), ``wechat_openid, lon, lat`` (float, NaN when not given).
    """

    frame: pd.DataFrame
    problems: list[Problem]


def check_records(records: Sequence[Mapping[str, Any]], rows: Sequence[int], area: BBox) -> Checked:
    """Check every record in one pass per field (the same rules and reasons as a record-by-record
    check, which is what reports the problems of the few bad records).

    One column at a time: the values are cleaned by the same helpers as :func:`_check` (in list
    comprehensions, no per-record function frame), the rules are numpy masks; the records that
    fail any rule are then checked one by one by :func:`_check`, which names every problem
    (row, id, field, value, reason) exactly as before. A record's id given again is a problem of
    the later record only (the first one is kept, even when it is bad for another reason).
    """
    n = len(records)
    get = {f: [r.get(f) for r in records] for f in FIELDS}
    ids = _texts(get["id"])
    id_ok = np.fromiter((i is not None and len(i) <= 64 for i in ids), dtype=bool, count=n)
    id_col = np.array(ids, dtype=object)
    id_col[~id_ok] = None
    dup = pd.Series(id_col, dtype=object).duplicated(keep="first").to_numpy() & id_ok
    channels = [_CHANNEL_OF.get(c) if c is not None else None for c in _texts(get["channel"])]
    kinds = _texts(get["kind"])
    times = [None if _blank(v) else _time(v) for v in get["occurred_at"]]
    lons, lats = _numbers(get["lon"]), _numbers(get["lat"])
    accounts, openids, phones_raw = _texts(get["account_no"]), _texts(get["wechat_openid"]), _texts(get["caller_phone"])
    phones = [normalize_phone(p) if p else None for p in phones_raw]
    lon, lat = _floats(lons), _floats(lats)
    not_number = np.fromiter((x == "bad" or y == "bad" for x, y in zip(lons, lats)), dtype=bool, count=n)
    has_lon, has_lat = ~np.isnan(lon), ~np.isnan(lat)
    minx, miny, maxx, maxy = area
    with np.errstate(invalid="ignore"):
        inside = (minx <= lon) & (lon <= maxx) & (miny <= lat) & (lat <= maxy)
    bad = ~id_ok | dup | not_number | (has_lon != has_lat) | (has_lon & has_lat & ~inside)
    bad |= np.fromiter((c is None for c in channels), dtype=bool, count=n)
    bad |= np.fromiter((k not in _KINDS for k in kinds), dtype=bool, count=n)
    bad |= np.fromiter((t is None for t in times), dtype=bool, count=n)
    bad |= np.fromiter((a is not None and len(a) > 32 for a in accounts), dtype=bool, count=n)
    bad |= np.fromiter((o is not None and len(o) > 64 for o in openids), dtype=bool, count=n)
    bad |= np.fromiter((r is not None and (p is None or len(p) > 32) for r, p in zip(phones_raw, phones)), dtype=bool, count=n)
    problems: list[Problem] = []
    for i in np.flatnonzero(bad).tolist():
        found = _check(records[i], rows[i], area, {ids[i]} if dup[i] else set())[1]
        if found:
            problems += found
        else:  # pragma: no cover - the masks above are the record check's rules; kept safe regardless
            bad[i] = False
    good = ~bad
    seconds = np.array([t.timestamp() if t is not None else np.nan for t in times], dtype=float)[good]
    frame = pd.DataFrame({
        "id": id_col[good],
        "caller_account_no": np.array(accounts, dtype=object)[good],
        "channel": np.array(channels, dtype=object)[good],
        "kind": np.array(kinds, dtype=object)[good],
        "occurred_at": pd.to_datetime(np.round(seconds * 1e6).astype(np.int64), unit="us", utc=True),
        "text": np.array(_texts(get["text"]), dtype=object)[good],
        "caller_phone": np.array(phones, dtype=object)[good],
        "wechat_openid": np.array(openids, dtype=object)[good],
        "lon": lon[good], "lat": lat[good],
    })
    return Checked(frame, problems)


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
    feeders = transformer_feeders(conn)
    with _page_cache(conn):
        for start in range(0, len(clean), _CHUNK):
            _write_chunk(conn, clean.iloc[start:start + _CHUNK].reset_index(drop=True), feeders, result, screeners)
            if progress is not None:
                progress("write interactions", min(start + _CHUNK, len(clean)), len(clean))
    return result


@contextlib.contextmanager
def _page_cache(conn: Connection) -> Iterator[None]:
    """SQLite: 256 MiB of page cache while a batch is written (the default 2 MB made every rollup
    upsert a read of its B-tree pages from the OS), the connection's own setting restored after."""
    if conn.dialect.name != "sqlite" or not _SQLITE_CACHE_KIB:
        yield
        return
    conn.exec_driver_sql("SELECT 1")
    raw = conn.connection.driver_connection
    before = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


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
    bulk_upsert(conn, "interactions", frame)
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
            columns.append([None if _blank(v) else int(v) for v in frame[name].to_numpy(object)])
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

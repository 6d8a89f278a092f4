"""Outage records (停电记录) in the store: one row per interrupted customer of an outage.

Rows are keyed by (outage_id, account_no): recording the same interruption again is a no-op,
and a row that names a recorded interruption with other values (kind, start, end) is refused
rather than overwriting what was recorded. Times are stored in UTC and returned aware.

Reads: outages grouped by id (list / one with its customers), the interruptions of a period
as arrays for the reliability indices (epoch seconds: no per-row datetime objects), and the
per-customer interruption counts since a time for the screening rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, insert, select
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput, NotFound
from gis.models import OUTAGE_KINDS, OutageRecord

__all__ = [
    "InterruptionRow", "InsertResult", "insert_interruptions", "existing_interruptions", "list_outages",
    "get_outage", "read_interruptions", "record_totals", "read_records_after", "interruption_counts", "known_accounts",
    "outage_kinds",
]

_T = OutageRecord.__table__
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class InterruptionRow:
    """One interrupted customer of one outage (times aware)."""

    outage_id: str
    account_no: str
    kind: str
    start: dt.datetime
    end: dt.datetime
    plan_id: int | None = None


@dataclass(frozen=True, slots=True)
class InsertResult:
    inserted: int
    unchanged: int


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def existing_interruptions(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, dt.datetime, dt.datetime]]:
    """(outage_id, account_no) -> (kind, start, end) of the keys already recorded."""
    out: dict[tuple[str, str], tuple[str, dt.datetime, dt.datetime]] = {}
    by_outage: dict[str, list[str]] = {}
    for outage_id, account in keys:
        by_outage.setdefault(outage_id, []).append(account)
    for outage_id, accounts in by_outage.items():
        for part in _chunks(accounts):
            q = (select(_T.c.account_no, _T.c.kind, _T.c.start_at, _T.c.end_at)
                 .where(_T.c.outage_id == outage_id, _T.c.account_no.in_(list(part))))
            for account, kind, start, end in conn.execute(q):
                out[(outage_id, account)] = (kind, _utc(start), _utc(end))
    return out


def outage_kinds(conn: Connection, outage_ids: Iterable[str]) -> dict[str, str]:
    """The recorded kind of each outage id that has records."""
    ids = sorted(set(outage_ids))
    out: dict[str, str] = {}
    for part in _chunks(ids):
        q = select(_T.c.outage_id, func.min(_T.c.kind)).where(_T.c.outage_id.in_(list(part))).group_by(_T.c.outage_id)
        out.update({str(o): str(k) for o, k in conn.execute(q)})
    return out


def known_accounts(conn: Connection, accounts: Iterable[str]) -> set[str]:
    """The accounts among ``accounts`` that the customers table holds."""
    customers = OutageRecord.metadata.tables["customers"]
    wanted = sorted(set(accounts))
    found: set[str] = set()
    for part in _chunks(wanted):
        found.update(r[0] for r in conn.execute(select(customers.c.account_no)
                                                .where(customers.c.account_no.in_(list(part)))))
    return found


def insert_interruptions(conn: Connection, rows: Sequence[InterruptionRow], *, source: str) -> InsertResult:
    """Insert ``rows`` in ``conn``'s transaction; rows already recorded identically are skipped.

    A row whose (outage_id, account_no) is recorded with another kind, start or end raises
    :class:`InvalidInput` naming it (callers that report rejects check first with
    :func:`existing_interruptions`).
    """
    for r in rows:
        if r.kind not in OUTAGE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(OUTAGE_KINDS)}", field="kind", value=r.kind)
        if r.start.tzinfo is None or r.end.tzinfo is None:
            raise InvalidInput("outage times need a time zone", field="start", value=r.start.isoformat())
        if r.end < r.start:
            raise InvalidInput("end must not be before start", field="end", value=r.end.isoformat())
    seen = existing_interruptions(conn, [(r.outage_id, r.account_no) for r in rows])
    now = dt.datetime.now(dt.timezone.utc)
    new, unchanged, keys = [], 0, set()
    for r in rows:
        key = (r.outage_id, r.account_no)
        if key in keys:
            continue
        keys.add(key)
        values = (r.kind, _utc(r.start), _utc(r.end))
        if key in seen:
            if seen[key] != values:
                kind, start, end = seen[key]
                raise InvalidInput(f"outage {r.outage_id} already records customer {r.account_no} as {kind} "
                                   f"{start.isoformat()} – {end.isoformat()}; a record is not changed",
                                   field="outage_id", value=r.outage_id)
            unchanged += 1
            continue
        new.append({"outage_id": r.outage_id, "account_no": r.account_no, "kind": r.kind, "start_at": values[1],
                    "end_at": values[2], "plan_id": r.plan_id, "source": source, "recorded_at": now})
    for part in _chunks(new, 5000):
        conn.execute(insert(_T), list(part))
    return InsertResult(inserted=len(new), unchanged=unchanged)


def _outage_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"outage_id": row["outage_id"], "kind": row["kind"], "start": _utc(row["start"]).isoformat(),
            "end": _utc(row["end"]).isoformat(), "customers": int(row["customers"]),
            "plan_id": row["plan_id"]}


def _grouped():
    return (select(_T.c.outage_id, func.min(_T.c.kind).label("kind"), func.min(_T.c.start_at).label("start"),
                   func.max(_T.c.end_at).label("end"), func.count().label("customers"),
                   func.max(_T.c.plan_id).label("plan_id"))
            .group_by(_T.c.outage_id))


def list_outages(conn: Connection, *, start_from: dt.datetime | None = None, start_to: dt.datetime | None = None,
                 kind: str | None = None, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Outages (grouped by id) that started in ``[start_from, start_to)``, newest first; and their total."""
    q = _grouped()
    having = []
    if start_from is not None:
        having.append(func.min(_T.c.start_at) >= _utc(start_from))
    if start_to is not None:
        having.append(func.min(_T.c.start_at) < _utc(start_to))
    if kind is not None:
        q = q.where(_T.c.kind == kind)
    if having:
        q = q.having(and_(*having))
    sub = q.subquery()
    total = conn.execute(select(func.count()).select_from(sub)).scalar_one()
    rows = conn.execute(select(sub).order_by(sub.c.start.desc(), sub.c.outage_id).limit(limit).offset(offset))
    return [_outage_json(r._mapping) for r in rows], int(total)


def get_outage(conn: Connection, outage_id: str, *, limit: int, offset: int) -> dict[str, Any]:
    """One outage with a page of its interrupted customers (account, start, end)."""
    row = conn.execute(_grouped().where(_T.c.outage_id == outage_id)).first()
    if row is None:
        raise NotFound(f"no outage {outage_id!r}", field="outage_id", value=outage_id)
    out = _outage_json(row._mapping)
    q = (select(_T.c.account_no, _T.c.start_at, _T.c.end_at).where(_T.c.outage_id == outage_id)
         .order_by(_T.c.account_no).limit(limit).offset(offset))
    out["interruptions"] = [{"account_no": a, "start": _utc(s).isoformat(), "end": _utc(e).isoformat()}
                            for a, s, e in conn.execute(q)]
    return out


def _epoch(conn: Connection, column):
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", column)
    # SQLite keeps the UTC wall time as text "YYYY-MM-DD HH:MM:SS[.ffffff]"
    return func.julianday(column) * 86400.0 - 210866760000.0


def read_interruptions(conn: Connection, start_from: dt.datetime, start_to: dt.datetime) -> pd.DataFrame:
    """Interruptions that started in ``[start_from, start_to)``: columns account_no, kind,
    start_s, end_s (UTC epoch seconds, float64). One query; rows go straight into numpy arrays."""
    q = (select(_T.c.account_no, _T.c.kind, _epoch(conn, _T.c.start_at).label("s"), _epoch(conn, _T.c.end_at).label("e"))
         .where(_T.c.start_at >= _utc(start_from), _T.c.start_at < _utc(start_to)))
    rows = conn.execute(q).fetchall()
    n = len(rows)
    account = np.empty(n, dtype=object)
    kind = np.empty(n, dtype=object)
    if n:
        cols = list(zip(*rows))
        account[:], kind[:] = cols[0], cols[1]
        start, end = np.asarray(cols[2], dtype=np.float64), np.asarray(cols[3], dtype=np.float64)
    else:
        start = end = np.array([], dtype=np.float64)
    # julianday arithmetic on SQLite leaves sub-millisecond noise: round to the millisecond
    return pd.DataFrame({"account_no": account, "kind": kind, "start_s": np.round(start, 3), "end_s": np.round(end, 3)})


def record_totals(conn: Connection) -> tuple[int | None, int]:
    """``(count, max id)`` of the outage records (0 when there are none).

    On SQLite the count is None: its one writer commits ids in increasing order, so the highest
    id alone tells whether anything is new. PostgreSQL's sequences hand out ids to concurrent
    transactions that may commit out of order, so there the count is what proves none was missed.
    """
    if conn.dialect.name == "sqlite":
        return None, int(conn.execute(select(func.max(_T.c.id))).scalar_one() or 0)
    n, m = conn.execute(select(func.count(), func.max(_T.c.id)).select_from(_T)).one()
    return int(n), int(m or 0)


def read_records_after(conn: Connection, after_id: int) -> dict[str, np.ndarray]:
    """Records with ``id > after_id`` in id order, as arrays: id, account_no (object), planned
    (bool), start_s, end_s (epoch seconds). Records are never changed or deleted, so a reader
    that has every record up to some id needs only what came after it.

    Read with the driver's own cursor (millions of rows: no per-row result objects).
    """
    q = (select(_T.c.id, _T.c.account_no, (_T.c.kind == "planned").label("p"), _epoch(conn, _T.c.start_at),
                _epoch(conn, _T.c.end_at))
         .where(_T.c.id > int(after_id)).order_by(_T.c.id))
    sql = str(q.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    n = len(rows)
    if not n:
        return {"id": np.array([], dtype=np.int64), "account_no": np.array([], dtype=object),
                "planned": np.array([], dtype=bool), "start_s": np.array([], dtype=np.float64),
                "end_s": np.array([], dtype=np.float64)}
    ids, account, planned, start, end = zip(*rows)
    accounts = np.empty(n, dtype=object)
    accounts[:] = account
    # julianday arithmetic on SQLite leaves sub-millisecond noise: round to the millisecond
    return {"id": np.fromiter(ids, dtype=np.int64, count=n), "account_no": accounts,
            "planned": np.fromiter(planned, dtype=bool, count=n),
            "start_s": np.round(np.fromiter(start, dtype=np.float64, count=n), 3),
            "end_s": np.round(np.fromiter(end, dtype=np.float64, count=n), 3)}


def interruption_counts(conn: Connection, accounts: Sequence[str], since: dt.datetime,
                        until: dt.datetime | None = None) -> dict[str, int]:
    """Per account, the distinct outages that interrupted it with a start in ``[since, until)``."""
    out: dict[str, int] = {}
    for part in _chunks(sorted(set(accounts))):
        cond = [_T.c.account_no.in_(list(part)), _T.c.start_at >= _utc(since)]
        if until is not None:
            cond.append(_T.c.start_at < _utc(until))
        q = select(_T.c.account_no, func.count(func.distinct(_T.c.outage_id))).where(*cond).group_by(_T.c.account_no)
        out.update({str(a): int(n) for a, n in conn.execute(q)})
    return out


"""Data-quality figures of the customer records (issue 18): who was verified within a period, where.

A customer counts as *verified within the period* when the record's verification date
(``customers.contact_verified_at``, 核实日期; a confirmation at any touchpoint sets it) is on
or after ``since``. Figures per 台区 (the customer's transformer) or per feeder (the
transformer's), worst share first; and the stalest records (never verified first, then the
oldest date). Account numbers and ids only: no personal data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput

__all__ = ["verification_by_area", "verification_totals", "stalest_records", "GROUPS"]

GROUPS = ("transformer", "feeder")
_AREA = {"transformer": "c.transformer_id", "feeder": "t.feeder_id"}
_JOIN = "FROM customers c LEFT JOIN transformers t ON t.id = c.transformer_id"


def _group(group_by: str) -> str:
    if group_by not in GROUPS:
        raise InvalidInput(f"group_by must be one of {', '.join(GROUPS)}", field="group_by", value=group_by)
    return _AREA[group_by]


def verification_totals(conn: Connection, *, since: dt.date) -> dict[str, Any]:
    """All customers: count, verified within the period, never verified."""
    row = conn.execute(text(
        "SELECT count(*), sum(CASE WHEN contact_verified_at >= :since THEN 1 ELSE 0 END), "
        "sum(CASE WHEN contact_verified_at IS NULL THEN 1 ELSE 0 END) FROM customers"), {"since": since}).one()
    total, verified, never = int(row[0]), int(row[1] or 0), int(row[2] or 0)
    return {"customers": total, "verified": verified, "never_verified": never,
            "share": round(verified / total, 4) if total else None}


def verification_by_area(conn: Connection, *, group_by: str, since: dt.date, limit: int,
                         offset: int = 0) -> list[dict[str, Any]]:
    """Per area (``transformer`` or ``feeder``; null: customers without one): customers, verified
    within the period, never verified and the share verified; lowest share first, then id."""
    area = _group(group_by)
    sql = (f"SELECT {area} AS area, count(*) AS n, "
           "sum(CASE WHEN c.contact_verified_at >= :since THEN 1 ELSE 0 END) AS v, "
           "sum(CASE WHEN c.contact_verified_at IS NULL THEN 1 ELSE 0 END) AS never, "
           "min(c.contact_verified_at) AS oldest "
           f"{_JOIN} GROUP BY {area} "
           "ORDER BY CAST(sum(CASE WHEN c.contact_verified_at >= :since THEN 1 ELSE 0 END) AS FLOAT) / count(*), "
           f"{area} IS NULL, {area} LIMIT :n OFFSET :o")
    out = []
    for a, n, v, never, oldest in conn.execute(text(sql), {"since": since, "n": limit, "o": offset}):
        out.append({"id": a, "customers": int(n), "verified": int(v or 0), "never_verified": int(never or 0),
                    "share": round(int(v or 0) / int(n), 4),
                    "oldest_verification": oldest.isoformat() if isinstance(oldest, dt.date) else oldest})
    return out


def stalest_records(conn: Connection, *, limit: int, offset: int = 0, transformer_id: str | None = None,
                    feeder_id: str | None = None) -> list[dict[str, Any]]:
    """The customers verified longest ago (never verified first), optionally within one 台区 or feeder."""
    where, params = [], {"n": limit, "o": offset}
    if transformer_id is not None:
        where.append("c.transformer_id = :tr")
        params["tr"] = transformer_id
    if feeder_id is not None:
        where.append("t.feeder_id = :fd")
        params["fd"] = feeder_id
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    sql = (f"SELECT c.account_no, c.contact_verified_at, c.category, c.transformer_id, t.feeder_id {_JOIN} {clause}"
           "ORDER BY c.contact_verified_at IS NOT NULL, c.contact_verified_at, c.account_no LIMIT :n OFFSET :o")
    out = []
    for acct, verified, category, tr, fd in conn.execute(text(sql), params):
        if isinstance(verified, str):  # SQLite through a plain text() query
            verified = dt.date.fromisoformat(verified)
        out.append({"account_no": acct, "contact_verified_at": verified.isoformat() if verified else None,
                    "category": category, "transformer_id": tr, "feeder_id": fd})
    return out

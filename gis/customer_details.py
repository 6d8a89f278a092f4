"""Customers' contact details (name, address, phones) read by account number, a chunk at a time.

The compiled topology holds no personal data (it serves every role from one copy); lists
that need names and addresses — impact exports — read them here for one chunk of accounts
at a time, so a 100k-row export never holds the whole customer table in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from gis.models import Customer

__all__ = ["DETAIL_COLUMNS", "read_customer_details"]

#: columns returned per customer (account_no is the key).
DETAIL_COLUMNS: tuple[str, ...] = ("name", "address", "phone", "meter_box_id")

_T = Customer.__table__
_CHUNK = 900  # below SQLite's classic 999 bound-parameter limit


def read_customer_details(conn: Connection, account_nos: Sequence[str]) -> dict[str, dict[str, Any]]:
    """account_no -> {name, address, phone, meter_box_id} for the given accounts (missing ones left out)."""
    out: dict[str, dict[str, Any]] = {}
    cols = [_T.c[c] for c in DETAIL_COLUMNS]
    for start in range(0, len(account_nos), _CHUNK):
        chunk = list(account_nos[start:start + _CHUNK])
        for row in conn.execute(select(_T.c.account_no, *cols).where(_T.c.account_no.in_(chunk))):
            m = row._mapping
            out[m["account_no"]] = {c: m[c] for c in DETAIL_COLUMNS}
    return out

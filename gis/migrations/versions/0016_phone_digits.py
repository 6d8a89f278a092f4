"""Phones stored by earlier ``import city`` runs in the form every path stores (national digits)

Revision ID: 0016_phone_digits
Revises: 0015_heat_perf

Before issue 17, ``gridatlas import city`` stored ``customers.phone`` / ``phone_alt`` as the file
wrote them (``+86 135-2613-8187``, ``（0757）8123 4567``) while every other path stored the
national digits of :mod:`gis.phones`. Caller matching compares stored phones exactly, so such a
customer was not recognised when calling. This revision parses every stored phone with
:func:`gis.phones.parse_phones` (the one parser) and writes the parsed form where it differs,
then rebuilds the search rows (``customer_search`` / ``customer_keys``, and SQLite's FTS mirror)
of the customers whose search keys that changes, in the migration's transaction, and records a data version so that
running processes rebuild their in-memory indexes (caller index, data quality).

A value the parser refuses is left exactly as it is (no value is lost); the log says how many
(logger ``alembic.runtime.migration``, level WARNING) so they can be corrected at a touchpoint.

Speed (1M customers): values that already are a plain 11-digit mobile ``1[3-9]xxxxxxxxx`` cannot
change (either valid, then stored so, or refused, then kept), so the database leaves them out
(``GLOB`` / ``~``); the rest is parsed vectorized (:func:`gis.phones.parse_phones`) and only the
changed rows are written (executemany on SQLite, COPY + ``UPDATE … FROM`` on PostgreSQL); the
search rows are rebuilt only for customers whose phone search keys change (most formatted numbers
already gave the digits' keys: the search folds separators away), not for all rewritten ones.
Downgrade does nothing: the digits are what every later path writes anyway.
"""

from __future__ import annotations

import logging

import numpy as np
from alembic import op
from sqlalchemy import func, insert
from sqlalchemy.engine import Connection

from gis.dialects.sqlite import page_cache

revision = "0016_phone_digits"
down_revision = "0015_heat_perf"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

_SQLITE_PLAIN = "'1[3-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'"
_PG_PLAIN = "'^1[3-9][0-9]{9}$'"


def _candidates(conn: Connection) -> list[tuple[str, str | None, str | None]]:
    """(account_no, phone, phone_alt) of customers with a phone that is not a plain mobile already."""
    if conn.dialect.name == "sqlite":
        plain = lambda c: f"{c} GLOB {_SQLITE_PLAIN}"  # noqa: E731
    else:
        plain = lambda c: f"{c} ~ {_PG_PLAIN}"  # noqa: E731
    sql = ("SELECT account_no, phone, phone_alt FROM customers WHERE "
           f"(phone IS NOT NULL AND NOT {plain('phone')}) OR (phone_alt IS NOT NULL AND NOT {plain('phone_alt')})")
    return [tuple(r) for r in conn.exec_driver_sql(sql)]


def normalize_stored_phones(conn: Connection) -> tuple[list[tuple[str, tuple, tuple]], int]:
    """Write the parsed form of every stored phone that differs from it; returns the changes
    ``(account, (phone, phone_alt) before, after)`` and how many refused values were kept as they
    are. The search rows are not touched here."""
    from gis.phones import parse_phones  # noqa: PLC0415 - the one parser

    rows = _candidates(conn)
    if not rows:
        return [], 0
    accounts = np.array([r[0] for r in rows], dtype=object)
    new_cols, changed = [], np.zeros(len(rows), dtype=bool)
    refused = 0
    for k in (1, 2):
        raw = np.array([r[k] for r in rows], dtype=object)
        parsed, errors = parse_phones(raw)
        refused += len(errors)
        out = raw.copy()
        ok = np.array([p is not None for p in parsed], dtype=bool)  # refused or blank: left as it is
        out[ok] = parsed[ok]
        changed |= ok & (out != raw)
        new_cols.append(out)
    idx = np.flatnonzero(changed)
    if not len(idx):
        return [], refused
    updates = sorted(((new_cols[0][i], new_cols[1][i], accounts[i]) for i in idx.tolist()), key=lambda u: u[2])
    if conn.dialect.name == "sqlite":  # in key order, with the phone indexes' pages kept in memory
        raw = conn.connection.driver_connection
        with page_cache(raw, 512):
            raw.executemany("UPDATE customers SET phone = ?, phone_alt = ? WHERE account_no = ?", updates)
    else:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE _phone_digits (account_no TEXT PRIMARY KEY, phone TEXT, phone_alt TEXT) "
                             "ON COMMIT DROP")
        raw_conn = conn.connection.driver_connection
        with raw_conn.cursor() as cur, cur.copy("COPY _phone_digits (phone, phone_alt, account_no) FROM STDIN") as copy:
            for row in updates:
                copy.write_row(row)
        conn.exec_driver_sql("ANALYZE _phone_digits")
        conn.exec_driver_sql("UPDATE customers c SET phone = d.phone, phone_alt = d.phone_alt "
                             "FROM _phone_digits d WHERE c.account_no = d.account_no")
    return [(str(accounts[i]), (rows[i][1], rows[i][2]), (new_cols[0][i], new_cols[1][i])) for i in idx.tolist()], refused


def _search_keys_changed(changes: list[tuple[str, tuple, tuple]]) -> list[str]:
    """Of the rewritten customers ``(account, (phone, alt) before, (phone, alt) after)``, those
    whose search rows change: the rows are a function of name, address and
    :func:`gis.search.normalize.phone_keys`, so only a customer whose phone keys differ between
    the value as written and its digits needs new rows (``135 2613 8187`` gives the keys of
    ``13526138187``; ``+86 757 8765 4321`` does not give those of ``075787654321``)."""
    from gis.search.normalize import phone_keys  # noqa: PLC0415

    return [a for a, old, new in changes if phone_keys(*old) != phone_keys(*new)]


def upgrade() -> None:
    from gis.models import Base  # noqa: PLC0415
    from gis.search import reindex_customers  # noqa: PLC0415

    conn = op.get_bind()
    changed, refused = normalize_stored_phones(conn)
    if changed:
        stale = _search_keys_changed(changed)
        if stale:
            reindex_customers(conn, stale)  # their search rows and phone keys, in this transaction
        conn.execute(insert(Base.metadata.tables["data_versions"]).values(
            source="migration:0016_phone_digits", loaded_at=func.now(),
            details={"phones_normalized": len(changed), "phones_kept_unparseable": refused}))
        log.info("0016_phone_digits: %d customer(s) had phones rewritten as national digits; %d of them needed new "
                 "search rows", len(changed), len(stale))
    if refused:
        log.warning("0016_phone_digits: %d stored phone value(s) are not phone numbers and were kept as they are "
                    "(GET /api/v1/data-quality lists them as invalid phones; correct them at a touchpoint)", refused)


def downgrade() -> None:
    pass  # the digits are what every path stores; the written forms are not kept

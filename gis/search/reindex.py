"""(Re)building the search rows of customers inside the caller's transaction.

The derived columns are computed here in Python (one implementation for both stores):
folded name and address, normalized phones, last four digits, every pinyin reading and
its initials. Bulk writes use COPY on PostgreSQL and ``executemany`` on SQLite; the FTS5
mirror is rebuilt in one pass after a full reindex and maintained row-wise otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.search.normalize import compact, normalize_phone, pinyin_keys
from gis.search.tables import FTS_TABLE

__all__ = ["reindex_customers", "search_rows"]

_CHUNK = 900  # SQLite's bound-parameter limit leaves room for this many ids per IN list


def search_rows(records: Iterable[Sequence]) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]:
    """(customer_search rows, customer_keys rows) for (account_no, name, address, phone, phone_alt) records."""
    search: list[tuple[str, str, str, str]] = []
    keys: list[tuple[str, str, str]] = []
    cache: dict[str, tuple[list[str], list[str]]] = {}
    for account_no, name, address, phone, phone_alt in records:
        phones = list(dict.fromkeys(p for p in (normalize_phone(phone), normalize_phone(phone_alt)) if p))
        name_key = compact(name)
        search.append((account_no, name_key, compact(address), " ".join(phones)))
        for number in phones:
            keys.append(("phone", number[:64], account_no))
        for last4 in dict.fromkeys(p[-4:] for p in phones if len(p) >= 4):
            keys.append(("last4", last4, account_no))
        readings = cache.get(name_key)
        if readings is None:
            readings = cache[name_key] = pinyin_keys(name_key)
        full, initials = readings
        keys.extend(("pinyin", k, account_no) for k in full)
        keys.extend(("initials", k, account_no) for k in initials)
    return search, keys


def _select_customers(conn: Connection, account_nos: Sequence[str] | None):
    sql = "SELECT account_no, name, address, phone, phone_alt FROM customers"
    if account_nos is None:
        yield from conn.exec_driver_sql(sql)
        return
    for start in range(0, len(account_nos), _CHUNK):
        chunk = list(account_nos[start : start + _CHUNK])
        yield from conn.execute(text(sql + " WHERE account_no IN :ids").bindparams(_expanding()), {"ids": chunk})


def _expanding():
    from sqlalchemy import bindparam

    return bindparam("ids", expanding=True)


def _delete(conn: Connection, account_nos: Sequence[str] | None, *, sqlite: bool) -> None:
    if account_nos is None:
        conn.exec_driver_sql("DELETE FROM customer_keys")
        conn.exec_driver_sql("DELETE FROM customer_search")
        if sqlite:
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
        return
    for start in range(0, len(account_nos), _CHUNK):
        ids = {"ids": list(account_nos[start : start + _CHUNK])}
        if sqlite:  # an external-content FTS5 table is told the old values it must forget
            conn.execute(text(
                f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, name_key, address_key, phones) "
                "SELECT 'delete', id, name_key, address_key, phones FROM customer_search WHERE account_no IN :ids"
            ).bindparams(_expanding()), ids)
        conn.execute(text("DELETE FROM customer_keys WHERE account_no IN :ids").bindparams(_expanding()), ids)
        conn.execute(text("DELETE FROM customer_search WHERE account_no IN :ids").bindparams(_expanding()), ids)


def _copy(conn: Connection, table: str, columns: str, rows: list[tuple]) -> None:
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def reindex_customers(conn: Connection, account_nos: Iterable[str] | None = None) -> int:
    """Rebuild the search rows of ``account_nos`` (all customers when None); returns the count.

    Runs in the caller's transaction (a city load calls it just before recording the data
    version), so the search always matches the customers of the same commit. Customers that
    no longer exist lose their rows.
    """
    sqlite = conn.dialect.name == "sqlite"
    ids = None if account_nos is None else list(dict.fromkeys(account_nos))
    search, keys = search_rows(_select_customers(conn, ids))
    _delete(conn, ids, sqlite=sqlite)
    if not search:
        return 0
    if sqlite:
        raw = conn.connection.driver_connection
        raw.executemany("INSERT INTO customer_search (account_no, name_key, address_key, phones) VALUES (?, ?, ?, ?)", search)
        raw.executemany("INSERT INTO customer_keys (kind, key, account_no) VALUES (?, ?, ?)", keys)
        if ids is None:
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
        else:
            for start in range(0, len(ids), _CHUNK):
                conn.execute(text(
                    f"INSERT INTO {FTS_TABLE}(rowid, name_key, address_key, phones) "
                    "SELECT id, name_key, address_key, phones FROM customer_search WHERE account_no IN :ids"
                ).bindparams(_expanding()), {"ids": ids[start : start + _CHUNK]})
    else:
        _copy(conn, "customer_search", "account_no, name_key, address_key, phones", search)
        _copy(conn, "customer_keys", "kind, key, account_no", keys)
    return len(search)

"""Where the two stores differ for search: capability checks and the substring index.

PostGIS answers ``column LIKE '%term%'`` from GIN trigram indexes (pg_trgm); SQLite from
the FTS5 trigram table. Both need ≥ 3 characters per term for the index to help, which
:mod:`gis.search.engine` guarantees. Everything else (keys, prefixes) is plain SQL that
runs unchanged on both.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import text

from gis.errors import StoreUnavailable
from gis.search.tables import FTS_TABLE

__all__ = ["check_store", "SQLITE_MIN_VERSION", "contains_sql", "contains_any_sql"]

#: FTS5's trigram tokenizer appeared in SQLite 3.34.0.
SQLITE_MIN_VERSION = (3, 34, 0)
_COLUMNS = ("name_key", "address_key", "phones")


def check_store(bind) -> None:
    """Refuse a store the search cannot work on, saying why (:class:`StoreUnavailable`).

    PostgreSQL: the database must be UTF-8 with a UTF-8 ctype, or pg_trgm does not see CJK
    characters as word characters and every Chinese query would miss. SQLite: ≥ 3.34.
    """
    if bind.dialect.name == "postgresql":
        encoding, ctype = bind.execute(
            text("SELECT pg_encoding_to_char(encoding), datctype FROM pg_database WHERE datname = current_database()")
        ).one()
        if encoding != "UTF8" or "utf8" not in ctype.lower().replace("-", ""):
            raise StoreUnavailable(
                f"customer search needs a UTF-8 database for trigram matching of Chinese text; this one has "
                f"encoding {encoding} and ctype {ctype!r}: create it with ENCODING 'UTF8' LC_CTYPE 'C.UTF-8' "
                "(or another UTF-8 locale) TEMPLATE template0",
                field="database_url", value=f"{encoding}/{ctype}",
            )
        return
    if sqlite3.sqlite_version_info < SQLITE_MIN_VERSION:
        raise StoreUnavailable(
            f"customer search needs SQLite ≥ 3.34 (FTS5 trigram tokenizer); this Python links SQLite "
            f"{sqlite3.sqlite_version}: use a newer Python build or a postgresql+psycopg:// store",
            field="database_url", value=sqlite3.sqlite_version,
        )


def contains_sql(dialect: str, column: str, n_long: int, n_short: int = 0) -> str:
    """SELECT of (account_no, column) for rows whose ``column`` contains every term.

    ``:t0 … `` are LIKE patterns ``%term%`` of the ``n_long`` terms of ≥ 3 characters (the
    index finds them), then the ``n_short`` shorter ones (tested on the found rows only);
    ``:cap`` bounds the rows. The order (shortest value first, then value, then account) is
    the final ranking's, on both stores.
    """
    if column not in _COLUMNS or n_long < 1:
        raise ValueError(f"need a searchable column and at least one term of 3+ characters: {column}")
    indexed = "f" if dialect == "sqlite" else "s"
    where = [f"{indexed}.{column} LIKE :t{i}" for i in range(n_long)]
    where += [f"s.{column} LIKE :t{i}" for i in range(n_long, n_long + n_short)]
    if dialect == "sqlite":
        source = f"{FTS_TABLE} AS f JOIN customer_search AS s ON s.id = f.rowid"
    else:
        source = "customer_search AS s"
    return (
        f"SELECT s.account_no, s.{column} FROM {source} WHERE {' AND '.join(where)} "
        f"ORDER BY length(s.{column}), s.{column}, s.account_no LIMIT :cap"
    )


def contains_any_sql(dialect: str, column: str, fragments: list[str]) -> tuple[str, dict[str, object]]:
    """SELECT of (account_no, column) for rows containing ANY of ``fragments`` (each ≥ 3 characters).

    PostGIS ORs LIKE patterns (a BitmapOr of GIN scans); SQLite asks FTS5 for the phrases
    with OR (the trigram tokenizer matches a phrase as a substring). Same rows, same order.
    """
    if column not in _COLUMNS or not fragments or any(len(f) < 3 or '"' in f for f in fragments):
        raise ValueError("need fragments of 3+ characters without double quotes")
    order = f"ORDER BY length(s.{column}), s.{column}, s.account_no LIMIT :cap"
    if dialect == "sqlite":
        phrases = " OR ".join(f'"{f}"' for f in fragments)
        sql = (f"SELECT s.account_no, s.{column} FROM {FTS_TABLE} AS f JOIN customer_search AS s ON s.id = f.rowid "
               f"WHERE {FTS_TABLE} MATCH :m {order}")
        return sql, {"m": f"{column} : ({phrases})"}
    where = " OR ".join(f"s.{column} LIKE :f{i}" for i in range(len(fragments)))
    return f"SELECT s.account_no, s.{column} FROM customer_search AS s WHERE {where} {order}", {
        f"f{i}": f"%{f}%" for i, f in enumerate(fragments)
    }

"""The derived search tables, filled from ``customers`` by :func:`gis.search.reindex_customers`.

* ``customer_search`` — one row per customer: ``name_key`` and ``address_key`` (folded,
  without whitespace) and ``phones`` (normalized numbers, space-separated). PostGIS puts
  GIN trigram indexes (pg_trgm) on the three; SQLite mirrors them in the FTS5 table
  ``customer_search_fts`` (trigram tokenizer, external content keyed by ``id``).
* ``customer_keys`` — exact/prefix keys, one row per (kind, key, customer): ``phone`` (full
  normalized number), ``last4`` (尾号), ``pinyin`` (every reading combination) and
  ``initials``. Text columns use the "C" collation on PostGIS, so ranges and ordering are
  bytewise, exactly as SQLite's BINARY collation: both stores return the same rows in the
  same order.

Created by migration 0003; not in ``gis.models`` because nothing but the search writes them.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table

__all__ = ["customer_search", "customer_keys", "FTS_TABLE", "KEY_KINDS"]

_meta = MetaData()

customer_search = Table(
    "customer_search",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_no", String(32), nullable=False, unique=True),
    Column("name_key", String(200), nullable=False),
    Column("address_key", String(500), nullable=False),
    Column("phones", String(200), nullable=False),
)

customer_keys = Table(
    "customer_keys",
    _meta,
    Column("kind", String(8), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("account_no", String(32), primary_key=True),
)

#: The SQLite FTS5 mirror of customer_search's three text columns.
FTS_TABLE = "customer_search_fts"
KEY_KINDS = ("phone", "last4", "pinyin", "initials")

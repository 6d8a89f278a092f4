"""Where PostGIS and SQLite really differ: one small module per dialect, same functions.

Each module provides ``configure_engine(engine)``, ``create_spatial_index(bind, table,
column)``, ``drop_spatial_index(bind, table, column)`` and ``bbox_clause(table, column,
bbox)`` (a SQL fragment + parameters selecting rows whose geometry's bounding box
intersects ``bbox``) — the spatial-index plumbing. Other differences live next to the code
they concern and branch on ``conn.dialect.name`` there: bulk writes (COPY vs executemany,
``gis/bulk.py``), the search tables (pg_trgm vs FTS5, ``gis/search/dialect.py``), the
append-only audit triggers (migration 0004).
"""

from __future__ import annotations

from types import ModuleType

__all__ = ["for_dialect"]


def for_dialect(name: str) -> ModuleType:
    """Return the dialect module for a SQLAlchemy dialect name."""
    if name == "postgresql":
        from gis.dialects import postgresql

        return postgresql
    if name == "sqlite":
        from gis.dialects import sqlite

        return sqlite
    raise ValueError(f"unsupported database dialect {name!r}: use sqlite or postgresql")

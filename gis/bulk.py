"""Bulk upserts of whole tables (DataFrames) by primary key, inside the caller's transaction.

The interface every loader writes through. This first version converts the frame to rows
and reuses :func:`gis.store.upsert_rows`; the PostGIS COPY-into-staging path and the
large-batch SQLite path replace its internals without changing the signature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from gis.store import upsert_rows

__all__ = ["bulk_upsert"]

Progress = Callable[[str, int, int], None]


def bulk_upsert(conn: Connection, table: str, frame: pd.DataFrame, *, progress: Progress | None = None) -> int:
    """Insert or update every row of ``frame`` into ``table`` by primary key; returns the row count.

    ``frame``'s columns are the table's column names (a subset is fine; columns left out
    keep their stored values on update). A geometry column (``geom``) holds shapely
    geometries in EPSG:4326 lon/lat. Missing values (NaN/NaT/None) are stored as NULL.
    Runs in the caller's transaction, so a failure anywhere leaves the store unchanged.
    """
    columns = list(frame.columns)
    records: list[dict[str, Any]] = (
        frame.astype(object).where(frame.notna(), None).to_dict("records") if len(frame) else []
    )
    if progress is not None:
        progress(f"write {table}", 0, len(records))
    written = upsert_rows(conn, table, [{c: r[c] for c in columns} for r in records])
    if progress is not None:
        progress(f"write {table}", written, len(records))
    return written

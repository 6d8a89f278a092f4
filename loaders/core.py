"""The check-and-write core every load pipeline shares (issue 17, "one core per concept").

``import city`` (:mod:`loaders.city`), the mapped loaders (``import layers`` / ``import customers``
/ the admin upload: :mod:`loaders.pipeline`) and the study networks (``import pandapower`` /
``simbench``: :mod:`loaders.pandapower_net`) read and check their input in their own way, then
hand the accepted tables to this module, which decides and does the rest the same way for all:

* **the result** — :class:`LoadResult`: accepted counts per table, rejected rows (a
  :class:`~loaders.rejects.Reject` each, written by :func:`loaders.rejects.write_rejects`, formula-safe),
  manual corrections kept, the data version, whether nothing changed, and the exit code
  (0 all loaded, 3 rows rejected; 2, nothing loaded, is a refused input: an exception);
* **the content hash** — :func:`content_hash` over the input's bytes (and whatever else decides the
  result, e.g. the service area), or :func:`tables_hash` over the converted tables where the file's
  bytes are not stable (SimBench writes its columns in a new order on every run);
* **"unchanged means unchanged"** — :func:`unchanged_version`: a load whose hash is the newest data
  version's, or that was loaded before and whose accepted rows are all stored exactly so (another
  load came between), writes nothing and makes no new data version;
* **the transaction** — :func:`write_load`: every table in write order (:func:`gis.tables.write_order`,
  from the models) through :func:`gis.bulk.bulk_upsert`, the manual-correction guard, the customers'
  search rows and the data-version row, all in ONE transaction: a failure leaves the store as it was;
* **the manual-correction guard** — :func:`keep_manual_corrections`: a contact value corrected at a
  touchpoint later than the row's 核实日期 is kept, and a stored verification date never goes back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from gis import bulk
from gis.contacts import CONTACT_FIELDS, corrected_accounts, guard_manual_corrections
from gis.models import Base
from gis.search import reindex_customers
from gis.store import digest_loaded_before, latest_data_version, record_data_version, rows_stored_as
from gis.tables import write_order
from loaders.rejects import Reject

__all__ = [
    "KeptCorrection", "LoadResult", "Progress",
    "content_hash", "tables_hash", "unchanged_version", "table_parts", "keep_manual_corrections", "write_tables", "write_load",
    "as_reject",
]

Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class KeptCorrection:
    """A contact value a load did not write: a manual correction newer than the row's 核实日期."""

    row: int            # the source row (for a CSV: its line, the header being line 1)
    account_no: str
    field: str
    file_value: str | None
    kept_value: str | None
    reason: str
    source_file: str = "customers.csv"

    def __str__(self) -> str:
        return (f"{self.source_file} line {self.row}, account {self.account_no}, {self.field}: "
                f"file {self.file_value!r}, kept {self.kept_value!r} — {self.reason}")


@dataclass
class LoadResult:
    """What a load did: accepted counts per table, the rejected rows, the data version.

    ``unchanged``: nothing was written and no data version made (:func:`unchanged_version`);
    ``data_version`` is then the newest one. ``data_version`` is None when no row was accepted.
    ``kept_corrections``: contact values not written (:func:`keep_manual_corrections`).
    ``details``: what the loader adds to the data version's details (e.g. what a network left out).
    """

    counts: dict[str, int] = field(default_factory=dict)
    rejected_rows: int = 0
    rejects: list[Reject] = field(default_factory=list)
    data_version: int | None = None
    unchanged: bool = False
    sha256: str = ""
    notes: list[str] = field(default_factory=list)
    kept_corrections: list[KeptCorrection] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 all loaded, 3 some rows rejected (2, a refused input, is raised as an error instead)."""
        return 3 if self.rejected_rows else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_version": self.data_version, "unchanged": self.unchanged, "counts": self.counts,
            "rejected_rows": self.rejected_rows, "rejects": [r.to_dict() for r in self.rejects], "notes": self.notes,
        }


# ------------------------------------------------------------------ content hash
def content_hash(parts: Iterable[bytes | Path]) -> str:
    """SHA-256 over ``parts`` in order: bytes as they are, a file as its name and its content."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            digest.update(part.name.encode())
            with open(part, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        else:
            digest.update(part)
    return digest.hexdigest()


def tables_hash(tables: Mapping[str, pd.DataFrame]) -> str:
    """SHA-256 of converted tables' content: tables in write order, rows by id, columns by name,
    geometry as WKB; for inputs whose bytes change without their content (SimBench's column order)."""
    digest = hashlib.sha256()
    for name in write_order(list(tables)):
        df = tables[name]
        df = df.sort_values(df.columns[0], kind="stable")[sorted(df.columns)]
        if "geom" in df:
            df = df.assign(geom=[None if g is None else g.wkb_hex for g in df["geom"]])
        digest.update(name.encode() + b"\0" + df.to_csv(index=False).encode())
    return digest.hexdigest()


# ------------------------------------------------------------------ unchanged means unchanged
def unchanged_version(conn: Connection, digest: str, tables: Mapping[str, pd.DataFrame] | None = None) -> int | None:
    """The data version a load of content ``digest`` would leave as it is, or None (the load writes).

    Unchanged: the newest data version was loaded from the same content; or, with ``tables`` (the
    accepted rows, model columns), the content was loaded before and every row is stored with
    exactly these values (another load came between). Without ``tables`` only the first is asked
    (a loader calls it so before reading a large input, and again with the tables once read).
    """
    latest = latest_data_version(conn)
    if latest is None:
        return None
    if (latest["details"] or {}).get("sha256") == digest:
        return int(latest["id"])
    if tables is None or not digest_loaded_before(conn, digest):
        return None
    if all(rows_stored_as(conn, name, part) for name, df in tables.items() if len(df) for part in table_parts(df)):
        return int(latest["id"])
    return None


# ------------------------------------------------------------------ manual corrections
def _day(value: object) -> dt.date | None:
    if value is None or (not isinstance(value, (dt.date, pd.Timestamp)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else pd.Timestamp(value).date()


def keep_manual_corrections(
    conn: Connection, customers: pd.DataFrame, source_rows: Sequence[int], *, source_file: str = "customers.csv",
) -> list[KeptCorrection]:
    """Give ``customers`` (the accepted rows about to be written, changed in place) the stored
    contact values where a touchpoint corrected them later than the row's 核实日期
    (:func:`gis.contacts.guard_manual_corrections`), and keep a stored verification date that is
    newer than the row's. ``source_rows[i]`` is row ``i``'s row in the source. Returns the
    corrections kept, by row and field. Call in the load's write transaction."""
    fields = [f for f in CONTACT_FIELDS if f in customers.columns]
    corrected = corrected_accounts(conn) if len(customers) else set()
    if not corrected:
        return []
    hits = np.flatnonzero(customers["account_no"].isin(corrected).to_numpy(dtype=bool))
    if not len(hits):
        return []
    verified = customers["contact_verified_at"] if "contact_verified_at" in customers.columns else None
    rows = [{"_pos": int(i), "account_no": customers["account_no"].iat[i],
             "contact_verified_at": None if verified is None else _day(verified.iat[i]),
             **{f: customers[f].iat[i] for f in fields}} for i in hits.tolist()]
    kept = []
    for pos, name, incoming, stored, reason in guard_manual_corrections(conn, rows) if fields else []:
        customers.iat[pos, customers.columns.get_loc(name)] = stored
        kept.append(KeptCorrection(int(source_rows[pos]), str(customers["account_no"].iat[pos]), name,
                                   None if incoming is None else str(incoming), stored, reason, source_file))
    if verified is not None:  # a confirmation at a touchpoint later than the row's date stays the 核实日期
        c = Base.metadata.tables["customers"]
        accounts = customers["account_no"].to_numpy(object)[hits].tolist()
        stored_days: dict[str, dt.date] = {}
        for start in range(0, len(accounts), 5000):
            q = select(c.c.account_no, c.c.contact_verified_at).where(c.c.account_no.in_(accounts[start:start + 5000]))
            stored_days.update({a: d for a, d in conn.execute(q) if d is not None})
        col = customers.columns.get_loc("contact_verified_at")
        timestamps = pd.api.types.is_datetime64_any_dtype(customers["contact_verified_at"])
        for i, a in zip(hits.tolist(), accounts):
            mine = _day(stored_days.get(a))
            theirs = _day(customers["contact_verified_at"].iat[i])
            if mine is not None and (theirs is None or theirs < mine):
                customers.iat[i, col] = pd.Timestamp(mine) if timestamps else mine
    return sorted(kept, key=lambda k: (k.row, k.field))


# ------------------------------------------------------------------ the write
def table_parts(table: pd.DataFrame | Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
    """The frames of a table: itself, or the slices of a table too large to hold at once (an
    iterable of frames with a length, e.g. :class:`loaders.city.InteractionSlices`)."""
    return (table,) if isinstance(table, pd.DataFrame) else table


def write_tables(conn: Connection, tables: Mapping[str, pd.DataFrame], *, progress: Progress | None = None) -> dict[str, int]:
    """Upsert every table in write order (each after the tables it references) in the caller's
    transaction, a sliced table slice by slice (:func:`table_parts`, :func:`gis.bulk.bulk_upsert_parts`);
    returns the rows written per table."""
    out = {}
    for name in write_order(list(tables)):
        table = tables[name]
        if isinstance(table, pd.DataFrame):
            out[name] = bulk.bulk_upsert(conn, name, table, progress=progress)
        else:  # slices: the table's indexes are rebuilt once after the last one
            out[name] = bulk.bulk_upsert_parts(conn, name, table, rows=len(table), progress=progress)
    return out


def write_load(
    engine: Engine,
    tables: Mapping[str, pd.DataFrame],
    result: LoadResult,
    *,
    source: str,
    source_rows: Sequence[int] | None = None,
    source_file: str = "customers.csv",
    progress: Progress | None = None,
    search_rows: Callable[[Connection, pd.DataFrame], None] | None = None,
    also: Callable[[Connection], None] | None = None,
    kept_are_rejects: Callable[[KeptCorrection], Reject] | None = None,
) -> LoadResult:
    """Write ``tables`` (accepted rows, model columns) in ONE transaction and fill ``result``.

    In order: the manual-correction guard on the customers (:func:`keep_manual_corrections`;
    ``source_rows`` are the customers' source rows, default 1…n), every table in write order,
    the customers' search rows (``search_rows(conn, customers)`` when given, else a reindex of
    the written accounts; kept corrections' accounts are reindexed after it), ``also(conn)``
    (e.g. the interaction rollups), and the data-version row with the hash, counts, rejected
    rows and ``result.details``. Any failure rolls all of it back. ``kept_are_rejects``: the
    loader reports a kept correction as a reject line (the mapped loaders: the row counts as
    rejected, exit 3), made by this function; else they are :attr:`LoadResult.kept_corrections`.
    """
    report = progress or _quiet
    with engine.begin() as conn:  # one transaction: all or nothing
        customers = tables.get("customers")
        kept: list[KeptCorrection] = []
        if customers is not None and len(customers):
            report("manual corrections", 0, 1)
            rows = source_rows if source_rows is not None else range(1, len(customers) + 1)
            kept = keep_manual_corrections(conn, customers, rows, source_file=source_file)
        result.counts = write_tables(conn, tables, progress=report)
        if customers is not None and len(customers):
            report("search tables", 0, 1)
            if search_rows is not None:
                search_rows(conn, customers)
                if kept:  # the search rows were built from the input: the kept values' accounts again
                    reindex_customers(conn, sorted({k.account_no for k in kept}))
            else:
                reindex_customers(conn, customers["account_no"].tolist())
        if also is not None:
            also(conn)
        if kept_are_rejects is not None:
            result.rejects += [kept_are_rejects(k) for k in kept]  # loaded, but a field was refused
            result.rejected_rows += len({k.row for k in kept})
        else:
            result.kept_corrections = kept
        result.data_version = record_data_version(conn, source, {
            "sha256": result.sha256, "counts": result.counts, "rejected_rows": result.rejected_rows, **result.details})
    report("done", 1, 1)
    return result


def as_reject(kept: KeptCorrection, *, layer: str = "", label: str | None = None) -> Reject:
    """A kept correction as a line of the reject report (the mapped loaders report it there)."""
    return Reject(kept.source_file, layer, kept.row, kept.account_no, label or kept.field,
                  "" if kept.file_value is None else kept.file_value, kept.reason)


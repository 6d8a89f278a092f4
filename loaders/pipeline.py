"""From checked sources to the store: references (with cascade), customer placement, one transaction.

References are resolved against what the store already holds plus what this load accepts.
A row that refers to a row rejected in the same load is rejected too (the cascade), with a
reason naming the rejected row, so fixing the first problem is enough to fix both. The
accepted rows are written table by table through :func:`gis.bulk.bulk_upsert` inside ONE
transaction, ending with a data-version row carrying the load's content hash; an unchanged
re-load writes nothing and says so: the same hash as the newest version, or content loaded
before whose accepted rows are all stored exactly so (another load came between).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from gis import bulk
from gis.contacts import CONTACT_FIELDS, corrected_accounts, guard_manual_corrections
from gis.models import Base
from gis.search import reindex_customers
from gis.store import digest_loaded_before, latest_data_version, record_data_version, rows_stored_as
from gis.tables import references
from gis.validation import BBox, meter_box_transformer_reason
from loaders.checks import check_columns, check_geometry
from loaders.mapping import ID_COLUMN, TABLE_ORDER
from loaders.rejects import Reject
from loaders.sources import SourceFrame
from loaders.sources import objects as _objects

__all__ = ["REFERENCES", "LoadResult", "content_hash", "run_load"]

Progress = Callable[[str, int, int], None]

#: (table, column, referenced table): every reference a loaded row must resolve (from the models).
REFERENCES: tuple[tuple[str, str, str], ...] = tuple(
    (ref.table, ref.column, ref.target) for name in TABLE_ORDER for ref in references(name))


@dataclass
class LoadResult:
    """What a load did: accepted counts per table, the rejected rows, and the data version."""

    counts: dict[str, int] = field(default_factory=dict)
    rejected_rows: int = 0
    rejects: list[Reject] = field(default_factory=list)
    data_version: int | None = None
    unchanged: bool = False
    sha256: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 all loaded, 3 some rows rejected."""
        return 3 if self.rejected_rows else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_version": self.data_version, "unchanged": self.unchanged, "counts": self.counts,
            "rejected_rows": self.rejected_rows, "rejects": [r.to_dict() for r in self.rejects], "notes": self.notes,
        }


def content_hash(parts: Iterable[bytes | Path]) -> str:
    """SHA-256 over mapping text and source files (in order)."""
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


def _store_ids(conn: Connection, table: str) -> set[str]:
    tbl = Base.metadata.tables[table]
    return set(conn.execute(select(tbl.c[ID_COLUMN[table]])).scalars())


def _accepted(src: SourceFrame) -> np.ndarray:
    return ~src.frame["_bad"].to_numpy(dtype=bool)


def _resolve_references(sources: dict[str, SourceFrame], stored: dict[str, set[str]]) -> None:
    """Reject rows with unknown references, repeating until no new row is rejected (cascade)."""
    changed = True
    while changed:
        changed = False
        known: dict[str, set[str]] = {}
        rejected_at: dict[str, dict[str, str]] = {}
        for name, src in sources.items():
            ids = src.frame[ID_COLUMN[name]].to_numpy(object)
            ok = _accepted(src)
            known[name] = set(ids[ok])
            where = {}
            for i, r in zip(ids[~ok], src.frame["_row"].to_numpy()[~ok]):
                if i is not None:
                    where.setdefault(i, f"{src.file}" + (f" layer {src.layer}" if src.layer else "") + f" row {r}")
            rejected_at[name] = where
        for table, column, target in REFERENCES:
            src = sources.get(table)
            if src is None or column not in src.frame:
                continue
            values = src.frame[column].to_numpy(object)
            ok = _accepted(src)
            present = np.array([v is not None for v in values], dtype=bool)
            pool = known.get(target, set()) | stored.get(target, set())
            bad = ok & present & ~pd.Series(values, dtype=object).isin(pool).to_numpy(dtype=bool)
            if not bad.any():
                continue
            reasons = []
            for v in values[bad]:
                at = rejected_at.get(target, {}).get(v)
                reasons.append(f"unknown reference to {target}: {v!r} is rejected in this load ({at}); fixing that row fixes this one"
                               if at else f"unknown reference to {target}: no {target} {v!r} in this load or in the store")
            src.reject(np.flatnonzero(bad), column, reasons)
            src.frame.loc[bad, "_bad"] = True
            changed = True


def _lookup(conn: Connection, sources: dict[str, SourceFrame], table: str, cols: tuple[str, ...]) -> pd.DataFrame:
    """``table``'s id → cols (+ geom) from the store, overridden by this load's accepted rows."""
    tbl = Base.metadata.tables[table]
    rows = conn.execute(select(tbl.c.id, *[tbl.c[c] for c in cols], tbl.c.geom)).fetchall()
    stored = pd.DataFrame(rows, columns=["id", *cols, "geom"])
    src = sources.get(table)
    if src is not None:
        mine = src.frame.loc[_accepted(src)]
        loaded = pd.DataFrame({"id": mine["id"].to_numpy(object)})
        for c in (*cols, "geom"):
            loaded[c] = mine[c].to_numpy(object) if c in mine else None
        stored = pd.concat([stored[~stored["id"].isin(loaded["id"])], loaded], ignore_index=True)
    return stored.set_index("id")


def _place_customers(conn: Connection, sources: dict[str, SourceFrame]) -> None:
    """Fill transformer, supply node, geometry and location quality of customers from their meter
    box or transformer; reject customers that can be placed nowhere."""
    src = sources.get("customers")
    if src is None:
        return
    df = src.frame
    for col in ("meter_box_id", "transformer_id", "supply_node", "location_quality", "geom"):
        if col not in df:
            df[col] = _objects([None] * len(df), df.index)
    boxes = _lookup(conn, sources, "meter_boxes", ("node", "transformer_id"))
    trafos = _lookup(conn, sources, "transformers", ("lv_node",))
    ok = _accepted(src)
    mb = df["meter_box_id"].to_numpy(object)
    tr = df["transformer_id"].to_numpy(object)
    has_mb = ok & (boxes.index.get_indexer(mb) >= 0)
    box_rows = boxes.reindex(mb)
    box_tr = box_rows["transformer_id"].to_numpy(object)
    other = has_mb & np.array([t is not None and b is not None and not pd.isna(b) and t != b for t, b in zip(tr, box_tr)],
                              dtype=bool)
    if other.any():  # the 表箱 is on another 台区 than the 台区编号: two 台区 for one customer
        src.reject(np.flatnonzero(other), "transformer_id",
                   [meter_box_transformer_reason(m, b, t) for m, b, t in zip(mb[other], box_tr[other], tr[other])])
        df.loc[other, "_bad"] = True
        ok &= ~other
        has_mb &= ~other
    tr = np.where(has_mb & np.array([v is None for v in tr]), box_rows["transformer_id"].to_numpy(object), tr)
    df["transformer_id"] = _objects(tr, df.index)
    has_tr = ok & (trafos.index.get_indexer(tr) >= 0)
    trafo_rows = trafos.reindex(tr)
    node = df["supply_node"].to_numpy(object)
    blank = np.array([v is None for v in node])
    node = np.where(blank & has_mb, box_rows["node"].to_numpy(object), node)
    node = np.where(blank & ~has_mb & has_tr, trafo_rows["lv_node"].to_numpy(object), node)
    df["supply_node"] = _objects(node, df.index)
    geom = np.array(df["geom"].to_numpy(), dtype=object)
    lq = df["location_quality"].to_numpy(object).copy()
    no_xy = ok & shapely.is_missing(geom)
    at_box = no_xy & has_mb
    at_trafo = no_xy & ~has_mb & has_tr
    geom[at_box] = box_rows["geom"].to_numpy(object)[at_box]
    lq[at_box] = "meter_box"
    geom[at_trafo] = trafo_rows["geom"].to_numpy(object)[at_trafo]
    lq[at_trafo] = "transformer"
    lq[ok & ~no_xy & np.array([v is None for v in lq])] = "surveyed"
    nowhere = no_xy & ~has_mb & ~has_tr
    src.labels.setdefault("geom", "coordinates")
    src.reject(np.flatnonzero(nowhere), "geom",
               "no coordinates and no known meter box or transformer to place the customer at: "
               "give lon/lat, or a 表箱编号 / 台区编号 that exists", values=np.array([""] * int(nowhere.sum()), dtype=object))
    df.loc[nowhere, "_bad"] = True
    df["geom"] = _objects(geom, df.index)
    df["location_quality"] = _objects(lq, df.index)


def _frame_for_write(src: SourceFrame) -> pd.DataFrame:
    df = src.frame.loc[_accepted(src)]
    cols = [c.name for c in Base.metadata.tables[src.table].columns if c.name in df.columns]
    return df[cols].reset_index(drop=True)


def _keep_manual_corrections(conn: Connection, src: SourceFrame, frame: pd.DataFrame) -> list[Reject]:
    """Contact values corrected at a touchpoint later than the row's 核实日期 are kept, not reverted
    (issue 18): ``frame`` gets the stored value back and the reject report a line saying so."""
    fields = [f for f in CONTACT_FIELDS if f in frame.columns]
    corrected = corrected_accounts(conn) if fields else set()
    if not corrected:
        return []
    hits = np.flatnonzero(frame["account_no"].isin(corrected).to_numpy(dtype=bool))
    verified = frame["contact_verified_at"] if "contact_verified_at" in frame.columns else None
    rows = []
    for i in hits:
        day = verified.iat[i] if verified is not None else None
        day = None if day is None or pd.isna(day) else (day.date() if hasattr(day, "date") and callable(day.date) else day)
        rows.append({"_pos": int(i), "account_no": frame["account_no"].iat[i], "contact_verified_at": day,
                     **{f: frame[f].iat[i] for f in fields}})
    kept = guard_manual_corrections(conn, rows)
    if not kept:
        return []
    source_rows = src.frame["_row"].to_numpy()[_accepted(src)]
    out = []
    for pos, field_name, incoming, stored, reason in kept:
        frame.iat[pos, frame.columns.get_loc(field_name)] = stored
        out.append(Reject(src.file, src.layer or "", int(source_rows[pos]), str(frame["account_no"].iat[pos]),
                          src.label(field_name), "" if incoming is None else str(incoming), reason))
    return out


def run_load(
    engine: Engine,
    sources: list[SourceFrame],
    *,
    service_area: BBox,
    source_label: str,
    digest: str,
    progress: Progress | None = None,
) -> LoadResult:
    """Check ``sources`` (read, one per table), resolve references, and write the accepted rows
    in one transaction. Returns counts and every rejected row; nothing is written when no row
    is accepted or when the same content is already the newest data version."""
    report = progress or (lambda stage, done, total: None)
    by_table = {s.table: s for s in sorted(sources, key=lambda s: TABLE_ORDER.index(s.table))}
    total = 2 * len(by_table) + 2
    for i, src in enumerate(by_table.values()):
        report(f"check {src.table}", i, total)
        check_columns(src)
        check_geometry(src, service_area)
    report("check references", len(by_table), total)
    with engine.connect() as conn:
        stored = {t: _store_ids(conn, t) for t in {target for _, _, target in REFERENCES}}
        _resolve_references(by_table, stored)
        _place_customers(conn, by_table)
        latest = latest_data_version(conn)
        # Loaded before, with another load since: unchanged only if it would change no stored row.
        same_rows = (latest is not None and latest["details"].get("sha256") != digest
                     and digest_loaded_before(conn, digest)
                     and all(rows_stored_as(conn, name, _frame_for_write(src)) for name, src in by_table.items()))
    rejects = [r for s in by_table.values() for r in sorted(s.rejects, key=lambda r: r.row)]
    result = LoadResult(
        rejects=rejects,
        rejected_rows=sum(int(s.frame["_bad"].sum()) for s in by_table.values()),
        sha256=digest,
        counts={t: int(_accepted(s).sum()) for t, s in by_table.items()},
        notes=[f"{s.file}: read as {s.encoding}" for s in by_table.values() if s.encoding]
        + [f"{s.file}" + (f" layer {s.layer}" if s.layer else "") + f": CRS {s.labels['_crs']}" for s in by_table.values() if "_crs" in s.labels],
    )
    if latest is not None and (latest["details"].get("sha256") == digest or same_rows):
        result.unchanged = True
        result.data_version = latest["id"]
        return result
    if not any(result.counts.values()):
        return result
    with engine.begin() as conn:  # one transaction: all accepted rows or nothing
        for i, (name, src) in enumerate(by_table.items()):
            report(f"write {name}", len(by_table) + 1 + i, total)
            frame = _frame_for_write(src)
            if name == "customers" and len(frame):
                kept = _keep_manual_corrections(conn, src, frame)
                result.rejects += kept  # loaded, but a field was refused: reported and counted
                result.rejected_rows += len({r.row for r in kept})
            if len(frame):
                bulk.bulk_upsert(conn, name, frame)
                if name == "customers":  # their search rows, in the same transaction
                    reindex_customers(conn, frame["account_no"].tolist())
        result.data_version = record_data_version(conn, source_label, {
            "sha256": digest, "counts": result.counts, "rejected_rows": result.rejected_rows,
        })
    report("done", total, total)
    return result

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

from collections.abc import Callable

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from gis.models import Base
from gis.tables import references
from gis.validation import BBox, meter_box_transformer_reason
from loaders.checks import check_columns, check_geometry
from loaders.core import LoadResult, as_reject, content_hash, unchanged_version, write_load
from loaders.mapping import ID_COLUMN, TABLE_ORDER
from loaders.sources import SourceFrame
from loaders.sources import objects as _objects

__all__ = ["REFERENCES", "LoadResult", "content_hash", "run_load"]

Progress = Callable[[str, int, int], None]

#: (table, column, referenced table): every reference a loaded row must resolve (from the models).
REFERENCES: tuple[tuple[str, str, str], ...] = tuple(
    (ref.table, ref.column, ref.target) for name in TABLE_ORDER for ref in references(name))


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
    in one transaction (:func:`loaders.core.write_load`). Returns counts and every rejected row;
    nothing is written when no row is accepted or when the load is unchanged
    (:func:`loaders.core.unchanged_version`)."""
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
        tables = {name: _frame_for_write(src) for name, src in by_table.items()}
        same = unchanged_version(conn, digest, tables)
    rejects = [r for s in by_table.values() for r in sorted(s.rejects, key=lambda r: r.row)]
    result = LoadResult(
        rejects=rejects,
        rejected_rows=sum(int(s.frame["_bad"].sum()) for s in by_table.values()),
        sha256=digest,
        counts={t: int(_accepted(s).sum()) for t, s in by_table.items()},
        notes=[f"{s.file}: read as {s.encoding}" for s in by_table.values() if s.encoding]
        + [f"{s.file}" + (f" layer {s.layer}" if s.layer else "") + f": CRS {s.labels['_crs']}" for s in by_table.values() if "_crs" in s.labels],
    )
    if same is not None:
        result.unchanged = True
        result.data_version = same
        return result
    if not any(result.counts.values()):
        return result
    customers = by_table.get("customers")
    source_rows = customers.frame["_row"].to_numpy()[_accepted(customers)] if customers is not None else None
    kept_line = None if customers is None else (
        lambda k: as_reject(k, layer=customers.layer or "", label=customers.label(k.field)))
    report("write", len(by_table) + 1, total)
    return write_load(engine, tables, result, source=source_label, source_rows=source_rows,
                      source_file=customers.file if customers is not None else "customers.csv",
                      progress=progress, kept_are_rejects=kept_line)

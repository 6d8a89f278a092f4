"""Reading and writing the grid–customer store with plain tables (no ORM objects on hot paths).

* :func:`upsert_rows` writes rows atomically in batches, inserting or updating by id on
  both stores (``INSERT … ON CONFLICT DO UPDATE``), so a re-run of a load is idempotent.
* :func:`read_asset_tables` returns the grid as pandas DataFrames (lon/lat columns, no
  geometry objects) for the topology compiler; it is what an API process loads at start.
* :func:`query_layer` answers the map's layer requests: features intersecting a bbox,
  found through the spatial index (GiST / R*Tree) and tested exactly, stable ordering by id, and paging.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import LargeBinary, Table, func, select, text, type_coerce
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from gis.dialects import for_dialect
from gis.errors import InvalidInput, NotFound
from gis.models import Base

__all__ = [
    "digest_loaded_before",
    "rows_stored_as",
    "LAYERS",
    "LayerPage",
    "upsert_rows",
    "read_asset_tables",
    "read_assets",
    "read_customer_points",
    "read_map_geometries",
    "snapshot_connection",
    "query_layer",
    "latest_data_version",
    "record_data_version",
    "table_counts",
]

#: Map layers served to clients: layer name -> (table, id column, public property columns).
LAYERS: Mapping[str, tuple[str, str, tuple[str, ...]]] = {
    "substations": ("substations", "id", ("id", "name", "voltage_kv", "bus_node")),
    "nodes": ("nodes", "id", ("id", "kind", "voltage_kv", "substation_id")),
    "segments": ("segments", "id", ("id", "node_a", "node_b", "kind", "length_m", "in_service", "feeder_id")),
    "switches": ("switches", "id", ("id", "name", "kind", "node_a", "node_b", "normal_open", "feeder_id")),
    "transformers": ("transformers", "id", ("id", "name", "hv_node", "lv_node", "rated_kva", "in_service", "feeder_id")),
    "meter_boxes": ("meter_boxes", "id", ("id", "node", "transformer_id")),
    # Customers on the map carry no PII: names, phones and addresses come from the
    # customer view, where the caller's role decides what is shown.
    "customers": ("customers", "account_no", ("account_no", "category", "sensitivity", "transformer_id", "meter_box_id", "location_quality")),
}

_BATCH = 5000


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def upsert_rows(conn: Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert or update ``rows`` (dicts keyed by column, geometry as shapely) by primary key.

    Runs inside the caller's transaction: the caller's ``engine.begin()`` makes a whole
    load atomic. Returns the number of rows written.
    """
    if not rows:
        return 0
    tbl = _table(table)
    pk = [c.name for c in tbl.primary_key.columns]
    insert = pg_dialect.insert if conn.dialect.name == "postgresql" else sqlite_dialect.insert
    cols = list(rows[0].keys())
    stmt = insert(tbl)
    update = {c: stmt.excluded[c] for c in cols if c not in pk}
    stmt = stmt.on_conflict_do_update(index_elements=pk, set_=update) if update else stmt.on_conflict_do_nothing()
    for start in range(0, len(rows), _BATCH):
        conn.execute(stmt, list(rows[start : start + _BATCH]))
    return len(rows)


def _frame(conn: Connection, table: str, columns: Iterable[str], *, point_xy: bool) -> pd.DataFrame:
    tbl = _table(table)
    names = list(columns)
    cols = [tbl.c[c] for c in names]
    pg = conn.dialect.name == "postgresql"
    if point_xy:  # coordinates without a shapely object per row (that took 20 s for 1M customers)
        cols += [func.ST_X(tbl.c.geom), func.ST_Y(tbl.c.geom)] if pg else [type_coerce(tbl.c.geom, LargeBinary)]
    # Ordered by id: the topology compiler maps sorted ids without a hash table (2× faster at 1M).
    result = conn.execute(select(*cols).order_by(*tbl.primary_key.columns))
    # plain tuples: pandas probes every SQLAlchemy Row for namedtuple fields, 10 s per 1M rows
    rows = [tuple(row) for row in result.all()]
    width = len(names)
    df = pd.DataFrame([row[:width] for row in rows] if point_xy else rows, columns=names)
    if point_xy:
        if not rows:
            lon = lat = np.empty(0, dtype=np.float64)
        elif pg:
            lon = np.fromiter((row[width] for row in rows), dtype=np.float64, count=len(rows))
            lat = np.fromiter((row[width + 1] for row in rows), dtype=np.float64, count=len(rows))
        else:
            blobs = np.fromiter((row[width] for row in rows), dtype=object, count=len(rows))
            coords = shapely.get_coordinates(shapely.from_wkb(blobs))
            lon, lat = coords[:, 0].copy(), coords[:, 1].copy()
        df["lon"], df["lat"] = lon, lat
    return df


_ASSET_SPEC: dict[str, tuple[tuple[str, ...], bool]] = {
    "nodes": (("id", "kind", "voltage_kv", "substation_id"), True),
    "substations": (("id", "name", "voltage_kv", "bus_node"), True),
    "feeders": (("id", "name", "substation_id", "head_switch_id"), False),
    "segments": (("id", "node_a", "node_b", "kind", "in_service", "feeder_id"), False),
    "switches": (("id", "name", "kind", "node_a", "node_b", "normal_open", "feeder_id"), False),
    "transformers": (("id", "name", "hv_node", "lv_node", "rated_kva", "in_service", "feeder_id"), True),
    "meter_boxes": (("id", "node", "transformer_id"), True),
    "customers": (
        ("account_no", "supply_node", "meter_box_id", "transformer_id", "sensitivity", "category", "location_quality"),
        True,
    ),
}


def read_customer_points(conn: Connection) -> pd.DataFrame:
    """The customers' grid columns with ``lon``/``lat``, ordered by account number (as :func:`read_assets`)."""
    columns, point_xy = _ASSET_SPEC["customers"]
    return _frame(conn, "customers", columns, point_xy=point_xy)


def read_map_geometries(conn: Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the map tiles need beyond :func:`read_assets`: switches' ``id, lon, lat`` and
    segments' ``id, geom`` (shapely LineStrings, decoded in one vectorized call), ordered by id."""
    switch_xy = _frame(conn, "switches", ("id",), point_xy=True)
    tbl = _table("segments")
    geom = func.ST_AsBinary(tbl.c.geom) if conn.dialect.name == "postgresql" else type_coerce(tbl.c.geom, LargeBinary)
    rows = conn.execute(select(tbl.c.id, geom).order_by(tbl.c.id)).all()
    ids = [row[0] for row in rows]
    blobs = np.fromiter((None if row[1] is None else bytes(row[1]) for row in rows), dtype=object, count=len(rows))
    return switch_xy, pd.DataFrame({"id": ids, "geom": shapely.from_wkb(blobs) if len(rows) else blobs})


def read_asset_tables(engine: Engine) -> dict[str, pd.DataFrame]:
    """The grid as DataFrames keyed like :class:`topology.GridAssets` expects (one snapshot)."""
    with snapshot_connection(engine) as conn:
        return read_assets(conn)


@contextmanager
def snapshot_connection(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction in which every read sees one snapshot (REPEATABLE READ on PostGIS;
    SQLite's read transaction already is one in WAL mode)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def read_assets(conn: Connection) -> dict[str, pd.DataFrame]:
    """:func:`read_asset_tables` inside the caller's (snapshot) transaction."""
    out = {name: _frame(conn, name, cols, point_xy=xy) for name, (cols, xy) in _ASSET_SPEC.items()}
    for name, col in (("segments", "in_service"), ("switches", "normal_open"), ("transformers", "in_service")):
        out[name][col] = out[name][col].astype(bool)
    return out


@dataclass(frozen=True)
class LayerPage:
    """One page of a layer: GeoJSON features plus the paging facts the API turns into links."""

    features: list[dict[str, Any]]
    number_matched: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + len(self.features)
        return nxt if nxt < self.number_matched else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def query_layer(
    conn: Connection,
    layer: str,
    *,
    bbox: tuple[float, float, float, float] | None,
    limit: int,
    offset: int = 0,
) -> LayerPage:
    """A page of ``layer`` as GeoJSON features, optionally within ``bbox`` (lon/lat)."""
    if layer not in LAYERS:
        raise NotFound(f"unknown layer {layer!r}; layers: {', '.join(LAYERS)}", field="layer", value=layer)
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        if not (minx <= maxx and miny <= maxy):
            raise InvalidInput("bbox must be minlon,minlat,maxlon,maxlat with min ≤ max", field="bbox", value=",".join(map(str, bbox)))
    table, id_col, props = LAYERS[layer]
    tbl = _table(table)
    where = []
    if bbox is not None:
        clause = for_dialect(conn.dialect.name).bbox_clause(table, "geom", bbox)
        where.append(clause)
    count_q = select(func.count()).select_from(tbl)
    page_q = select(*[tbl.c[c] for c in props], tbl.c.geom).order_by(tbl.c[id_col]).limit(limit).offset(offset)
    for clause in where:
        count_q = count_q.where(clause)
        page_q = page_q.where(clause)
    matched = conn.execute(count_q).scalar_one()
    rows = conn.execute(page_q).fetchall()
    features = []
    for row in rows:
        mapping = row._mapping
        geom = mapping["geom"]
        features.append(
            {
                "type": "Feature",
                "id": mapping[id_col],
                "geometry": shapely.geometry.mapping(geom) if geom is not None else None,
                "properties": {c: _jsonable(mapping[c]) for c in props},
            }
        )
    return LayerPage(features=features, number_matched=matched, offset=offset, limit=limit)


def latest_data_version(conn: Connection) -> dict[str, Any] | None:
    """The newest data-version row as a dict (id, loaded_at, source, details), or None."""
    tbl = _table("data_versions")
    row = conn.execute(select(tbl).order_by(tbl.c.id.desc()).limit(1)).first()
    return None if row is None else dict(row._mapping)


def record_data_version(conn: Connection, source: str, details: Mapping[str, Any]) -> int:
    """Append a data-version row (in the load's transaction) and return its id."""
    result = conn.execute(
        _table("data_versions").insert().values(source=source, details=dict(details), loaded_at=func.now())
    )
    return int(result.inserted_primary_key[0])


def digest_loaded_before(conn: Connection, digest: str) -> bool:
    """Whether some data version was loaded from content with this ``sha256`` (data_versions is small)."""
    tbl = _table("data_versions")
    return any((details or {}).get("sha256") == digest for details in conn.execute(select(tbl.c.details)).scalars())


def _same_value(a: object, b: object) -> bool:
    a_missing = a is None or (isinstance(a, float) and a != a)
    b_missing = b is None or (isinstance(b, float) and b != b)
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, shapely.Geometry) or isinstance(b, shapely.Geometry):
        return (isinstance(a, shapely.Geometry) and isinstance(b, shapely.Geometry)
                and shapely.to_wkb(a) == shapely.to_wkb(b))
    if isinstance(a, pd.Timestamp):
        a = a.date() if isinstance(b, dt.date) and not isinstance(b, dt.datetime) else a.to_pydatetime()
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and (a.tzinfo is None) != (b.tzinfo is None):
        # SQLite hands back the UTC time it stored without its zone: compare both as UTC
        a, b = (v.astimezone(dt.timezone.utc).replace(tzinfo=None) if v.tzinfo is not None else v for v in (a, b))
    return a == b


def rows_stored_as(conn: Connection, table: str, frame: pd.DataFrame) -> bool:
    """Whether every row of ``frame`` (model columns, geometry as shapely) is stored with exactly
    these values, so upserting it would change nothing. Columns the frame lacks are not compared."""
    tbl = _table(table)
    pk = next(iter(tbl.primary_key.columns)).name
    names = [c for c in frame.columns if c in tbl.c]
    ids = frame[pk].tolist()
    stored: dict[object, tuple] = {}
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        for row in conn.execute(select(*[tbl.c[c] for c in names]).where(tbl.c[pk].in_(chunk))):
            stored[row[names.index(pk)]] = tuple(row)
    if len(stored) != len(set(ids)):
        return False
    for values in frame[names].itertuples(index=False, name=None):
        have = stored[values[names.index(pk)]]
        if not all(_same_value(a, b) for a, b in zip(values, have)):
            return False
    return True


def table_counts(conn: Connection, tables: Iterable[str]) -> dict[str, int]:
    return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}

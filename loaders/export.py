"""``gridatlas export OUT.gpkg|OUT.geojson``: the store back out as GIS files, for a round trip.

A GeoPackage gets one layer per table (feeders, which have no geometry, as an attribute
table); GeoJSON gets one file, or one file per table (``OUT.<table>.geojson``) when several
are exported. Beside the output an identity mapping (``OUT.mapping.toml``) is written, so
``gridatlas import layers OUT.mapping.toml`` reads the export back into the same rows.
Customers are exported with their personal data: treat the files as confidential.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from sqlalchemy import select
from sqlalchemy.engine import Engine

from gis.errors import InvalidInput
from gis.models import Base
from loaders.mapping import GEOMETRY_TYPES, ID_COLUMN, TABLE_ORDER, identity_mapping

__all__ = ["export_store", "EXPORT_FORMATS"]

EXPORT_FORMATS = (".gpkg", ".geojson")


def _read(engine: Engine, table: str) -> pd.DataFrame:
    tbl = Base.metadata.tables[table]
    with engine.connect() as conn:
        result = conn.execute(select(tbl).order_by(tbl.c[ID_COLUMN[table]]))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _frame(df: pd.DataFrame, table: str) -> pd.DataFrame:
    if table not in GEOMETRY_TYPES:
        return df
    return gpd.GeoDataFrame(df.drop(columns="geom"), geometry=gpd.GeoSeries(df["geom"].to_numpy(), crs=4326), crs=4326)


def export_store(engine: Engine, out: Path, tables: list[str] | None = None) -> dict[str, int]:
    """Write ``tables`` (default: every grid and customer table) to ``out``; returns row counts."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise InvalidInput(f"export to .gpkg or .geojson, not {out.name}", field="out", value=str(out))
    tables = list(tables) if tables else list(TABLE_ORDER)
    unknown = [t for t in tables if t not in TABLE_ORDER]
    if unknown:
        raise InvalidInput(f"unknown layer {unknown[0]!r}; layers: {', '.join(TABLE_ORDER)}", field="layers", value=unknown[0])
    tables = [t for t in TABLE_ORDER if t in tables]
    if suffix == ".gpkg" and out.exists():
        out.unlink()  # a fresh file: stale layers of an earlier export must not survive
    counts: dict[str, int] = {}
    per_file: dict[str, str] = {}
    for table in tables:
        df = _frame(_read(engine, table), table)
        counts[table] = len(df)
        if suffix == ".gpkg":
            pyogrio.write_dataframe(df, out, layer=table, driver="GPKG", append=out.exists())
        else:
            target = out if len(tables) == 1 else out.with_name(f"{out.stem}.{table}.geojson")
            if table not in GEOMETRY_TYPES:
                df = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([None] * len(df), crs=4326), crs=4326)
            pyogrio.write_dataframe(df, target, driver="GeoJSON", layer=table)
            per_file[table] = target.name
    mapping = identity_mapping(out.name, tables, per_table_source=per_file if suffix == ".geojson" else None)
    out.with_name(out.name + ".mapping.toml").write_text(mapping, encoding="utf-8")
    return counts

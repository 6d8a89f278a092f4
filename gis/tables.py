"""Table metadata derived from the models (:mod:`gis.models`), so that no loader keeps its own list.

Write order, id columns, columns, required columns, references and geometry types all come from
SQLAlchemy's ``Table`` objects: a column or a foreign key added to a model reaches every loader
and export that asks here. Two references cannot be foreign keys because they close a cycle
(a substation's bus node is a node of that substation; a feeder's head switch is a switch of
that feeder); they are declared once, in :data:`UNDECLARED_REFERENCES`.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Table

from gis.geometry_type import Geometry
from gis.models import Base

__all__ = [
    "GRID_TABLES", "LOADED_TABLES", "UNDECLARED_REFERENCES", "Reference",
    "table", "id_column", "columns", "required_columns", "references", "geometry_type", "write_order",
]


class Reference(NamedTuple):
    """``table.column`` names a row of ``target`` (by its id); ``nullable``: may be empty."""

    table: str
    column: str
    target: str
    nullable: bool


#: References the store cannot enforce (they close a cycle with a foreign key), as (table, column, target).
UNDECLARED_REFERENCES: tuple[tuple[str, str, str], ...] = (
    ("substations", "bus_node", "nodes"),
    ("feeders", "head_switch_id", "switches"),
)


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def write_order(names: set[str] | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``names`` with every table after the tables its foreign keys reference (SQLAlchemy's
    dependency sort of the models; ties in its stable order)."""
    wanted = set(names)
    unknown = wanted - set(Base.metadata.tables)
    if unknown:
        raise KeyError(f"not a table of gis.models: {sorted(unknown)}")
    return tuple(str(t.name) for t in Base.metadata.sorted_tables if t.name in wanted)  # str: not quoted_name


#: The grid's tables (everything a network load writes before its customers), in write order.
GRID_TABLES = write_order({"substations", "nodes", "feeders", "segments", "switches", "transformers", "meter_boxes"})
#: What the GIS/archive loaders load and ``gridatlas export`` writes: the grid, then the customers.
LOADED_TABLES = GRID_TABLES + ("customers",)


def id_column(name: str) -> str:
    """The single primary-key column of table ``name``."""
    (key,) = table(name).primary_key.columns
    return str(key.name)


def columns(name: str, *, geometry: bool = True) -> tuple[str, ...]:
    """The columns of table ``name`` in model order (without ``geom`` when ``geometry`` is false)."""
    return tuple(str(c.name) for c in table(name).columns if geometry or not isinstance(c.type, Geometry))


def required_columns(name: str) -> tuple[str, ...]:
    """Columns a row must give: not nullable, no default, not the geometry (checked on its own)."""
    return tuple(str(c.name) for c in table(name).columns
                 if not c.nullable and c.default is None and c.server_default is None and not isinstance(c.type, Geometry))


def references(name: str) -> tuple[Reference, ...]:
    """Every reference of table ``name``: its foreign keys (model order) and its undeclared ones."""
    tbl = table(name)
    out = [Reference(name, str(c.name), str(fk.column.table.name), bool(c.nullable))
           for c in tbl.columns for fk in c.foreign_keys]
    out += [Reference(t, c, target, bool(tbl.columns[c].nullable)) for t, c, target in UNDECLARED_REFERENCES if t == name]
    return tuple(out)


def geometry_type(name: str) -> str | None:
    """The GeoJSON geometry type of table ``name``'s ``geom`` column ("Point", "LineString"…), or None."""
    for c in table(name).columns:
        if isinstance(c.type, Geometry):
            return {"POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon",
                    "MULTIPOLYGON": "MultiPolygon", "MULTILINESTRING": "MultiLineString"}.get(c.type.geometry_type)
    return None

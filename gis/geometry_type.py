"""A geometry column type that is PostGIS ``geometry`` on PostgreSQL and WKB on SQLite.

One model set serves both stores: on PostGIS the column is geoalchemy2's
``Geometry(type, 4326)`` (so ST_* functions and GiST indexes work), on SQLite it is a
plain BLOB of ISO WKB that needs no system package (SpatiaLite is not required); the
SQLite bounding-box index is a separate R*Tree table kept by ``gis.dialects.sqlite``.
Python code always sees shapely geometries in WGS 84 lon/lat.
"""

from __future__ import annotations

import shapely
from geoalchemy2 import Geometry as _PgGeometry
from geoalchemy2.shape import to_shape
from sqlalchemy import LargeBinary
from sqlalchemy.types import TypeDecorator

__all__ = ["Geometry", "SRID"]

SRID = 4326


class Geometry(TypeDecorator):
    """Shapely geometry in EPSG:4326, stored natively on PostGIS and as WKB on SQLite."""

    impl = LargeBinary
    cache_ok = True
    # geoalchemy2's DDL events inspect these on every geometry-like column; spatial
    # indexes are created explicitly by the migrations, identically on both stores.
    spatial_index = False
    use_N_D_index = False

    def __init__(self, geometry_type: str = "GEOMETRY") -> None:
        super().__init__()
        self.geometry_type = geometry_type.upper()

    def __repr__(self) -> str:  # rendered into migrations by Alembic
        return f"Geometry({self.geometry_type!r})"

    def _pg_type(self) -> _PgGeometry:
        return _PgGeometry(self.geometry_type, srid=SRID, spatial_index=False)

    def load_dialect_impl(self, dialect):  # noqa: D401 - SQLAlchemy hook
        # geoalchemy2's DDL hooks call this with dialect=None; answer with the PostGIS type.
        if dialect is None or dialect.name == "postgresql":
            return self._pg_type() if dialect is None else dialect.type_descriptor(self._pg_type())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, shapely.Geometry):
            raise TypeError(f"expected a shapely geometry, got {type(value).__name__}")
        if dialect.name == "postgresql":
            return f"SRID={SRID};" + shapely.to_wkt(value, rounding_precision=-1)
        return shapely.to_wkb(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            return to_shape(value)
        return shapely.from_wkb(value)

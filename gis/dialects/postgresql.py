"""PostGIS specifics: the extension check, GiST indexes and the ``&&`` bounding-box filter."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.errors import StoreUnavailable

__all__ = [
    "configure_engine",
    "ensure_postgis",
    "create_spatial_index",
    "drop_spatial_index",
    "rebuild_spatial_index",
    "bbox_clause",
]


def configure_engine(engine: Engine) -> None:
    """Nothing per connection: PostGIS functions live in the database."""


def ensure_postgis(bind) -> str:
    """Create the postgis extension if missing; return its version or raise StoreUnavailable."""
    try:
        bind.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        return bind.execute(text("SELECT postgis_lib_version()")).scalar_one()
    except Exception as exc:  # the driver's error says why (not installed, no privilege)
        raise StoreUnavailable(
            "PostGIS is not available in this database; install it "
            "(Debian: apt-get install postgresql-15-postgis-3) or use a sqlite:/// URL",
            field="database_url",
        ) from exc


def _index(table: str, column: str) -> str:
    return f"ix_{table}_{column}_gist"


def create_spatial_index(bind, table: str, column: str) -> None:
    bind.execute(text(f"CREATE INDEX IF NOT EXISTS {_index(table, column)} ON {table} USING GIST ({column})"))


def rebuild_spatial_index(bind, table: str, column: str) -> None:
    bind.execute(text(f"REINDEX INDEX {_index(table, column)}"))


def drop_spatial_index(bind, table: str, column: str) -> None:
    bind.execute(text(f"DROP INDEX IF EXISTS {_index(table, column)}"))


def bbox_clause(table: str, column: str, bbox: tuple[float, float, float, float]):
    """SQL selecting rows whose geometry intersects ``bbox`` (GiST candidates, exact test)."""
    minx, miny, maxx, maxy = bbox
    return text(
        f"ST_Intersects({table}.{column}, ST_MakeEnvelope(:bb_minx, :bb_miny, :bb_maxx, :bb_maxy, 4326))"
    ).bindparams(bb_minx=minx, bb_miny=miny, bb_maxx=maxx, bb_maxy=maxy)

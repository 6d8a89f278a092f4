"""The compiled topology an API process serves, swapped atomically when the data version changes."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from gis.grid_tiles import GridTiles, build_grid_tiles
from gis.search import CallerIndex, build_caller_index
from gis.spatial_index import SpatialIndex, build_spatial_index
from gis.store import latest_data_version, read_assets, read_map_geometries, snapshot_connection
from topology import GridAssets, TopologyIndex, compile_index, segment_loads

__all__ = ["GridSnapshot", "TopologyHolder", "load_snapshot"]


@dataclass(frozen=True)
class GridSnapshot:
    """Everything the hot paths need for one data version (immutable)."""

    version: int
    assets: GridAssets
    index: TopologyIndex
    spatial: SpatialIndex  # customers, meter boxes, 台区 hulls: map click and viewport
    callers: CallerIndex | None = None  # exact phone / 尾号 / 户号 lookups (gis.search)
    tiles: GridTiles | None = None  # the map's level-of-detail grid tiles (gis.grid_tiles)


def load_snapshot(engine: Engine, *, tile_cache_bytes: int = 64 * 1024 * 1024) -> GridSnapshot | None:
    """Read the grid from the store and compile it; None when the store holds no data yet.

    The data version and every table are read in one snapshot transaction, so the version a
    snapshot carries is exactly the data it holds, even while a load commits. In-memory
    indexes of other packages are built here from the same ``conn``.
    """
    with snapshot_connection(engine) as conn:
        latest = latest_data_version(conn)
        if latest is None:
            return None
        tables = read_assets(conn)
        callers = build_caller_index(conn, tables["customers"])
        switch_xy, segment_geoms = read_map_geometries(conn)
    assets = GridAssets.from_tables(tables, version=str(latest["id"]))
    index = compile_index(assets)
    tiles = build_grid_tiles(int(latest["id"]), tables, switch_xy, segment_geoms, segment_loads(index),
                             cache_bytes=tile_cache_bytes)
    return GridSnapshot(version=int(latest["id"]), assets=assets, index=index,
                        spatial=build_spatial_index(tables), callers=callers, tiles=tiles)


class TopologyHolder:
    """Holds the current snapshot; readers take a reference, a reload replaces it whole."""

    def __init__(self, engine: Engine, *, tile_cache_bytes: int = 64 * 1024 * 1024) -> None:
        self._engine = engine
        self._tile_cache_bytes = tile_cache_bytes
        self._snapshot: GridSnapshot | None = None
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> GridSnapshot | None:
        return self._snapshot

    def refresh(self) -> GridSnapshot | None:
        """Recompile if the store's data version moved on; requests keep the old one meanwhile."""
        with self._lock:
            with self._engine.connect() as conn:
                latest = latest_data_version(conn)
            if latest is None:
                self._snapshot = None
            elif self._snapshot is None or self._snapshot.version != latest["id"]:
                self._snapshot = load_snapshot(self._engine, tile_cache_bytes=self._tile_cache_bytes)
            return self._snapshot

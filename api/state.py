"""The compiled topology an API process serves, swapped atomically when the data version changes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from sqlalchemy.engine import Engine

from gis.contacts import latest_history_id
from gis.grid_tiles import GridTiles, build_grid_tiles
from gis.point_lookup import PointLookup
from gis.search import CallerIndex, build_caller_index
from gis.search.overlay import CallerOverlay, OverlaidIndex, catch_up
from gis.quality_index import QualityIndex, build_quality_index
from gis.spatial_index import SpatialIndex, build_spatial_index
from gis.store import latest_data_version, read_assets, read_map_geometries, snapshot_connection
from interactions.heat import HeatAreas
from topology import GridAssets, TopologyIndex, compile_index, segment_loads

__all__ = ["GridSnapshot", "LazyHeatAreas", "TopologyHolder", "load_snapshot"]


@dataclass(frozen=True)
class GridSnapshot:
    """Everything the hot paths need for one data version (immutable)."""

    version: int
    assets: GridAssets
    index: TopologyIndex
    spatial: SpatialIndex  # customers, meter boxes, 台区 hulls: map click and viewport
    callers: CallerIndex | None = None  # exact phone / 尾号 / 户号 lookups (gis.search)
    # contact changes after the index was read (issue 18): kept current by TopologyHolder.follow_contacts
    overlay: CallerOverlay = field(default_factory=CallerOverlay)
    # customers per H3 cell / 台区 / feeder (interactions.heat): built on first use, see `heat`
    heat_areas: LazyHeatAreas | None = None
    tiles: GridTiles | None = None  # the map's level-of-detail grid tiles (gis.grid_tiles)
    # where point equipment stands, by id (the trouble-call layer places devices and 台区 with them)
    switch_points: PointLookup | None = None
    transformer_points: PointLookup | None = None

    @property
    def heat(self) -> HeatAreas | None:
        """The heat areas of this version, built by the first request that needs them (a few seconds
        at 1M customers: every customer's H3 cell) and kept for the version's lifetime, so a new data
        version is served without waiting for them."""
        return self.heat_areas.get() if self.heat_areas is not None else None
    # contact verification and findings per customer (issue 18); follows contact changes like the overlay
    quality: QualityIndex | None = None

    @property
    def caller_index(self) -> OverlaidIndex | None:
        """The caller index with the contact changes made since it was built."""
        return OverlaidIndex(self.callers, self.overlay) if self.callers is not None else None


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
        mark = latest_history_id(conn)
        quality = build_quality_index(conn, tables)
        switch_xy, segment_geoms = read_map_geometries(conn)
    assets = GridAssets.from_tables(tables, version=str(latest["id"]))
    index = compile_index(assets)
    spatial = build_spatial_index(tables)
    tiles = build_grid_tiles(int(latest["id"]), tables, switch_xy, segment_geoms, segment_loads(index),
                             cache_bytes=tile_cache_bytes)
    return GridSnapshot(version=int(latest["id"]), assets=assets, index=index,
                        spatial=spatial, callers=callers, overlay=CallerOverlay(mark),
                        heat_areas=LazyHeatAreas(tables, spatial), tiles=tiles,
                        switch_points=PointLookup.from_frame(tables["switches"][["id", "name"]].merge(switch_xy, on="id")),
                        transformer_points=PointLookup.from_frame(tables["transformers"]), quality=quality)


class LazyHeatAreas:
    """:func:`heat_areas` of one data version, computed once on first :meth:`get` (thread-safe);
    holds only the columns it needs until then."""

    def __init__(self, tables: dict, spatial: SpatialIndex) -> None:
        c = tables["customers"]
        self._inputs: dict | None = {
            "customers": c[["lon", "lat", "transformer_id"]].copy(), "transformers": tables["transformers"][["id", "feeder_id"]].copy()}
        self._spatial = spatial
        self._value: HeatAreas | None = None
        self._lock = threading.Lock()

    def get(self) -> HeatAreas:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                assert self._inputs is not None
                self._value = heat_areas(self._inputs, self._spatial)
                self._inputs = None
            return self._value


def heat_areas(tables: dict, spatial: SpatialIndex) -> HeatAreas:
    """Customers per heat area of this data version (each customer's cells computed once here)."""
    customers = tables["customers"]
    tr = tables["transformers"]
    feeders = {str(t): str(f) for t, f in zip(tr["id"], tr["feeder_id"]) if isinstance(f, str) and f}
    return HeatAreas(customers["lon"].to_numpy(float), customers["lat"].to_numpy(float),
                     customers["transformer_id"].to_numpy(object), feeders, spatial.hull_ids, spatial.hulls)


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
                fresh = load_snapshot(self._engine, tile_cache_bytes=self._tile_cache_bytes)
                if fresh is not None and self._snapshot is not None:  # changes the new index has not seen carry over
                    fresh = replace(fresh, overlay=self._snapshot.overlay.rebased(fresh.overlay.mark))
                self._snapshot = fresh
            return self._snapshot

    def follow_contacts(self) -> int:
        """Bring the current snapshot's contact overlay up to date with the store; returns the changes read."""
        snapshot = self._snapshot
        if snapshot is None or snapshot.callers is None:
            return 0
        total = 0
        with self._engine.connect() as conn:
            while (n := catch_up(conn, snapshot.overlay)) > 0:
                total += n
                if n < 1000:
                    break
            if snapshot.quality is not None:
                while snapshot.quality.catch_up(conn) >= 1000:
                    pass
        return total

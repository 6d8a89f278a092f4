"""The grid as map tiles with a level of detail: what the map draws depends on the zoom.

The map never downloads a whole layer: it asks for Web Mercator tiles ``z/x/y`` (the
XYZ / OGC "WebMercatorQuad" scheme Leaflet uses) and gets the grid features of that tile as
a GeoJSON FeatureCollection whose content depends on the tile's zoom band:

==========  ============  ============================================================
band        tile zoom     content
==========  ============  ============================================================
``city``    ≤ 14          substations + each feeder's MV network merged and simplified
                          to ~1.5 px at the zoom, only segments carrying many
                          customers (``layer = "trunk"``, :func:`trunk_share`)
``district`` 15 – 16      substations, MV segments, switches, transformers (台区)
``street``  ≥ 17          the district content + LV lines and meter boxes
==========  ============  ============================================================

Customers are not in the tiles: the map takes them from the clustered viewport
(:meth:`gis.spatial_index.SpatialIndex.viewport`).

Everything is answered from arrays held in memory for one data version (built once per
version, like the topology index): points by a vectorized bbox test, lines through a shapely
``STRtree`` and clipped to the tile (a segment crossing tiles is drawn piecewise, each
piece once). Points belong to exactly one tile (west and south edges inclusive). Encoded tiles
are kept in a byte-bounded LRU per index, so a tile is computed once per data version.

512-px tiles (``size=512``, Leaflet's ``tileSize: 512, zoomOffset: -1``): tile ``z/x/y`` covers the
area of the 256-px tile ``z/x/y`` with the content of zoom ``z + 1`` (what its four children hold
together, lines clipped once to the larger box). A 1280×800 view needs 6–12 of them instead of
20–30 256-px tiles: fewer requests per move (the rate limit, the queue on a busy server) for
about the same bytes.

Rejected alternative (measured on the 1M sample city, see ``bench/README.md``): Mapbox
Vector Tiles were not built this round; GeoJSON tiles already meet the byte and time
budgets and need no client-side decoder.
"""

from __future__ import annotations

import gzip
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely

from gis.errors import InvalidInput, NotFound

__all__ = ["GridTiles", "build_grid_tiles", "tile_bounds", "band_of", "CITY_MAX_ZOOM", "STREET_MIN_ZOOM", "MAX_TILE_ZOOM",
           "TILE_SIZES"]

CITY_MAX_ZOOM = 14                          # zoom 14 tiles of every MV line were ~19 kB gzipped: 600 kB a view at 1M
MIN_TRUNK_ZOOM = 8                          # trunks of lower zooms are built on first use
STREET_MIN_ZOOM = 17
MAX_TILE_ZOOM = 22
TILE_SIZES = (256, 512)                     # a 512-px tile z/x/y holds zoom z + 1's content over tile z/x/y's area
_TRUNK_TOLERANCE_PX = 1.5
_EARTH_M_PER_DEG = 111_320.0


def trunk_share(z: int) -> float:
    """The share of its feeder's customers an MV segment must carry to be drawn as trunk at city
    zoom ``z``: 5 % at zoom 14, doubling per zoom level out, at most 80 % (a feeder shows its
    main line, and its big branches as one zooms in)."""
    return min(0.8, 0.05 * (1 << max(0, CITY_MAX_ZOOM - z)))


def band_of(z: int) -> str:
    """The level of detail of tile zoom ``z``: ``city``, ``district`` or ``street``."""
    if z <= CITY_MAX_ZOOM:
        return "city"
    return "street" if z >= STREET_MIN_ZOOM else "district"


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) in WGS 84 degrees of Web Mercator tile ``z/x/y``."""
    if not 0 <= z <= MAX_TILE_ZOOM:
        raise InvalidInput(f"tile zoom must be 0–{MAX_TILE_ZOOM}", field="z", value=z)
    n = 1 << z
    # A column or row beyond the zoom's matrix is a tile that does not exist (404, as OGC API Tiles says)
    if not 0 <= x < n:
        raise NotFound(f"no such tile: x must be 0–{n - 1} at zoom {z}", field="x", value=x)
    if not 0 <= y < n:
        raise NotFound(f"no such tile: y must be 0–{n - 1} at zoom {z}", field="y", value=y)

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


@dataclass(frozen=True)
class _Points:
    lon: np.ndarray
    lat: np.ndarray
    props: list[dict[str, Any]]            # one dict per point, JSON-ready


@dataclass(frozen=True)
class _Lines:
    geoms: np.ndarray                      # shapely LineStrings
    tree: shapely.STRtree
    props: list[dict[str, Any]]
    feeders: np.ndarray                    # feeder id per line (object), for the legend


def _empty_lines() -> _Lines:
    geoms = np.empty(0, dtype=object)
    return _Lines(geoms, shapely.STRtree(geoms), [], np.empty(0, dtype=object))


def _lines(geoms: np.ndarray, props: list[dict[str, Any]], feeders: np.ndarray) -> _Lines:
    return _Lines(geoms, shapely.STRtree(geoms), props, feeders) if len(geoms) else _empty_lines()


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _records(df: pd.DataFrame, columns: dict[str, str]) -> list[dict[str, Any]]:
    """Rows of ``df`` as dicts with ``columns`` renamed (source -> output), NaN as None."""
    cols = {out: df[src].tolist() if src in df.columns else [None] * len(df) for src, out in columns.items()}
    names = list(cols)
    return [{k: _clean(v) for k, v in zip(names, values)} for values in zip(*cols.values())] if len(df) else []


@dataclass
class GridTiles:
    """The tiles of one data version; thread-safe (the cache has its own lock)."""

    version: int
    substations: _Points
    switches: _Points
    transformers: _Points
    meter_boxes: _Points
    mv: _Lines
    lv: _Lines
    _mv_loads: pd.DataFrame                 # in-service MV segments: feeder_id, geom, customers carried, share of the feeder's
    cache_bytes: int = 64 * 1024 * 1024
    _trunks: dict[int, _Lines] = field(default_factory=dict)
    _segment_at: dict[str, tuple[_Lines, int]] | None = None
    _cache: OrderedDict[tuple[int, int, int, int], bytes] = field(default_factory=OrderedDict)
    _cached: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ public
    def prewarm(self, max_zoom: int, size: int = 512) -> int:
        """Build (into the cache) every ``size``-px tile over the grid's bounds whose content is that of zoom 10
        to ``max_zoom`` (the map's tiles: 512 px); returns how many."""
        bounds = self.bounds()
        if bounds is None:
            return 0
        west, south, east, north = bounds
        built = 0
        shift = _lod_shift(size)
        for z in range(10 - shift, max_zoom - shift + 1):
            n = 1 << z
            x0, x1 = (int((v + 180) / 360 * n) for v in (west, east))
            y0, y1 = (int((1 - math.asinh(math.tan(math.radians(v))) / math.pi) / 2 * n) for v in (north, south))
            for x in range(max(0, x0), min(n - 1, x1) + 1):
                for y in range(max(0, y0), min(n - 1, y1) + 1):
                    self.tile(z, x, y, size)
                    built += 1
        return built

    def cached(self, z: int, x: int, y: int, size: int = 256) -> bytes | None:
        """The encoded tile if it was built before (no work: safe on an event loop), else None."""
        key = (z, x, y, size)
        with self._lock:
            body = self._cache.get(key)
            if body is not None:
                self._cache.move_to_end(key)
            return body

    def tile(self, z: int, x: int, y: int, size: int = 256) -> bytes:
        """The GeoJSON FeatureCollection of the ``size``-px tile ``z/x/y``, gzip-compressed UTF-8 JSON
        (GeoJSON compresses ~15×; the cache keeps the compressed bytes), from the cache when built before."""
        key = (z, x, y, size)
        with self._lock:
            body = self._cache.get(key)
            if body is not None:
                self._cache.move_to_end(key)
                return body
        body = gzip.compress(orjson.dumps(self.features(z, x, y, size)), compresslevel=5, mtime=0)
        with self._lock:
            if key not in self._cache and len(body) <= self.cache_bytes:
                self._cache[key] = body
                self._cached += len(body)
                while self._cached > self.cache_bytes:
                    _, old = self._cache.popitem(last=False)
                    self._cached -= len(old)
        return body

    def features(self, z: int, x: int, y: int, size: int = 256) -> dict[str, Any]:
        """The tile as a dict: ``features`` (points, clipped lines), ``band``, ``feeders`` in the tile.

        ``size`` 512: the area of tile ``z/x/y`` with the content of zoom ``z + 1`` (``lod`` in the answer).
        """
        lod = z + _lod_shift(size)
        if lod > MAX_TILE_ZOOM:
            raise NotFound(f"no {size}-px tile at zoom {z}: the deepest is {MAX_TILE_ZOOM - _lod_shift(size)}",
                           field="z", value=z)
        box = tile_bounds(z, x, y)
        z = lod                                   # what is drawn (band, trunks, rounding) follows the level of detail
        band = band_of(z)
        digits = 5 if band == "city" else 6       # ~1 m and ~0.1 m: well under a pixel at those zooms
        features: list[dict[str, Any]] = []
        feeders: set[str] = set()
        if band == "city":
            features += self._clip(self._trunk_lines(z), box, digits, feeders)
        else:
            features += self._clip(self.mv, box, digits, feeders)
            if band == "street":
                features += self._clip(self.lv, box, digits, None)
        features += _points_in(self.substations, box, "substation", digits)
        if band != "city":
            features += _points_in(self.switches, box, "switch", digits)
            features += _points_in(self.transformers, box, "transformer", digits)
            if band == "street":
                features += _points_in(self.meter_boxes, box, "meter_box", digits)
        for f in features:
            fid = f["properties"].get("feeder_id")
            if fid:
                feeders.add(fid)
        return {"type": "FeatureCollection", "tile": [lod - _lod_shift(size), x, y], "size": size, "lod": lod,
                "band": band, "data_version": self.version,
                "feeders": sorted(feeders), "features": features}

    def bounds(self) -> tuple[float, float, float, float] | None:
        """(west, south, east, north) of every line and point, or None for an empty grid."""
        boxes = []
        for lines in (self.mv, self.lv):
            if len(lines.geoms):
                boxes.append(shapely.total_bounds(lines.geoms))
        for pts in (self.substations, self.switches, self.transformers, self.meter_boxes):
            if len(pts.lon):
                boxes.append(np.array([pts.lon.min(), pts.lat.min(), pts.lon.max(), pts.lat.max()]))
        if not boxes:
            return None
        b = np.vstack(boxes)
        return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())

    def segments(self, ids: list[str]) -> dict[str, Any]:
        """Whole (unclipped) segments by id, as a FeatureCollection in the order asked; ``missing``
        lists ids that are not segments of this version (the map's supply-path and impact highlights)."""
        with self._lock:
            if self._segment_at is None:
                at: dict[str, tuple[_Lines, int]] = {}
                for lines in (self.mv, self.lv):
                    for i, p in enumerate(lines.props):
                        at[str(p["id"])] = (lines, i)
                self._segment_at = at
            at = self._segment_at
        features, missing = [], []
        for sid in ids:
            hit = at.get(sid)
            if hit is None:
                missing.append(sid)
                continue
            lines, i = hit
            xy = np.round(shapely.get_coordinates(lines.geoms[i]), 7).tolist()
            features.append({"type": "Feature", "id": sid, "geometry": {"type": "LineString", "coordinates": xy},
                             "properties": lines.props[i]})
        return {"type": "FeatureCollection", "features": features, "missing": missing, "data_version": self.version}

    # ------------------------------------------------------------------ helpers
    def _trunk_lines(self, z: int) -> _Lines:
        """Each feeder's trunk at zoom ``z``: its in-service MV segments that carry at least
        :func:`trunk_share` of the feeder's customers, merged and simplified to ~1.5 px (built once per zoom)."""
        with self._lock:
            got = self._trunks.get(z)
        if got is not None:
            return got
        tol = _TRUNK_TOLERANCE_PX * 360.0 / (256 * (1 << z))     # degrees per pixel × px
        mv = self._mv_loads
        chosen = mv[mv["share"].to_numpy() >= trunk_share(z)]
        geoms, props, feeders = [], [], []
        for feeder, group in chosen.groupby("feeder_id", sort=True):
            merged = shapely.line_merge(shapely.multilinestrings(group["geom"].to_numpy()))
            simple = shapely.simplify(merged, tol, preserve_topology=False)
            parts = shapely.get_parts(simple)
            parts = parts[shapely.length(parts) >= tol]            # shorter than the tolerance: invisible
            for part in parts:
                geoms.append(part)
                props.append({"layer": "trunk", "id": str(feeder), "feeder_id": str(feeder)})
                feeders.append(str(feeder))
        built = _lines(np.array(geoms, dtype=object), props, np.array(feeders, dtype=object))
        with self._lock:
            self._trunks[z] = built
        return built

    def _clip(self, lines: _Lines, box: tuple[float, float, float, float], digits: int, feeders: set[str] | None) -> list[dict[str, Any]]:
        if not len(lines.geoms):
            return []
        west, south, east, north = box
        idx = np.sort(lines.tree.query(shapely.box(west, south, east, north)))
        if not len(idx):
            return []
        clipped = shapely.clip_by_rect(lines.geoms[idx], west, south, east, north)
        parts, owner = shapely.get_parts(clipped, return_index=True)
        keep = ~shapely.is_empty(parts) & (shapely.get_type_id(parts) == 1)
        parts, owner = parts[keep], owner[keep]
        if not len(parts):
            return []
        coords, which = shapely.get_coordinates(parts, return_index=True)
        coords = np.round(coords, digits)
        cuts = np.flatnonzero(np.diff(which)) + 1
        out = []
        for k, xy in zip(owner.tolist(), np.split(coords, cuts)):
            src = int(idx[k])
            out.append({"type": "Feature", "id": lines.props[src]["id"],
                        "geometry": {"type": "LineString", "coordinates": xy.tolist()},
                        "properties": lines.props[src]})
        return out


def _lod_shift(size: int) -> int:
    """How many zooms deeper than its address a tile of ``size`` px draws (256: 0, 512: 1)."""
    if size not in TILE_SIZES:
        raise InvalidInput(f"tile size {size} px is not served; one of {', '.join(map(str, TILE_SIZES))}",
                           field="size", value=size)
    return TILE_SIZES.index(size)


def _points_in(points: _Points, box: tuple[float, float, float, float], layer: str, digits: int) -> list[dict[str, Any]]:
    west, south, east, north = box
    lon, lat = points.lon, points.lat
    hit = np.flatnonzero((lon >= west) & (lon < east) & (lat >= south) & (lat < north))
    return [{"type": "Feature", "id": points.props[i]["id"],
             "geometry": {"type": "Point", "coordinates": [round(float(lon[i]), digits), round(float(lat[i]), digits)]},
             "properties": points.props[i]} for i in hit.tolist()]


def _point_set(df: pd.DataFrame, layer: str, columns: dict[str, str]) -> _Points:
    props = _records(df, columns)
    for p in props:
        p["layer"] = layer
    return _Points(df["lon"].to_numpy(dtype=np.float64), df["lat"].to_numpy(dtype=np.float64), props)


def build_grid_tiles(
    version: int,
    tables: dict[str, pd.DataFrame],
    switch_xy: pd.DataFrame,
    segment_geoms: pd.DataFrame,
    segment_loads: pd.DataFrame | None = None,
    *,
    cache_bytes: int = 64 * 1024 * 1024,
    prewarm_max_zoom: int = CITY_MAX_ZOOM + 1,
) -> GridTiles:
    """Build the tile index of one data version.

    ``tables``: the snapshot's asset frames (:func:`gis.store.read_assets`); ``switch_xy``:
    ``id, lon, lat`` of the switches; ``segment_geoms``: ``id, geom`` (shapely LineStrings) of
    the segments; ``segment_loads``: ``id, customers`` carried per segment in the normal state
    (:func:`topology.segment_loads`), which picks the city-zoom trunks. Segments join their
    attributes by id; a segment without geometry is not drawn. The tiles over the grid up to
    ``prewarm_max_zoom`` (the city band and the densest district zoom: ~200 tiles, ~5 s at 1M) are
    built here, with the snapshot, so the first views never wait for them.
    """
    segs = tables["segments"].merge(segment_geoms, on="id", how="inner")
    segs = segs[~shapely.is_missing(segs["geom"].to_numpy())]
    is_lv = (segs["kind"] == "lv_cable").to_numpy()
    seg_cols = {"id": "id", "kind": "kind", "feeder_id": "feeder_id", "in_service": "in_service",
                "node_a": "node_a", "node_b": "node_b"}

    def line_set(frame: pd.DataFrame, layer: str) -> _Lines:
        props = _records(frame, seg_cols)
        for p in props:
            p["layer"] = layer
        return _lines(frame["geom"].to_numpy(), props, frame["feeder_id"].to_numpy(dtype=object))

    mv_frame, lv_frame = segs[~is_lv], segs[is_lv]
    loads = mv_frame[mv_frame["in_service"].astype(bool) & mv_frame["feeder_id"].notna()][["id", "feeder_id", "geom"]]
    if segment_loads is not None:
        loads = loads.merge(segment_loads[["id", "customers"]], on="id", how="left")
        loads["customers"] = loads["customers"].fillna(0).astype(np.int64)
    else:                                   # no topology: every MV segment counts as a trunk
        loads = loads.assign(customers=1)
    top = loads.groupby("feeder_id")["customers"].transform("max").to_numpy()
    loads["share"] = np.where(top > 0, loads["customers"].to_numpy() / np.maximum(top, 1), 1.0)
    switches = tables["switches"].merge(switch_xy, on="id", how="inner")
    tiles = GridTiles(
        version=version,
        substations=_point_set(tables["substations"], "substation", {"id": "id", "name": "name", "voltage_kv": "voltage_kv"}),
        switches=_point_set(switches, "switch", {"id": "id", "name": "name", "kind": "kind", "normal_open": "normal_open",
                                                  "feeder_id": "feeder_id", "node_a": "node_a", "node_b": "node_b"}),
        transformers=_point_set(tables["transformers"], "transformer", {"id": "id", "name": "name", "rated_kva": "rated_kva",
                                                                        "feeder_id": "feeder_id", "in_service": "in_service"}),
        meter_boxes=_point_set(tables["meter_boxes"], "meter_box", {"id": "id", "transformer_id": "transformer_id"}),
        mv=line_set(mv_frame, "mv"),
        lv=line_set(lv_frame, "lv"),
        _mv_loads=loads,
        cache_bytes=cache_bytes,
    )
    for z in range(MIN_TRUNK_ZOOM, CITY_MAX_ZOOM + 1):   # ~0.2 s each at 1M: not on a request
        tiles._trunk_lines(z)
    tiles.prewarm(prewarm_max_zoom)
    return tiles

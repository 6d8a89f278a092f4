"""Grid tiles as GeoJSON (what the map uses) against Mapbox Vector Tiles, on the same tiles of a served city.

    python bench/tiles_bench.py --store postgresql+psycopg://postgres@127.0.0.1/ga_x [--per-zoom 30]

For tiles around the city's centre at zoom 12 (city), 14, 15 (district) and 17 (street), all built from
the snapshot of the store's data version (``api.state.load_snapshot``):

* ``geojson``: :meth:`gis.grid_tiles.GridTiles.features` + orjson + gzip (level 5), uncached — what
  ``GET /api/v1/tiles/grid/{z}/{x}/{y}`` computes on a cache miss;
* ``mvt_python``: the same features encoded with ``mapbox-vector-tile`` (Web Mercator, extent 4096,
  one MVT layer per ``properties.layer``) + gzip — the SQLite path of an MVT design;
* ``st_asmvt`` (PostGIS stores, district and street zooms): ``ST_AsMVT`` / ``ST_AsMVTGeom`` over the
  store's tables for the same content (city-zoom trunks need the topology's loads, which SQL lacks) + gzip.

Prints JSON: per zoom and encoding, the median and range of milliseconds and gzipped bytes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.state import load_snapshot  # noqa: E402
from gis.db import make_engine  # noqa: E402
from gis.grid_tiles import band_of, tile_bounds  # noqa: E402

R = 6378137.0


def _merc(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.radians(lon) * R, np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * R


def _tiles_around(lon: float, lat: float, z: int, k: int) -> list[tuple[int, int, int]]:
    n = 1 << z
    cx = int((lon + 180) / 360 * n)
    cy = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    side = max(1, int(math.ceil(math.sqrt(k))))
    out = [(z, cx + dx, cy + dy) for dx in range(-(side // 2), side - side // 2) for dy in range(-(side // 2), side - side // 2)]
    return out[:k]


def _mvt(body: dict, z: int, x: int, y: int) -> bytes:
    import mapbox_vector_tile
    from shapely.geometry import LineString, Point

    w, s, e, n = tile_bounds(z, x, y)
    (mw, ms), (me, mn) = [tuple(v.item() for v in _merc(np.array([a]), np.array([b]))) for a, b in ((w, s), (e, n))]
    layers: dict[str, list] = {}
    for f in body["features"]:
        g = f["geometry"]
        xy = np.array([g["coordinates"]] if g["type"] == "Point" else g["coordinates"], dtype=float)
        mx, my = _merc(xy[:, 0], xy[:, 1])
        geom = Point(mx[0], my[0]) if g["type"] == "Point" else LineString(np.column_stack([mx, my]))
        props = {k: v for k, v in f["properties"].items() if v is not None and k != "layer"}
        layers.setdefault(f["properties"]["layer"], []).append({"geometry": geom, "properties": props, "id": None})
    if not layers:
        return b""
    return mapbox_vector_tile.encode([{"name": name, "features": feats} for name, feats in layers.items()],
                                     default_options={"quantize_bounds": (mw, ms, me, mn), "extents": 4096})


_ST_ASMVT = """
WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env, ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326) AS env4326),
mv AS (SELECT s.id, s.kind, s.feeder_id, s.in_service, s.node_a, s.node_b,
              ST_AsMVTGeom(ST_Transform(s.geom, 3857), b.env) AS geom
       FROM segments s, b WHERE s.geom && b.env4326 AND (s.kind <> 'lv_cable' OR :street)),
sw AS (SELECT w.id, w.name, w.kind, w.normal_open, w.feeder_id, ST_AsMVTGeom(ST_Transform(w.geom, 3857), b.env) AS geom
       FROM switches w, b WHERE w.geom && b.env4326),
tr AS (SELECT t.id, t.name, t.rated_kva, t.feeder_id, ST_AsMVTGeom(ST_Transform(t.geom, 3857), b.env) AS geom
       FROM transformers t, b WHERE t.geom && b.env4326),
mb AS (SELECT m.id, m.transformer_id, ST_AsMVTGeom(ST_Transform(m.geom, 3857), b.env) AS geom
       FROM meter_boxes m, b WHERE :street AND m.geom && b.env4326),
su AS (SELECT u.id, u.name, ST_AsMVTGeom(ST_Transform(u.geom, 3857), b.env) AS geom
       FROM substations u, b WHERE u.geom && b.env4326)
SELECT coalesce((SELECT ST_AsMVT(mv, 'mv') FROM mv), '') || coalesce((SELECT ST_AsMVT(sw, 'switch') FROM sw), '')
    || coalesce((SELECT ST_AsMVT(tr, 'transformer') FROM tr), '') || coalesce((SELECT ST_AsMVT(mb, 'meter_box') FROM mb), '')
    || coalesce((SELECT ST_AsMVT(su, 'substation') FROM su), '')
"""


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--per-zoom", type=int, default=25)
    args = parser.parse_args()
    from sqlalchemy import text

    engine = make_engine(args.store)
    t0 = time.perf_counter()
    snap = load_snapshot(engine)
    build_s = time.perf_counter() - t0
    tiles = snap.tiles
    w, s, e, n = tiles.bounds()
    centre = ((w + e) / 2, (s + n) / 2)
    out: dict = {"store": "postgis" if args.store.startswith("postgresql") else "sqlite", "snapshot_s": round(build_s, 1),
                 "load_average": os.getloadavg(), "zooms": {}}
    pg = args.store.startswith("postgresql")
    for z in (12, 14, 15, 17):
        rows: dict[str, dict[str, list[float]]] = {}

        def add(kind: str, ms: float, size: int) -> None:
            rows.setdefault(kind, {"ms": [], "gz_bytes": []})
            rows[kind]["ms"].append(ms)
            rows[kind]["gz_bytes"].append(size)

        for tz, tx, ty in _tiles_around(*centre, z, args.per_zoom):
            t = time.perf_counter()
            body = tiles.features(tz, tx, ty)
            gz = gzip.compress(orjson.dumps(body), compresslevel=5)
            add("geojson", (time.perf_counter() - t) * 1000, len(gz))
            t = time.perf_counter()
            mvt = gzip.compress(_mvt(body, tz, tx, ty), compresslevel=5)
            add("mvt_python", (time.perf_counter() - t) * 1000, len(mvt))
            if pg and band_of(z) != "city":
                with engine.connect() as conn:
                    t = time.perf_counter()
                    raw = conn.execute(text(_ST_ASMVT), {"z": tz, "x": tx, "y": ty, "street": band_of(z) == "street"}).scalar_one()
                    got = gzip.compress(bytes(raw), compresslevel=5)
                    add("st_asmvt", (time.perf_counter() - t) * 1000, len(got))
        out["zooms"][str(z)] = {kind: {"ms": _stats(v["ms"]), "gz_bytes": _stats(v["gz_bytes"])} for kind, v in rows.items()}
        print(json.dumps({z: out["zooms"][str(z)]}), file=sys.stderr, flush=True)
    engine.dispose()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

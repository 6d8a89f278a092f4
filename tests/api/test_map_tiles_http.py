"""The level-of-detail grid tiles over a live server, on both stores: content per zoom band, each
element exactly once, clipping, caching headers (ETag per data version, 304, gzip) and errors."""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from pathlib import Path

import httpx
import pytest

from api.state import load_snapshot
from gis.db import make_engine
from gis.grid_tiles import band_of, tile_bounds
from gis.store import record_data_version

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "foshan"
MANIFEST = json.loads((SAMPLE / "manifest.json").read_text(encoding="utf-8"))


def _tiles_over(bbox: list[float], z: int) -> list[tuple[int, int]]:
    n = 1 << z

    def col(lon: float) -> int:
        return int((lon + 180) / 360 * n)

    def row(lat: float) -> int:
        return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

    minx, miny, maxx, maxy = bbox
    return [(x, y) for x in range(col(minx), col(maxx) + 1) for y in range(row(maxy), row(miny) + 1)]


def _collect(client: httpx.Client, z: int) -> list[dict]:
    features = []
    for x, y in _tiles_over(MANIFEST["bbox"], z):
        r = client.get(f"/api/v1/tiles/grid/{z}/{x}/{y}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/geo+json"
        body = r.json()
        assert body["band"] == band_of(z) and body["tile"] == [z, x, y]
        west, south, east, north = tile_bounds(z, x, y)
        eps = 1e-5
        for f in body["features"]:
            coords = [f["geometry"]["coordinates"]] if f["geometry"]["type"] == "Point" else f["geometry"]["coordinates"]
            for lon, lat in coords:          # clipped to the tile
                assert west - eps <= lon <= east + eps and south - eps <= lat <= north + eps, (f["id"], lon, lat, (z, x, y))
        assert set(body["feeders"]) == {f["properties"]["feeder_id"] for f in body["features"] if f["properties"].get("feeder_id")}
        features += body["features"]
    return features


def _layer_ids(client: httpx.Client, layer: str) -> list[str]:
    return [f["id"] for f in client.get(f"/api/v1/layers/{layer}?limit=5000").json()["features"]]


def test_district_and_street_tiles_hold_every_element_once(client: httpx.Client) -> None:
    segments = client.get("/api/v1/layers/segments?limit=5000").json()["features"]
    mv = {f["id"] for f in segments if f["properties"]["kind"] != "lv_cable"}
    lv = {f["id"] for f in segments if f["properties"]["kind"] == "lv_cable"}
    for z in (15, 17):
        got = _collect(client, z)
        points = Counter((f["properties"]["layer"], f["id"]) for f in got if f["geometry"]["type"] == "Point")
        assert max(points.values()) == 1, "a point is in exactly one tile"
        by_layer: dict[str, set[str]] = {}
        for layer, fid in points:
            by_layer.setdefault(layer, set()).add(fid)
        for f in got:
            if f["geometry"]["type"] == "LineString":
                by_layer.setdefault(f["properties"]["layer"], set()).add(f["id"])
        assert by_layer["substation"] == set(_layer_ids(client, "substations"))
        assert by_layer["switch"] == set(_layer_ids(client, "switches"))
        assert by_layer["transformer"] == set(_layer_ids(client, "transformers"))
        assert by_layer["mv"] == mv
        if z == 17:
            assert by_layer["lv"] == lv
            assert by_layer["meter_box"] == set(_layer_ids(client, "meter_boxes"))
        else:
            assert "lv" not in by_layer and "meter_box" not in by_layer
        assert "trunk" not in by_layer


@pytest.mark.parametrize("z", [12, 14, 16])
def test_a_512_px_tile_holds_what_its_four_children_hold(client: httpx.Client, z: int) -> None:
    """512-px tile z/x/y = the 256-px tiles of zoom z + 1 under it: the same points, the same lines (clipped once
    to the larger box, so a line cut by the children's edges is one piece here), the same band and feeders."""
    for x, y in _tiles_over(MANIFEST["bbox"], z)[:6]:
        r = client.get(f"/api/v1/tiles/grid512/{z}/{x}/{y}")
        assert r.status_code == 200, r.text
        big = r.json()
        assert (big["tile"], big["size"], big["lod"], big["band"]) == ([z, x, y], 512, z + 1, band_of(z + 1))
        kids = [client.get(f"/api/v1/tiles/grid/{z + 1}/{2 * x + i}/{2 * y + j}").json() for i in (0, 1) for j in (0, 1)]
        points = lambda fs: sorted((f["properties"]["layer"], f["id"]) for f in fs if f["geometry"]["type"] == "Point")  # noqa: E731
        lines = lambda fs: {(f["properties"]["layer"], f["id"]) for f in fs if f["geometry"]["type"] == "LineString"}  # noqa: E731
        kid_features = [f for k in kids for f in k["features"]]
        assert points(big["features"]) == points(kid_features)
        assert lines(big["features"]) == lines(kid_features)
        assert set(big["feeders"]) == {fid for k in kids for fid in k["feeders"]}
        west, south, east, north = tile_bounds(z, x, y)
        for f in big["features"]:
            coords = [f["geometry"]["coordinates"]] if f["geometry"]["type"] == "Point" else f["geometry"]["coordinates"]
            assert all(west - 1e-5 <= lon <= east + 1e-5 and south - 1e-5 <= lat <= north + 1e-5 for lon, lat in coords)
    again = client.get(f"/api/v1/tiles/grid512/{z}/{x}/{y}", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_512_px_tile_addresses_are_checked(client: httpx.Client) -> None:
    r = client.get("/api/v1/tiles/grid512/22/0/0")
    assert r.status_code == 422 and "z" in r.text                 # its content would be zoom 23's
    r = client.get("/api/v1/tiles/grid512/15/99999/0")
    assert r.status_code == 404 and r.json()["field"] == "x"


def test_city_tiles_hold_substations_and_feeder_trunks_only(client: httpx.Client) -> None:
    got = _collect(client, 12)
    layers = Counter(f["properties"]["layer"] for f in got)
    assert set(layers) == {"substation", "trunk"}
    assert layers["substation"] == MANIFEST["counts"]["substations"]
    trunks = [f for f in got if f["properties"]["layer"] == "trunk"]
    mv = [f for f in client.get("/api/v1/layers/segments?limit=5000").json()["features"] if f["properties"]["kind"] != "lv_cable"]
    assert {f["properties"]["feeder_id"] for f in trunks} == {f["properties"]["feeder_id"] for f in mv if f["properties"]["in_service"]}
    # generalized: merged into far fewer lines with fewer vertices than the MV segments have
    assert len(trunks) < len(mv) / 2
    assert sum(len(f["geometry"]["coordinates"]) for f in trunks) < sum(len(f["geometry"]["coordinates"]) for f in mv) * 0.6


def test_tiles_are_cached_per_data_version_with_etag_and_gzip(client: httpx.Client, anonymous: httpx.Client) -> None:
    (x, y), z = _tiles_over(MANIFEST["bbox"], 15)[0], 15
    url = f"/api/v1/tiles/grid/{z}/{x}/{y}"
    first = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers["content-encoding"] == "gzip"
    version = first.json()["data_version"]
    assert first.headers["etag"] == f'W/"grid-{version}"'
    assert "no-cache" in first.headers["cache-control"]
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == first.json()
    stale = client.get(url, headers={"If-None-Match": 'W/"grid-0"'})
    assert stale.status_code == 200
    assert anonymous.get(url).status_code == 401


@pytest.mark.parametrize(("path", "field", "status"), [("/15/99999/0", "x", 404), ("/15/0/99999", "y", 404), ("/23/0/0", "z", 422)])
def test_tile_addresses_out_of_range_are_refused_naming_the_field(client: httpx.Client, path: str, field: str, status: int) -> None:
    r = client.get("/api/v1/tiles/grid" + path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text


def test_a_new_data_version_builds_new_tiles(city_store_url: str) -> None:
    engine = make_engine(city_store_url)
    try:
        before = load_snapshot(engine)
        with engine.begin() as conn:
            record_data_version(conn, "test", {"why": "tiles follow the data version"})
        after = load_snapshot(engine)
    finally:
        engine.dispose()
    assert before is not None and after is not None and before.tiles is not None and after.tiles is not None
    assert after.tiles.version == after.version != before.tiles.version
    (x, y) = _tiles_over(MANIFEST["bbox"], 16)[0]
    assert json.loads(gzip.decompress(after.tiles.tile(16, x, y)))["data_version"] == after.version


def test_tileset_names_bounds_and_bands(client: httpx.Client) -> None:
    info = client.get("/api/v1/tiles/grid").json()
    minx, miny, maxx, maxy = MANIFEST["bbox"]
    west, south, east, north = info["bounds"]
    assert minx <= west < east <= maxx and miny <= south < north <= maxy    # the grid, inside the city's bbox (customers too)
    for f in client.get("/api/v1/layers/segments?limit=5000").json()["features"]:
        for lon, lat in f["geometry"]["coordinates"]:
            assert west <= lon <= east and south <= lat <= north
    assert info["bands"] == {"city": [0, 14], "district": [15, 16], "street": [17, 22]}
    assert info["tiles"] == ["/api/v1/tiles/grid/{z}/{x}/{y}"]


def test_segments_by_id_are_whole_and_in_order(client: httpx.Client) -> None:
    layer = {f["id"]: f for f in client.get("/api/v1/layers/segments?limit=5000").json()["features"]}
    ids = sorted(layer)[:3][::-1]
    body = client.post("/api/v1/tiles/grid/segments", json={"ids": [*ids, "NOPE"]}).json()
    assert [f["id"] for f in body["features"]] == ids and body["missing"] == ["NOPE"]
    for f in body["features"]:
        got, want = f["geometry"]["coordinates"], layer[f["id"]]["geometry"]["coordinates"]
        assert len(got) == len(want) and all(a == pytest.approx(b, abs=1e-6) for a, b in zip(got, want))
    bad = client.post("/api/v1/tiles/grid/segments", json={"ids": [], "extra": 1})
    assert bad.status_code == 422

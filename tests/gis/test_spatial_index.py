"""The in-memory spatial index: exact nearest (against brute force) and exact viewport counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.errors import InvalidInput
from gis.spatial_index import SpatialIndex, cell_size, haversine_m


def _index(points: list[tuple[str, float, float, str | None, str | None]],
           boxes: list[tuple[str, float, float, str | None]] = (),
           transformers: list[tuple[str, float, float]] = ()) -> SpatialIndex:
    customers = pd.DataFrame(points, columns=["account_no", "lon", "lat", "sensitivity", "transformer_id"])
    customers["meter_box_id"] = None
    customers["category"] = "居民"
    mbs = pd.DataFrame(list(boxes), columns=["id", "lon", "lat", "transformer_id"])
    trs = pd.DataFrame(list(transformers), columns=["id", "lon", "lat"])
    return SpatialIndex(customers, mbs, trs)


# one metre east at 23° N is 1 / (111_195 * cos 23°) degrees of longitude
M_LON = 1 / (EARTH := 2 * math.pi * 6_371_008.8 / 360) / math.cos(math.radians(23.0))
M_LAT = 1 / EARTH

SMALL = [
    ("C1", 113.0, 23.0, None, "T1"),
    ("C2", 113.0 + 10 * M_LON, 23.0, "医院", "T1"),
    ("C3", 113.0, 23.0 + 30 * M_LAT, None, "T1"),
    ("C4", 113.0 + 200 * M_LON, 23.0, None, "T2"),
    ("C5", 113.0 + 210 * M_LON, 23.0 + 10 * M_LAT, None, "T2"),
    ("C6", 113.0 + 200 * M_LON, 23.0 + 10 * M_LAT, None, "T2"),
]


def test_nearest_small_case_exact() -> None:
    ix = _index(SMALL, boxes=[("MB1", 113.0 + 5 * M_LON, 23.0, "T1"), ("MB2", 113.0 + 205 * M_LON, 23.0, "T2")],
                transformers=[("T1", 113.0, 23.0), ("T2", 113.0 + 200 * M_LON, 23.0)])
    near = ix.nearest(113.0 + 1 * M_LON, 23.0, radius_m=25, k=5)
    assert [c.account_no for c in near.customers] == ["C1", "C2"]
    assert near.customers[0].distance_m == pytest.approx(1.0, abs=0.01)
    assert near.customers[1].distance_m == pytest.approx(9.0, abs=0.01)
    assert near.customers[1].sensitivity == "医院"
    assert near.meter_box is not None and near.meter_box.id == "MB1"
    assert near.meter_box.distance_m == pytest.approx(4.0, abs=0.01)
    assert near.transformer_id == "T1" and near.transformer_rule == "inside_area"
    # k limits, the radius excludes
    assert [c.account_no for c in ix.nearest(113.0, 23.0, radius_m=100, k=2).customers] == ["C1", "C2"]
    assert [c.account_no for c in ix.nearest(113.0, 23.0, radius_m=100, k=5).customers] == ["C1", "C2", "C3"]
    # inside T2's hull (triangle C4-C5-C6)
    inside = ix.nearest(113.0 + 203 * M_LON, 23.0 + 5 * M_LAT, radius_m=50, k=1)
    assert inside.transformer_id == "T2" and inside.transformer_rule == "inside_area"
    # nothing within the radius: empty, never an error
    far = ix.nearest(113.0 + 100 * M_LON, 23.0 + 100 * M_LAT, radius_m=20, k=5)
    assert far.customers == () and far.meter_box is None and far.transformer_id is None


def test_nearest_refuses_bad_input_naming_the_field() -> None:
    ix = _index(SMALL)
    with pytest.raises(InvalidInput) as info:
        ix.nearest(113.0, 23.0, radius_m=0)
    assert info.value.field == "radius_m"
    with pytest.raises(InvalidInput) as info:
        ix.nearest(113.0, 95.0, radius_m=10)
    assert info.value.field == "lat"
    with pytest.raises(InvalidInput) as info:
        ix.nearest(113.0, 23.0, radius_m=10, k=0)
    assert info.value.field == "k"


def _brute(points: np.ndarray, lon: float, lat: float, radius: float, k: int) -> list[tuple[float, int]]:
    d = haversine_m(lon, lat, points[:, 0], points[:, 1])
    hits = sorted((float(dd), i) for i, dd in enumerate(d) if dd <= radius)
    return hits[:k]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 300),
    span=st.sampled_from([0.001, 0.01, 0.3, 2.0]),     # 100 m … 200 km: the scale error must not matter
    base_lat=st.sampled_from([-45.0, 0.0, 23.0, 60.0]),
    radius=st.floats(1.0, 5000.0),
    k=st.integers(1, 12),
)
def test_nearest_matches_brute_force(seed: int, n: int, span: float, base_lat: float, radius: float, k: int) -> None:
    rng = np.random.default_rng(seed)
    pts = np.column_stack([113.0 + rng.random(n) * span, base_lat + rng.random(n) * span])
    ids = [f"C{i:05d}" for i in range(n)]
    ix = _index([(ids[i], pts[i, 0], pts[i, 1], None, None) for i in range(n)])
    qlon, qlat = 113.0 + rng.random() * span, base_lat + rng.random() * span
    got = ix.nearest(qlon, qlat, radius_m=radius, k=k).customers
    want = _brute(pts, qlon, qlat, radius, k)
    assert [round(c.distance_m, 6) for c in got] == [round(d, 6) for d, _ in want]
    # same set (ties may order differently between equal distances only)
    assert sorted(c.account_no for c in got) == sorted(ids[i] for _, i in want) or \
        len({round(d, 6) for d, _ in want}) < len(want)


def test_viewport_points_below_threshold_exact() -> None:
    ix = _index(SMALL)
    bbox = (113.0, 23.0, 113.0 + 10 * M_LON, 23.0 + 30 * M_LAT)   # edges included
    vp = ix.viewport(bbox, 18, max_points=10)
    assert vp.mode == "points"
    assert sorted(p["account_no"] for p in vp.points) == ["C1", "C2", "C3"]
    assert vp.count == 3 and vp.sensitive_count == 1


def test_viewport_clusters_above_threshold_exact() -> None:
    ix = _index(SMALL)
    bbox = (112.999, 22.999, 113.003, 23.001)
    vp = ix.viewport(bbox, 15, max_points=2, cluster_px=60)
    assert vp.mode == "clusters" and vp.count == 6 and vp.sensitive_count == 1
    # 60 px at zoom 15 is ~0.00206° of longitude: C1–C3 in one cell, C4–C6 in the next
    assert sorted(c["count"] for c in vp.clusters) == [3, 3]
    assert sum(c["sensitive_count"] for c in vp.clusters) == 1
    cw, ch = cell_size(15, 23.0, 60)
    for c in vp.clusters:   # the centroid lies in its cell
        assert c["cell"][0] * cw <= c["lon"] < (c["cell"][0] + 1) * cw
        assert c["cell"][1] * ch <= c["lat"] < (c["cell"][1] + 1) * ch


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 2000), zoom=st.sampled_from([12, 13.5, 15, 17]),
       threshold=st.integers(0, 500))
def test_viewport_counts_equal_the_bbox_count(seed: int, n: int, zoom: float, threshold: int) -> None:
    rng = np.random.default_rng(seed)
    pts = np.column_stack([113.0 + rng.random(n) * 0.05, 23.0 + rng.random(n) * 0.05])
    sens = rng.random(n) < 0.1
    ix = _index([(f"C{i}", pts[i, 0], pts[i, 1], "医院" if sens[i] else None, None) for i in range(n)])
    width = 1000 * 360 / (256 * 2 ** zoom)
    x0, y0 = 113.0 + rng.random() * 0.05, 23.0 + rng.random() * 0.05
    bbox = (x0 - width / 2, y0 - width / 3, x0 + width / 2, y0 + width / 3)
    inside = (pts[:, 0] >= bbox[0]) & (pts[:, 0] <= bbox[2]) & (pts[:, 1] >= bbox[1]) & (pts[:, 1] <= bbox[3])
    vp = ix.viewport(bbox, zoom, max_points=threshold)
    assert vp.count == int(inside.sum())
    assert vp.sensitive_count == int((inside & sens).sum())
    if vp.mode == "points":
        assert vp.count <= threshold
        assert sorted(p["account_no"] for p in vp.points) == sorted(f"C{i}" for i in np.flatnonzero(inside))
    else:
        assert vp.count > threshold
        assert sum(c["count"] for c in vp.clusters) == vp.count
        assert sum(c["sensitive_count"] for c in vp.clusters) == vp.sensitive_count
        assert len({tuple(c["cell"]) for c in vp.clusters}) == len(vp.clusters)


def test_viewport_refuses_a_bbox_too_large_for_the_zoom() -> None:
    ix = _index(SMALL)
    with pytest.raises(InvalidInput) as info:
        ix.viewport((112.0, 22.0, 114.0, 24.0), 17)
    assert info.value.field == "bbox" and "zoom 17" in str(info.value) and "zoom=17" in str(info.value.value)
    with pytest.raises(InvalidInput) as info:
        ix.viewport((112.0, 22.0, 114.0, 24.0), 30)
    assert info.value.field == "zoom"
    assert ix.viewport((112.0, 22.0, 114.0, 24.0), 8).count == 6


def test_each_sqlite_connection_owns_its_bounds_cache(tmp_path):
    """The ga_* trigger functions' one-entry cache belongs to one connection (a module-level one
    was shared by every thread's connections; the race itself cannot be forced deterministically)."""
    import shapely

    from gis.db import make_engine
    from gis.dialects.sqlite import ConnectionBounds

    engine = make_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    try:
        with engine.connect() as a, engine.connect() as b:
            caches = [c.connection._connection_record.info["gridatlas_bounds"] for c in (a, b)]
            assert all(isinstance(c, ConnectionBounds) for c in caches) and caches[0] is not caches[1]
            pa, pb = shapely.to_wkb(shapely.Point(1, 2)), shapely.to_wkb(shapely.box(3, 4, 5, 6))
            assert a.exec_driver_sql("SELECT ga_minx(?), ga_maxy(?)", (pa, pa)).one() == (1.0, 2.0)
            assert b.exec_driver_sql("SELECT ga_minx(?), ga_maxy(?)", (pb, pb)).one() == (3.0, 6.0)
            assert a.exec_driver_sql("SELECT ga_maxx(?)", (pa,)).one() == (1.0,)
    finally:
        engine.dispose()

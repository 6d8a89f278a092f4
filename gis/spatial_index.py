"""In-memory spatial index of customers, meter boxes and transformer areas (one per data version).

Built once by the API's snapshot loader from the asset tables it already holds (lon/lat
columns), then read-only. Two questions, both answered without the store:

* :meth:`SpatialIndex.nearest` — what is at a clicked point: the ``k`` nearest customers
  within ``radius_m`` metres (with their distance), the nearest meter box within the radius,
  and the transformer area (台区) containing the point.
* :meth:`SpatialIndex.viewport` — the customers in a bbox at a zoom level: every point up to
  ``max_points``, otherwise server-side grid clusters with counts and sensitive counts.

Method (nearest). Coordinates are scaled to metres about the data's mean latitude
(``x = R·cos φ0·λ``, ``y = R·φ``) and put in a :class:`scipy.spatial.cKDTree`. The scaled
distance differs from the great-circle distance by the factor ``cos φ / cos φ0`` along the
parallels, so the tree is searched with the radius widened by the largest such factor over
the data's latitude span (``_slack``); every candidate's distance is then recomputed with the
haversine formula on the mean-radius sphere (R = 6 371 008.8 m) and filtered and ranked on
that. The answer is therefore exact for haversine distances within the radius (the sphere
differs from the WGS 84 ellipsoid by at most ~0.5 %, far below the position quality of a
customer record). Cost: O(log n + candidates).

Method (transformer area). One convex hull per recorded 台区 (the customers' declared
``transformer_id``), buffered by ~11 m when a hull is degenerate (one or two customers),
in a shapely STRtree. A point inside several hulls gets the one whose transformer is
nearest; a point inside none gets none (the caller may fall back to the nearest customer's
台区). Built with vectorized shapely: about a second at 1M customers.

Method (viewport). Customers are sorted by longitude, so the bbox is a ``searchsorted``
slice plus a latitude mask. Clusters are cells of a global grid whose cell is
``cluster_px`` screen pixels at the zoom level (Web Mercator, 256-px tiles; square in metres
at the bbox's latitude), so clusters do not jump when the map pans; counts come from
``np.bincount`` over the cells of the bbox (O(points in bbox), no sort). A bbox wider or
taller than ``max_view_px`` pixels at the zoom is refused: it would not be a screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from gis.errors import InvalidInput

__all__ = [
    "SpatialIndex",
    "NearCustomer",
    "NearMeterBox",
    "Nearest",
    "Viewport",
    "build_spatial_index",
    "haversine_m",
    "EARTH_RADIUS_M",
    "MAX_RADIUS_M",
]

EARTH_RADIUS_M = 6_371_008.8
#: The largest click radius accepted (a click is local; larger areas are viewport questions).
MAX_RADIUS_M = 5_000.0
_HULL_BUFFER_DEG = 1e-4


def haversine_m(lon1: np.ndarray | float, lat1: np.ndarray | float,
                lon2: np.ndarray | float, lat2: np.ndarray | float) -> np.ndarray:
    """Great-circle distance in metres on the mean-radius sphere (vectorized)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


@dataclass(frozen=True)
class NearCustomer:
    account_no: str
    distance_m: float
    lon: float
    lat: float
    sensitivity: str | None
    transformer_id: str | None

    def to_dict(self) -> dict[str, object]:
        return {"account_no": self.account_no, "distance_m": round(self.distance_m, 2), "lon": self.lon,
                "lat": self.lat, "sensitivity": self.sensitivity, "transformer_id": self.transformer_id}


@dataclass(frozen=True)
class NearMeterBox:
    id: str
    distance_m: float
    lon: float
    lat: float
    transformer_id: str | None

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "distance_m": round(self.distance_m, 2), "lon": self.lon, "lat": self.lat,
                "transformer_id": self.transformer_id}


@dataclass(frozen=True)
class Nearest:
    """What is at a point: customers (nearest first), meter box, transformer area."""

    lon: float
    lat: float
    radius_m: float
    customers: tuple[NearCustomer, ...]
    meter_box: NearMeterBox | None
    transformer_id: str | None
    transformer_rule: str | None  # "inside_area" | "nearest_customer" | None

    def to_dict(self) -> dict[str, object]:
        return {
            "point": {"lon": self.lon, "lat": self.lat}, "radius_m": self.radius_m,
            "customers": [c.to_dict() for c in self.customers],
            "meter_box": self.meter_box.to_dict() if self.meter_box else None,
            "transformer_area": ({"transformer_id": self.transformer_id, "rule": self.transformer_rule}
                                 if self.transformer_id else None),
        }


@dataclass(frozen=True)
class Viewport:
    """Customers in a bbox: ``points`` (mode "points") or grid ``clusters`` (mode "clusters")."""

    bbox: tuple[float, float, float, float]
    zoom: float
    count: int
    sensitive_count: int
    mode: str
    points: list[dict[str, object]] = field(default_factory=list)
    clusters: list[dict[str, object]] = field(default_factory=list)
    cell_deg: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"bbox": list(self.bbox), "zoom": self.zoom, "count": self.count,
                                  "sensitive_count": self.sensitive_count, "mode": self.mode}
        if self.mode == "points":
            out["points"] = self.points
        else:
            out["clusters"] = self.clusters
            out["cell_deg"] = list(self.cell_deg) if self.cell_deg else None
        return out


def _str_or_none(values: np.ndarray) -> np.ndarray:
    """Object array with None for null / NaN / empty strings."""
    out = np.asarray(values, dtype=object).copy()
    mask = pd.isna(out) | (out == "")
    out[mask] = None
    return out


class _PointTree:
    """A cKDTree over locally scaled metres, with exact haversine refinement."""

    def __init__(self, lon: np.ndarray, lat: np.ndarray, lat0: float, slack: float) -> None:
        self.lon, self.lat = lon, lat
        self._kx = EARTH_RADIUS_M * math.cos(math.radians(lat0)) * math.pi / 180
        self._ky = EARTH_RADIUS_M * math.pi / 180
        self._slack = slack
        self.tree = (cKDTree(np.column_stack([lon * self._kx, lat * self._ky]), balanced_tree=False)
                     if len(lon) else None)

    def within(self, lon: float, lat: float, radius_m: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and haversine distances of the ``k`` nearest points within ``radius_m`` (sorted)."""
        if self.tree is None or k <= 0:
            return np.empty(0, dtype=np.intp), np.empty(0)
        q = (lon * self._kx, lat * self._ky)
        wide = radius_m * self._slack
        d, i = self.tree.query(q, k=k, distance_upper_bound=wide)
        d, i = np.atleast_1d(d), np.atleast_1d(i)
        found = i < self.tree.n
        if not found.any():
            return np.empty(0, dtype=np.intp), np.empty(0)
        # The k nearest by scaled distance bound the k nearest by true distance within `slack`.
        reach = min(wide, float(d[found].max()) * self._slack * self._slack) if found.all() else wide
        cand = np.asarray(self.tree.query_ball_point(q, reach), dtype=np.intp)
        true = haversine_m(lon, lat, self.lon[cand], self.lat[cand])
        keep = true <= radius_m
        cand, true = cand[keep], true[keep]
        order = np.lexsort((cand, true))[:k]       # ties: lower index first (deterministic)
        return cand[order], true[order]


class SpatialIndex:
    """Customers, meter boxes and 台区 hulls of one data version (see the module docstring)."""

    #: customer columns returned with each point (gathered per query, never copied whole)
    POINT_COLUMNS = ("account_no", "sensitivity", "category", "transformer_id", "meter_box_id", "location_quality")

    def __init__(self, customers: pd.DataFrame, meter_boxes: pd.DataFrame, transformers: pd.DataFrame) -> None:
        lon_all, lat_all = customers["lon"].to_numpy(float), customers["lat"].to_numpy(float)
        placed = np.flatnonzero(np.isfinite(lon_all) & np.isfinite(lat_all))
        order = placed[np.argsort(lon_all[placed], kind="stable")]
        self._row = order                         # sorted position -> table row
        self.lon = np.ascontiguousarray(lon_all[order])
        self.lat = np.ascontiguousarray(lat_all[order])
        n_rows = len(customers)
        self._cols = {name: (customers[name].to_numpy(object) if name in customers else np.full(n_rows, None, dtype=object))
                      for name in self.POINT_COLUMNS}
        sens = self._cols["sensitivity"]
        self.sensitive = (pd.notna(sens) & (sens != ""))[order]
        self.account_no = self._cols["account_no"][order]
        mb = meter_boxes[np.isfinite(meter_boxes["lon"].to_numpy(float)) & np.isfinite(meter_boxes["lat"].to_numpy(float))]
        self.mb_id = mb["id"].to_numpy(object)
        self.mb_lon, self.mb_lat = mb["lon"].to_numpy(float), mb["lat"].to_numpy(float)
        self.mb_transformer = _str_or_none(mb["transformer_id"].to_numpy(object))
        tr = transformers[np.isfinite(transformers["lon"].to_numpy(float))]
        self._tr_pos = dict(zip(tr["id"].tolist(), zip(tr["lon"].tolist(), tr["lat"].tolist())))

        lats = np.concatenate([self.lat, self.mb_lat])
        lat0 = float(lats.mean()) if len(lats) else 0.0
        lo, hi = (float(lats.min()), float(lats.max())) if len(lats) else (0.0, 0.0)
        c0, cmin = math.cos(math.radians(lat0)), math.cos(math.radians(max(abs(lo), abs(hi))))
        cmax = 1.0 if lo <= 0 <= hi else math.cos(math.radians(min(abs(lo), abs(hi))))
        # scaled/true along parallels is c0/cos φ; widen by the worst case (+1e-4 for the sphere's curvature)
        slack = max(c0 / cmin, cmax / c0, 1.0) * (1 + 1e-4)
        self.lat0 = lat0
        self._customers = _PointTree(self.lon, self.lat, lat0, slack)
        self._boxes = _PointTree(self.mb_lon, self.mb_lat, lat0, slack)
        self._build_hulls()

    # ------------------------------------------------------------------ build
    def _build_hulls(self) -> None:
        codes, ids = pd.factorize(pd.Series(self._cols["transformer_id"][self._row]), use_na_sentinel=True)
        has = codes >= 0
        if not has.any():
            self.hull_ids = np.empty(0, dtype=object)
            self.hulls = np.empty(0, dtype=object)
            self._hull_tree = None
            return
        order = np.argsort(codes[has], kind="stable")
        code = codes[has][order]
        x, y = self.lon[has][order], self.lat[has][order]
        keep = _hull_candidates(code, x, y, len(ids))
        hulls = shapely.convex_hull(shapely.multipoints(np.column_stack([x[keep], y[keep]]), indices=code[keep]))
        thin = shapely.get_type_id(hulls) != shapely.GeometryType.POLYGON
        if thin.any():
            hulls[thin] = shapely.buffer(hulls[thin], _HULL_BUFFER_DEG, quad_segs=4)
        self.hull_ids = np.asarray(ids, dtype=object)
        pos = pd.DataFrame(self._tr_pos.values(), index=list(self._tr_pos), columns=["lon", "lat"]) \
            if self._tr_pos else pd.DataFrame(columns=["lon", "lat"], dtype=float)
        located = pos.reindex(self.hull_ids)
        self._hull_tr_lon = located["lon"].to_numpy(float)
        self._hull_tr_lat = located["lat"].to_numpy(float)
        self.hulls = hulls
        self._hull_tree = shapely.STRtree(hulls)

    # ------------------------------------------------------------------ queries
    @property
    def n_customers(self) -> int:
        return len(self.lon)

    def column(self, name: str, idx: np.ndarray) -> list[object]:
        """Values of a :attr:`POINT_COLUMNS` column at sorted positions ``idx`` (None for null/NaN/"")."""
        return _str_or_none(self._cols[name][self._row[idx]]).tolist()

    def transformer_area_at(self, lon: float, lat: float) -> str | None:
        """The 台区 whose customer hull contains the point (nearest transformer among several, then id)."""
        if self._hull_tree is None:
            return None
        hits = self._hull_tree.query(shapely.Point(lon, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        if len(hits) == 1:
            return str(self.hull_ids[hits[0]])
        d = haversine_m(lon, lat, self._hull_tr_lon[hits], self._hull_tr_lat[hits])
        d = np.where(np.isfinite(d), d, np.inf)
        ids = self.hull_ids[hits].astype(str)
        return str(ids[np.lexsort((ids, d))[0]])

    def nearest(self, lon: float, lat: float, radius_m: float, k: int = 5) -> Nearest:
        """Customers (k nearest), the nearest meter box and the 台区 at a point, within ``radius_m``."""
        _check_point(lon, lat)
        if not (0 < radius_m <= MAX_RADIUS_M):
            raise InvalidInput(f"radius_m must be in (0, {MAX_RADIUS_M:g}] metres", field="radius_m", value=radius_m)
        if not (1 <= k <= 100):
            raise InvalidInput("k must be between 1 and 100", field="k", value=k)
        idx, dist = self._customers.within(lon, lat, radius_m, k)
        customers = tuple(
            NearCustomer(str(a), float(d), float(self.lon[i]), float(self.lat[i]), s, t)
            for i, d, a, s, t in zip(idx.tolist(), dist.tolist(), self.account_no[idx].tolist(),
                                     self.column("sensitivity", idx), self.column("transformer_id", idx))
        )
        bidx, bdist = self._boxes.within(lon, lat, radius_m, 1)
        box = None
        if len(bidx):
            b = int(bidx[0])
            box = NearMeterBox(str(self.mb_id[b]), float(bdist[0]), float(self.mb_lon[b]), float(self.mb_lat[b]),
                               self.mb_transformer[b])
        area, rule = self.transformer_area_at(lon, lat), "inside_area"
        if area is None and customers and customers[0].transformer_id is not None:
            area, rule = customers[0].transformer_id, "nearest_customer"
        return Nearest(lon, lat, radius_m, customers, box, area, rule if area else None)

    def _bbox_slice(self, bbox: tuple[float, float, float, float]) -> tuple[slice, np.ndarray]:
        """The lon-sorted slice overlapping ``bbox`` and the mask of its customers inside it (edges included)."""
        minx, miny, maxx, maxy = bbox
        a = int(np.searchsorted(self.lon, minx, side="left"))
        b = int(np.searchsorted(self.lon, maxx, side="right"))
        lat = self.lat[a:b]
        return slice(a, b), (lat >= miny) & (lat <= maxy)

    def in_bbox(self, bbox: tuple[float, float, float, float]) -> np.ndarray:
        """Indices (into the lon-sorted arrays) of the customers inside ``bbox`` (edges included)."""
        sl, mask = self._bbox_slice(bbox)
        return sl.start + np.flatnonzero(mask)

    def viewport(self, bbox: tuple[float, float, float, float], zoom: float, *, max_points: int = 2000,
                 cluster_px: int = 60, max_view_px: int = 4096) -> Viewport:
        """Customers in ``bbox`` at ``zoom``: points up to ``max_points``, else grid clusters."""
        check_viewport(bbox, zoom, max_view_px)
        idx = self.in_bbox(bbox)
        count = len(idx)
        # positions, not boolean masks: a gather by flatnonzero is ~10x faster than boolean indexing here
        sensitive = np.flatnonzero(self.sensitive[idx])
        sens = len(sensitive)
        if count <= max_points:
            cols = {name: self.column(name, idx) for name in self.POINT_COLUMNS}
            points = [
                {"account_no": a, "lon": x, "lat": y, "sensitivity": s, "category": c, "transformer_id": t,
                 "meter_box_id": m, "location_quality": q}
                for a, x, y, s, c, t, m, q in zip(
                    cols["account_no"], self.lon[idx].tolist(), self.lat[idx].tolist(), cols["sensitivity"],
                    cols["category"], cols["transformer_id"], cols["meter_box_id"], cols["location_quality"])
            ]
            return Viewport(bbox, zoom, count, sens, "points", points=points)
        clusters, cell = self.clusters(idx, bbox, zoom, cluster_px, sensitive=sensitive)
        return Viewport(bbox, zoom, count, sens, "clusters", clusters=clusters, cell_deg=cell)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """The table rows (positions in the customers table the index was built from) of sorted positions ``idx``."""
        return self._row[idx]

    def clusters(self, idx: np.ndarray, bbox: tuple[float, float, float, float], zoom: float, cluster_px: int, *,
                 sensitive: np.ndarray | None = None) -> tuple[list[dict[str, object]], tuple[float, float]]:
        """Grid clusters of the customers at sorted positions ``idx`` (inside ``bbox``; not empty): the
        global grid of ``cluster_px`` pixels at ``zoom``, each with its mean position and count;
        ``sensitive`` (positions into ``idx``) adds a sensitive count."""
        cw, ch = cell_size(zoom, (bbox[1] + bbox[3]) / 2, cluster_px)
        lon, lat = self.lon[idx], self.lat[idx]
        gx0, gy0 = math.floor(bbox[0] / cw), math.floor(bbox[1] / ch)
        cx = np.floor(lon / cw).astype(np.int64) - gx0
        cy = np.floor(lat / ch).astype(np.int64) - gy0
        nx = int(cx.max()) + 1
        key = cy * nx + cx
        size = int(key.max()) + 1
        counts = np.bincount(key, minlength=size)
        occupied = np.flatnonzero(counts)
        n = counts[occupied]
        sx = np.bincount(key, weights=lon, minlength=size)[occupied]
        sy = np.bincount(key, weights=lat, minlength=size)[occupied]
        # sensitive customers are few: count them on their own keys only
        ss = (np.bincount(key[sensitive], minlength=size)[occupied] if sensitive is not None
              else np.zeros(len(occupied), dtype=np.int64))
        clusters: list[dict[str, object]] = [
            {"lon": round(x, 7), "lat": round(y, 7), "count": int(c), "sensitive_count": int(s),
             "cell": [int(k % nx + gx0), int(k // nx + gy0)]}
            for x, y, c, s, k in zip((sx / n).tolist(), (sy / n).tolist(), n.tolist(), ss.tolist(), occupied.tolist())
        ]
        return clusters, (cw, ch)


_DIRECTIONS = np.radians(np.arange(0, 360, 45))


def _hull_candidates(code: np.ndarray, x: np.ndarray, y: np.ndarray, groups: int) -> np.ndarray:
    """Mask of the points that may be hull vertices of their group (Akl–Toussaint filter).

    ``code`` is sorted. Per group, the extreme points in eight directions form a convex
    octagon (counter-clockwise); a point strictly inside it is no hull vertex and is dropped.
    Degenerate edges are ignored, so a group with fewer than three distinct extremes keeps
    every point. The hull of the kept points equals the hull of all points. O(n).
    """
    starts = np.searchsorted(code, np.arange(groups))
    vx = np.empty((groups, len(_DIRECTIONS)))
    vy = np.empty_like(vx)
    for k, angle in enumerate(_DIRECTIONS):
        proj = x * math.cos(angle) + y * math.sin(angle)
        best = np.maximum.reduceat(proj, starts)
        hit = np.flatnonzero(proj == best[code])
        first = hit[np.unique(code[hit], return_index=True)[1]]
        vx[:, k], vy[:, k] = x[first], y[first]
    inside = np.ones(len(x), dtype=bool)
    for k in range(len(_DIRECTIONS)):
        ax, ay = vx[:, k][code], vy[:, k][code]
        ex = vx[:, (k + 1) % len(_DIRECTIONS)][code] - ax
        ey = vy[:, (k + 1) % len(_DIRECTIONS)][code] - ay
        cross = ex * (y - ay) - ey * (x - ax)
        inside &= (cross > 0) | ((ex == 0) & (ey == 0))
    return ~inside


def cell_size(zoom: float, lat: float, cluster_px: int) -> tuple[float, float]:
    """Cluster cell ``(dlon, dlat)`` in degrees: ``cluster_px`` pixels at ``zoom`` (Web Mercator)."""
    zoom_step = math.floor(zoom)  # one grid per integer zoom: fractional zooms keep their clusters
    cw = cluster_px * 360.0 / (256 * 2 ** zoom_step)
    return cw, cw * math.cos(math.radians(lat))


def check_viewport(bbox: tuple[float, float, float, float], zoom: float, max_view_px: int) -> None:
    """Refuse a bbox larger than ``max_view_px`` screen pixels at ``zoom`` (InvalidInput naming both)."""
    if not (0 <= zoom <= 22):
        raise InvalidInput("zoom must be between 0 and 22", field="zoom", value=zoom)
    minx, miny, maxx, maxy = bbox
    deg_per_px = 360.0 / (256 * 2 ** zoom)
    limit = max_view_px * deg_per_px
    if (maxx - minx) > limit or (maxy - miny) > limit:
        raise InvalidInput(
            f"bbox {maxx - minx:.4f}°×{maxy - miny:.4f}° is larger than {max_view_px} px at zoom {zoom:g} "
            f"(at most {limit:.4f}° per side): zoom in or send the visible bbox",
            field="bbox", value=f"{','.join(map(str, bbox))} at zoom={zoom:g}",
        )


def _check_point(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise InvalidInput("lon must be a WGS 84 longitude in [-180, 180]", field="lon", value=lon)
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise InvalidInput("lat must be a WGS 84 latitude in [-90, 90]", field="lat", value=lat)


def build_spatial_index(tables: dict[str, pd.DataFrame]) -> SpatialIndex:
    """The index of one data version from the asset tables (``customers``, ``meter_boxes``, ``transformers``)."""
    return SpatialIndex(tables["customers"], tables["meter_boxes"], tables["transformers"])

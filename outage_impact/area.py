"""The map area of a set of affected customers (shapely).

The area is the union of one convex hull per transformer area (台区), or per feeder for
customers without a transformer: it follows the shape of the outage (an L-shaped feeder
does not become a triangle) and costs O(n log n) in the points plus a union over the
groups, not over the points.  Hulls of one or two points or of collinear points are
buffered by ``BUFFER_DEG`` (about 11 m) so every part is a polygon; coordinates are
snapped to ``PRECISION_DEG`` (about 1 cm).  The result is
normalized (deterministic vertex order) and returned as a GeoJSON geometry dict, or
``None`` when no affected customer has coordinates.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import mapping

__all__ = ["impact_area", "BUFFER_DEG"]

BUFFER_DEG = 1e-4
PRECISION_DEG = 1e-7  # ~1 cm: keeps the GeoJSON short without changing the shape


def impact_area(lon: np.ndarray, lat: np.ndarray, groups: np.ndarray) -> dict | None:
    """GeoJSON geometry covering the points, grouped by ``groups`` (any sortable keys)."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return None
    _, codes = np.unique(np.asarray(groups, dtype=object)[ok].astype(str), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    coords = np.column_stack([lon[ok][order], lat[ok][order]])
    hulls = shapely.convex_hull(shapely.multipoints(coords, indices=codes[order]))
    thin = shapely.get_type_id(hulls) != shapely.GeometryType.POLYGON
    if thin.any():
        hulls = hulls.copy()
        hulls[thin] = shapely.buffer(hulls[thin], BUFFER_DEG, quad_segs=4)
    area = shapely.normalize(shapely.set_precision(shapely.union_all(hulls), PRECISION_DEG))
    return _lists(mapping(area))


def _lists(obj: object) -> object:
    """GeoJSON with lists instead of tuples (stable JSON and equality)."""
    if isinstance(obj, dict):
        return {k: _lists(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_lists(v) for v in obj]
    return obj

"""台区 / feeder outlines as GeoJSON geometries, shared by the heat and data-quality answers.

Each area's outline is the hull of its customers (``HeatAreas.shapes``); turning 12,404 of them into
GeoJSON costs seconds, so it is done once per data version (the ``HeatAreas`` object, held weakly) and
tolerance, vectorized with shapely.
"""

from __future__ import annotations

import threading
import weakref
from typing import Annotated, Any

import numpy as np
import orjson
import shapely
from fastapi import Query

from interactions.heat import HeatAreas

__all__ = ["SimplifyQ", "outlines"]

SimplifyQ = Annotated[float | None, Query(gt=0, le=0.01, description="GeoJSON of 台区 / feeder hulls: simplified to this "
                                           "tolerance in degrees (the map asks for ~1 px at city zooms); default: exact")]

_OUTLINES: "weakref.WeakKeyDictionary[HeatAreas, dict[tuple[str, float | None], dict[str, Any]]]" = weakref.WeakKeyDictionary()
_OUTLINES_LOCK = threading.Lock()
_OUTLINES_KEPT = 8  # tolerances kept per data version and area kind (the map asks for one per zoom)


def outlines(areas: HeatAreas, by: str, simplify: float | None) -> dict[str, Any]:
    """台区 / feeder id -> GeoJSON geometry of its customers' hull, built once per data version (``areas``) and
    tolerance, vectorized: per area in each request it cost seconds for a city of 12,404 台区."""
    key = (by, simplify)
    with _OUTLINES_LOCK:
        memo = _OUTLINES.setdefault(areas, {})
        hit = memo.get(key)
        if hit is None:
            ids = list(areas.shapes[by])
            geoms = np.array([areas.shapes[by][i] for i in ids], dtype=object)
            if simplify is not None and len(geoms):
                geoms = shapely.simplify(geoms, simplify, preserve_topology=True)
            geoms = shapely.set_precision(geoms, 1e-7 if simplify is None else 1e-6)
            hit = {i: (orjson.loads(g) if g is not None else None) for i, g in zip(ids, shapely.to_geojson(geoms).tolist())}
            memo[key] = hit
            while len(memo) > _OUTLINES_KEPT:
                memo.pop(next(iter(memo)))
    return hit

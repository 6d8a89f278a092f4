"""Complaint heat: contacts per area compared with the customers living there.

An area is an H3 cell (its resolution follows the map's zoom, :func:`zoom_to_res`), a 台区
(transformer area) or a feeder. Its **count** comes from the rollups
(:mod:`gis.interaction_rollups`, never the raw table); its **customers** from
:class:`HeatAreas`, built once per data version from the in-memory customers (each customer's
cells at every rollup resolution, computed once); its **rate** is contacts per 1,000
customers. Areas with customers and no contact are included with a zero (a zero is
information); areas with contacts and no customers (callers placed at their own coordinates)
carry a null rate. Area shapes: the cell's hexagon (h3), the convex hull of a 台区's
customers (:class:`gis.spatial_index.SpatialIndex` computes them), the convex hull of a
feeder's customers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from h3.api import basic_int as h3i
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.interaction_rollups import RESOLUTIONS, area_counts, cell_counts, day_number, fine_cells, parent_cells

__all__ = ["BY", "HeatAreas", "HeatQuery", "HeatArea", "HeatResult", "heat", "zoom_to_res", "area_shape"]

BY = ("cell", "transformer", "feeder")
_HULL_BUFFER_DEG = 1e-4


def zoom_to_res(zoom: float) -> int:
    """The H3 resolution drawn at a Web-Mercator zoom: hexagons of roughly 15–60 screen pixels."""
    if zoom < 10:
        return 6
    if zoom < 12:
        return 7
    if zoom < 14:
        return 8
    if zoom < 15.5:
        return 9
    return 10


class HeatAreas:
    """The customers per area of one data version (immutable once built).

    ``lon``/``lat``: located customers; ``transformer``: each one's 台区 id (or None);
    ``feeders``: 台区 → feeder; ``hull_ids``/``hulls``: the 台区 hulls of the spatial index.
    """

    def __init__(self, lon: np.ndarray, lat: np.ndarray, transformer: Sequence[object], feeders: Mapping[str, str],
                 hull_ids: Sequence[str], hulls: np.ndarray) -> None:
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        fine = fine_cells(lon, lat)
        self.cells: dict[int, dict[int, int]] = {}
        for res in RESOLUTIONS:
            ids, counts = np.unique(parent_cells(fine[fine != 0], res), return_counts=True)
            self.cells[res] = dict(zip(ids.tolist(), counts.tolist()))
        tr = pd.Series(np.asarray(transformer, dtype=object))
        tr = tr.where(tr.map(lambda v: isinstance(v, str) and v != ""), None)
        self.transformers: dict[str, int] = {str(k): int(v) for k, v in tr.value_counts().items()}
        fd = tr.map(lambda t: feeders.get(t) if t is not None else None)
        self.feeders_of = dict(feeders)
        self.feeder_customers: dict[str, int] = {str(k): int(v) for k, v in fd.value_counts().items()}
        self.shapes: dict[str, dict[str, Any]] = {"transformer": dict(zip(map(str, hull_ids), hulls)), "feeder": {}}
        has = fd.notna().to_numpy()
        if has.any():
            codes, names = pd.factorize(fd[has])
            order = np.argsort(codes, kind="stable")
            pts = shapely.multipoints(np.column_stack([lon[has][order], lat[has][order]]), indices=codes[order])
            hulls_f = shapely.convex_hull(pts)
            thin = shapely.get_type_id(hulls_f) != shapely.GeometryType.POLYGON
            if thin.any():
                hulls_f[thin] = shapely.buffer(hulls_f[thin], _HULL_BUFFER_DEG, quad_segs=4)
            self.shapes["feeder"] = dict(zip(map(str, names), hulls_f))
        self.centres: dict[str, dict[str, tuple[float, float]]] = {}
        for by in ("transformer", "feeder"):
            shapes = self.shapes[by]
            if shapes:
                c = shapely.centroid(np.array(list(shapes.values()), dtype=object))
                self.centres[by] = dict(zip(shapes, zip(shapely.get_x(c).tolist(), shapely.get_y(c).tolist())))
            else:
                self.centres[by] = {}
        self.n_customers = int(len(lon))

    def customers(self, by: str, res: int | None = None) -> dict[Any, int]:
        if by == "cell":
            return self.cells[res if res is not None else RESOLUTIONS[0]]
        return self.transformers if by == "transformer" else self.feeder_customers


@dataclass(frozen=True)
class HeatQuery:
    """What to count: by cell / transformer / feeder, local dates [date_from, date_to], filters, view."""

    by: str
    date_from: dt.date
    date_to: dt.date
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    zoom: float | None = None
    res: int | None = None

    def __post_init__(self) -> None:
        if self.by not in BY:
            raise InvalidInput(f"by must be one of {', '.join(BY)}", field="by", value=self.by)
        if self.date_to < self.date_from:
            raise InvalidInput("to is before from", field="to", value=self.date_to.isoformat())
        if self.res is not None and self.res not in RESOLUTIONS:
            raise InvalidInput(f"res must be one of {RESOLUTIONS}", field="res", value=self.res)

    @property
    def resolution(self) -> int | None:
        if self.by != "cell":
            return None
        if self.res is not None:
            return self.res
        return zoom_to_res(self.zoom if self.zoom is not None else 11)

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "channels": list(self.channels), "kinds": list(self.kinds), "bbox": list(self.bbox) if self.bbox else None,
                "zoom": self.zoom, "res": self.resolution}


@dataclass(frozen=True, slots=True)
class HeatArea:
    id: str
    count: int
    customers: int
    rate: float | None  # contacts per 1,000 customers; None without customers
    lon: float
    lat: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "count": self.count, "customers": self.customers, "rate": self.rate,
                "lon": self.lon, "lat": self.lat}


@dataclass
class HeatResult:
    query: HeatQuery
    areas: list[HeatArea]
    totals: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.query.to_dict(), "totals": self.totals, "areas": [a.to_dict() for a in self.areas]}


def _rate(count: int, customers: int) -> float | None:
    return round(count * 1000.0 / customers, 3) if customers else None


def _inside(bbox: tuple[float, float, float, float] | None, lon: float, lat: float) -> bool:
    return bbox is None or (bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3])


def heat(conn: Connection, areas: HeatAreas, query: HeatQuery) -> HeatResult:
    """Count, customers and rate of every area in the view (see the module docstring)."""
    d0, d1 = day_number(query.date_from), day_number(query.date_to)
    channels = query.channels or None
    kinds = query.kinds or None
    out: list[HeatArea] = []
    if query.by == "cell":
        res = query.resolution
        assert res is not None
        counts = cell_counts(conn, res, d0, d1, channels, kinds)
        customers = areas.customers("cell", res)
        for cell in set(customers) | set(counts):
            lat, lon = h3i.cell_to_latlng(cell)
            if _inside(query.bbox, lon, lat):
                n, c = counts.get(cell, 0), customers.get(cell, 0)
                out.append(HeatArea(h3i.int_to_str(cell), n, c, _rate(n, c), round(lon, 6), round(lat, 6)))
    else:
        counts_a = area_counts(conn, query.by, d0, d1, channels, kinds)
        customers_a = areas.customers(query.by)
        centres = areas.centres[query.by]
        for area_id in set(customers_a) | set(counts_a):
            lon, lat = centres.get(area_id, (float("nan"), float("nan")))
            if query.bbox is None or _inside(query.bbox, lon, lat):
                n, c = counts_a.get(area_id, 0), customers_a.get(area_id, 0)
                out.append(HeatArea(area_id, n, c, _rate(n, c), round(lon, 6), round(lat, 6)))
    out.sort(key=lambda a: (-(a.rate if a.rate is not None else -1.0), -a.count, a.id))
    total_n = sum(a.count for a in out)
    total_c = sum(a.customers for a in out)
    totals = {"areas": len(out), "count": total_n, "customers": total_c, "rate": _rate(total_n, total_c)}
    return HeatResult(query, out, totals)


def area_shape(areas: HeatAreas, by: str, area_id: str) -> dict[str, Any] | None:
    """GeoJSON geometry of an area (lon/lat order): the hexagon, or the customers' convex hull."""
    if by == "cell":
        ring = [[round(lng, 7), round(lat, 7)] for lat, lng in h3i.cell_to_boundary(h3i.str_to_int(area_id))]
        return {"type": "Polygon", "coordinates": [ring + ring[:1]]}
    shape = areas.shapes[by].get(area_id)
    if shape is None:
        return None
    return shapely.geometry.mapping(shapely.set_precision(shape, 1e-7))

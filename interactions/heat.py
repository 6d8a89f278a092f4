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
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from h3.api import basic_int as h3i
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.interaction_rollups import (
    RESOLUTIONS,
    area_counts,
    cell_counts,
    day_number,
    fine_cells,
    parent_cells,
    read_rollups,
    rollup_version,
)
from gis.models import CHANNELS, INTERACTION_KINDS

__all__ = ["BY", "HeatAreas", "HeatQuery", "HeatArea", "HeatResult", "RollupCube", "RollupCubes", "heat", "zoom_to_res",
           "area_shape"]

BY = ("cell", "transformer", "feeder")
_HULL_BUFFER_DEG = 1e-4


def zoom_to_res(zoom: float) -> int:
    """The H3 resolution drawn at a Web-Mercator zoom: hexagons of roughly 15–60 screen pixels
    (resolution 9, ~174 m edges, is the finest kept in the rollups)."""
    if zoom < 10:
        return 6
    if zoom < 12:
        return 7
    if zoom < 14:
        return 8
    return 9


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
        self.cell_arrays: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        for res in RESOLUTIONS:
            ids, counts = np.unique(parent_cells(fine[fine != 0], res), return_counts=True)
            self.cells[res] = dict(zip(ids.tolist(), counts.tolist()))
            centres = [h3i.cell_to_latlng(c) for c in ids.tolist()]
            clat = np.array([c[0] for c in centres], dtype=float)
            clon = np.array([c[1] for c in centres], dtype=float)
            self.cell_arrays[res] = (ids, counts, clon, clat)
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


class RollupCube:
    """One rollup (the cells of one resolution, or the 台区 / feeders) held in memory as arrays:
    a query is a vectorized mask over days, channels and kinds and one ``bincount`` per area."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        codes, self.areas = pd.factorize(pd.Series(arrays["area"]), sort=False)
        self.code = codes.astype(np.int32)
        self.day = np.asarray(arrays["day"], dtype=np.int32)
        self.channel = pd.Categorical(arrays["channel"], categories=list(CHANNELS)).codes.astype(np.int8)
        self.kind = pd.Categorical(arrays["kind"], categories=list(INTERACTION_KINDS)).codes.astype(np.int8)
        self.n = np.asarray(arrays["n"], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.n)

    def counts(self, day_from: int, day_to: int, channels: Sequence[str] | None, kinds: Sequence[str] | None) -> dict[Any, int]:
        mask = (self.day >= day_from) & (self.day <= day_to)
        if channels:
            mask &= np.isin(self.channel, [CHANNELS.index(c) for c in channels])
        if kinds:
            mask &= np.isin(self.kind, [INTERACTION_KINDS.index(k) for k in kinds])
        sums = np.bincount(self.code[mask], weights=self.n[mask], minlength=len(self.areas))
        hit = np.flatnonzero(sums)
        keys = self.areas[hit]
        return dict(zip(keys.tolist(), sums[hit].astype(np.int64).tolist()))


class RollupCubes:
    """The rollups of a process, read once and read again whenever the store's rollup version
    (bumped in the transaction of every ingest) moved on: never stale, and a query between
    ingests touches no table but the one-row version."""

    def __init__(self) -> None:
        self._cubes: dict[tuple[str, int | None], tuple[int, RollupCube]] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, by: str, res: int | None) -> RollupCube:
        version = rollup_version(conn)
        key = (by, res if by == "cell" else None)
        hit = self._cubes.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        with self._lock:
            hit = self._cubes.get(key)
            if hit is None or hit[0] != version:
                hit = (version, RollupCube(read_rollups(conn, by, res)))
                self._cubes[key] = hit
        return hit[1]


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


def _areas_vectorized(areas: HeatAreas, query: HeatQuery, counts: Mapping[str, int]) -> list[HeatArea]:
    """台区 / feeder areas: customers and counts joined as columns (12k 台区 at 1M customers)."""
    customers = pd.Series(areas.customers(query.by), dtype="int64")
    found = pd.Series(counts, dtype="int64")
    index = customers.index.union(found.index)
    c = customers.reindex(index, fill_value=0).to_numpy()
    n = found.reindex(index, fill_value=0).to_numpy()
    centres = areas.centres[query.by]
    lon = np.array([centres.get(a, (np.nan, np.nan))[0] for a in index], dtype=float)
    lat = np.array([centres.get(a, (np.nan, np.nan))[1] for a in index], dtype=float)
    if query.bbox is not None:
        x0, y0, x1, y1 = query.bbox
        keep = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
        index, c, n, lon, lat = index[keep], c[keep], n[keep], lon[keep], lat[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(c > 0, np.round(n * 1000.0 / np.maximum(c, 1), 3), np.nan)
    return [HeatArea(a, int(k), int(m), None if r != r else float(r), round(float(x), 6), round(float(y), 6))
            for a, k, m, r, x, y in zip(index.tolist(), n.tolist(), c.tolist(), rate.tolist(), lon.tolist(), lat.tolist())]


def heat(conn: Connection, areas: HeatAreas, query: HeatQuery, cubes: RollupCubes | None = None) -> HeatResult:
    """Count, customers and rate of every area in the view (see the module docstring).

    With ``cubes`` the counts come from the in-memory rollups (read again when an ingest
    changed them); without, from a GROUP BY over the rollup tables.
    """
    d0, d1 = day_number(query.date_from), day_number(query.date_to)
    channels = query.channels or None
    kinds = query.kinds or None
    out: list[HeatArea] = []
    if query.by == "cell":
        res = query.resolution
        assert res is not None
        if cubes is not None:
            counts = cubes.get(conn, "cell", res).counts(d0, d1, channels, kinds)
        else:
            counts = cell_counts(conn, res, d0, d1, channels, kinds)
        ids, customers_n, clon, clat = areas.cell_arrays[res]
        if query.bbox is not None:
            x0, y0, x1, y1 = query.bbox
            keep = np.flatnonzero((clon >= x0) & (clon <= x1) & (clat >= y0) & (clat <= y1))
        else:
            keep = np.arange(len(ids))
        seen = set()
        for i in keep.tolist():
            cell = int(ids[i])
            seen.add(cell)
            n, c = counts.get(cell, 0), int(customers_n[i])
            out.append(HeatArea(h3i.int_to_str(cell), n, c, _rate(n, c), round(float(clon[i]), 6), round(float(clat[i]), 6)))
        for cell, n in counts.items():  # contacts where no customer lives (callers at their own place)
            if cell in seen or cell in areas.cells[res]:
                continue
            lat, lon = h3i.cell_to_latlng(cell)
            if _inside(query.bbox, lon, lat):
                out.append(HeatArea(h3i.int_to_str(cell), n, 0, None, round(lon, 6), round(lat, 6)))
    else:
        if cubes is not None:
            counts_a = cubes.get(conn, query.by, None).counts(d0, d1, channels, kinds)
        else:
            counts_a = area_counts(conn, query.by, d0, d1, channels, kinds)
        out = _areas_vectorized(areas, query, counts_a)
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

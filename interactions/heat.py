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
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from h3.api import basic_int as h3i
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.interaction_rollups import (
    RESOLUTIONS,
    ROLLUP_RES,
    area_counts,
    cell_counts,
    day_number,
    fine_cells,
    parent_cells,
    read_rollup_changes,
    read_rollup_rows,
    rollup_state,
)
from gis.models import CHANNELS, INTERACTION_KINDS

__all__ = ["BY", "BREAK_CLASSES", "class_breaks", "HeatAreas", "HeatQuery", "HeatArea", "HeatResult", "RollupCube", "RollupCubes", "heat", "zoom_to_res",
           "area_shape", "DENSE_BUDGET"]

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


#: Classes of the choropleth (the map's ramp, ``heat_style.js`` RAMP).
BREAK_CLASSES = 5


def _nice_ceil(x: float, digits: int) -> float:
    """``heat_style.js`` niceCeil: ``x`` rounded up to ``digits`` significant digits (same floats as the map)."""
    step = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return math.floor(math.ceil(x / step - 1e-9) * step * 1e6 + 0.5) / 1e6


def class_breaks(counts: np.ndarray, customers: np.ndarray, n: int = BREAK_CLASSES) -> list[float]:
    """Upper bounds of up to ``n`` classes of the positive rates (contacts per 1,000 customers, as
    the API rounds them) of the areas given: **quantiles** (class k's bound is the rate at rank
    ceil(k/n · m) of the m positive rates, so each class holds about a fifth of the areas with
    contacts), rounded up to two significant digits (three or four when rates bunch), strictly
    increasing; the last bound is the largest rate. Zeros are a class of their own and areas without
    customers none. The same numbers as ``classBreaks`` in ``map_ui/static/js/heat_style.js``.
    """
    ok = (customers > 0) & (counts > 0)
    if not ok.any():
        return []
    exact = np.sort(counts[ok] * 1000.0 / customers[ok])
    m = len(exact)
    # rounding to 3 decimals keeps order, so the quantiles of the rounded rates are the rounded quantiles
    quantiles = [round(float(exact[min(m - 1, math.ceil((k / n) * m) - 1)]), 3) for k in range(1, n + 1)]
    quantiles = [q for q in quantiles if q > 0]
    if not quantiles:
        return []
    distinct = len(set(quantiles))
    out: list[float] = []
    for digits in (2, 3, 4):
        out = []
        for q in quantiles:
            b = _nice_ceil(q, digits)
            if not out or b > out[-1]:
                out.append(b)
        if len(out) >= distinct:
            break
    return out


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
        named = np.fromiter((type(v) is str and v != "" for v in tr.to_numpy()), dtype=bool, count=len(tr))
        tr = tr.where(named, None)
        self.transformers: dict[str, int] = {str(k): int(v) for k, v in tr.value_counts().items()}
        fd = tr.map(dict(feeders)).where(named, None)
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
        self._tables: dict[tuple[str, int | None], tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._ranks: dict[tuple[str, str], np.ndarray] = {}

    def customers(self, by: str, res: int | None = None) -> dict[Any, int]:
        if by == "cell":
            return self.cells[res if res is not None else RESOLUTIONS[0]]
        return self.transformers if by == "transformer" else self.feeder_customers

    def id_rank(self, by: str) -> np.ndarray:
        """The rank of each area id of :meth:`table` (``by`` transformer / feeder) in string order."""
        key = ("rank", by)
        hit = self._ranks.get(key)
        if hit is None:
            ids = self.table(by)[0].to_numpy().astype(str)
            hit = np.argsort(np.argsort(ids, kind="stable"), kind="stable")
            self._ranks[key] = hit
        return hit

    def table(self, by: str, res: int | None = None) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
        """(area ids, customers, centre lon, centre lat) of the areas with customers, as arrays
        (cells: int ids), built once per kind of area."""
        key = (by, res if by == "cell" else None)
        hit = self._tables.get(key)
        if hit is None:
            if by == "cell":
                ids, counts, lon, lat = self.cell_arrays[res if res is not None else RESOLUTIONS[0]]
                hit = (pd.Index(ids), np.asarray(counts, dtype=np.int64), lon, lat)
            else:
                customers = self.customers(by)
                centres = self.centres[by]
                names = list(customers)
                hit = (pd.Index(np.array(names, dtype=object)), np.array([customers[a] for a in names], dtype=np.int64),
                       np.array([centres.get(a, (np.nan, np.nan))[0] for a in names], dtype=float),
                       np.array([centres.get(a, (np.nan, np.nan))[1] for a in names], dtype=float))
            self._tables[key] = hit
        return hit


#: Largest in-memory dense cube (bytes) per rollup: past it a cube keeps only its sparse rows.
DENSE_BUDGET = 256 * 1024 * 1024
_NCK = len(CHANNELS) * len(INTERACTION_KINDS)
_NK = len(INTERACTION_KINDS)
_DAY_BITS = 16  # day numbers (days since 1970) < 65,536: until the year 2149
_CK_BITS = 5


def _empty_index(by: str) -> pd.Index:
    return pd.Index(np.array([], dtype=np.int64)) if by == "cell" else pd.Index(np.array([], dtype=object))


class RollupCube:
    """One rollup (the cells of one resolution, or the 台区 / feeders) held in memory.

    Two forms of the same counts:

    * **sparse**: one entry per stored rollup row, sorted by ``key = area << 21 | day << 5 |
      channel × kind`` (area-major), with the row's count; the source for updates and for
      queries the dense form cannot answer;
    * **dense**: prefix sums over days, ``C[layer, area, j]`` = the contacts of ``area`` in
      ``layer`` before day ``day0 + j``, where a layer is a channel × kind (30 layers) or, for
      a larger rollup, a kind (5 layers); a day range is then ``C[..., j1 + 1] − C[..., j0]``,
      O(areas × layers) whatever the number of contacts or days. Built when it fits
      :data:`DENSE_BUDGET`.

    Immutable: :meth:`updated` returns a new cube (readers of the old one are never disturbed).
    """

    def __init__(self, by: str, areas: pd.Index, key: np.ndarray, n: np.ndarray, *, budget: int = DENSE_BUDGET) -> None:
        self.by = by
        self.areas = areas
        self.key = key
        self.n = n
        self.budget = budget
        self.layers = 0
        self.day0 = 0
        self.dense: np.ndarray | None = None
        self._build_dense()
        self.centres = _cell_centres(areas) if by == "cell" else None

    # -------------------------------------------------------------- construction
    @classmethod
    def from_rows(cls, by: str, arrays: Mapping[str, np.ndarray], *, budget: int = DENSE_BUDGET) -> RollupCube:
        """From the rollup rows (area, day, channel, kind, n) of :func:`gis.interaction_rollups.read_rollups`."""
        codes, uniques = pd.factorize(pd.Series(arrays["area"]), sort=False)
        areas = pd.Index(uniques) if len(uniques) else _empty_index(by)
        key = _keys(codes.astype(np.int64), arrays)
        order = np.argsort(key, kind="stable")
        return cls(by, areas, key[order], np.asarray(arrays["n"], dtype=np.int32)[order], budget=budget)

    # area code, day and channel × kind of each sparse row, unpacked from the key when needed (kept
    # packed: 12 bytes a row with the count instead of 25)
    @property
    def code(self) -> np.ndarray:
        return (self.key >> (_DAY_BITS + _CK_BITS)).astype(np.int32)

    @property
    def day(self) -> np.ndarray:
        return ((self.key >> _CK_BITS) & ((1 << _DAY_BITS) - 1)).astype(np.int32)

    @property
    def ck(self) -> np.ndarray:
        return (self.key & ((1 << _CK_BITS) - 1)).astype(np.int8)

    def regrouped(self, by: str, area: np.ndarray, counted: np.ndarray, *, budget: int | None = None) -> RollupCube:
        """The cube of one view of this one's areas: ``area[i]`` is the area (a cell of any
        resolution, a 台区, a feeder) this cube's area ``i`` counts in, where ``counted[i]`` — the
        same rows summed per area, day and channel × kind, without reading the store. How the
        views are summed from the rollup's rows (:class:`RollupCubes`)."""
        codes, uniq = pd.factorize(pd.Series(area[counted] if len(area) else area[:0]), sort=False)
        target = np.full(len(area), -1, dtype=np.int64)
        target[np.flatnonzero(counted)] = codes
        low = (1 << (_DAY_BITS + _CK_BITS)) - 1
        code = target[self.key >> (_DAY_BITS + _CK_BITS)] if len(self.key) else np.zeros(0, dtype=np.int64)
        keep = code >= 0
        key = (code[keep] << (_DAY_BITS + _CK_BITS)) | (self.key[keep] & low)
        order = np.argsort(key, kind="stable")
        key = key[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
        sums = np.add.reduceat(self.n[keep][order].astype(np.int64), first) if len(key) else np.zeros(0, dtype=np.int64)
        live = sums != 0
        areas = pd.Index(uniq) if len(uniq) else _empty_index(by)
        return RollupCube(by, areas, key[first][live], sums[live].astype(np.int32),
                          budget=self.budget if budget is None else budget)

    def _build_dense(self) -> None:
        live = self.n != 0
        if self.budget <= 0 or not live.any():
            return
        key = self.key[live]
        day = ((key >> _CK_BITS) & ((1 << _DAY_BITS) - 1)).astype(np.int64)
        code = key >> (_DAY_BITS + _CK_BITS)
        ck = key & ((1 << _CK_BITS) - 1)
        d0, d1 = int(day.min()), int(day.max())
        days = d1 - d0 + 2  # a leading zero column
        n_areas = len(self.areas)
        total = int(self.n[live].sum())
        dtype = np.int32 if total < 2**31 else np.int64
        for layers in (_NCK, _NK):
            if layers * n_areas * days * np.dtype(dtype).itemsize <= self.budget:
                break
        else:
            return
        layer = ck if layers == _NCK else ck % _NK
        flat = (layer * n_areas + code) * days + (day - d0 + 1)
        del key, day, code, ck, layer
        # integer adds straight into the cube (a float bincount of every cell, rounded and cast, cost 3x)
        dense = np.zeros(layers * n_areas * days, dtype=dtype)
        np.add.at(dense, flat, self.n[live].astype(dtype))
        dense = dense.reshape(layers, n_areas, days)
        np.cumsum(dense, axis=2, out=dense)
        self.dense, self.layers, self.day0 = dense, layers, d0

    def __len__(self) -> int:
        return int(np.count_nonzero(self.n))

    @property
    def nbytes(self) -> int:
        parts = [self.key, self.n] + ([self.dense] if self.dense is not None else [])
        return int(sum(p.nbytes for p in parts))

    # -------------------------------------------------------------- queries
    def align(self, ids: pd.Index) -> tuple[np.ndarray, np.ndarray]:
        """(position of each of ``ids`` among :attr:`areas` or -1, whether each cube area is among
        ``ids``), kept for the last few ``ids`` objects (the areas of a data version)."""
        cache = self.__dict__.setdefault("_align", {})
        hit = cache.get(id(ids))
        if hit is not None and hit[0] is ids:
            return hit[1], hit[2]
        pos = self.areas.get_indexer(ids) if len(self.areas) else np.full(len(ids), -1)
        known = ids.get_indexer(self.areas) >= 0 if len(self.areas) else np.zeros(0, dtype=bool)
        if len(cache) >= 8:
            cache.clear()
        cache[id(ids)] = (ids, pos, known)
        return pos, known

    def counts_array(self, day_from: int, day_to: int, channels: Sequence[str] | None,
                     kinds: Sequence[str] | None) -> np.ndarray:
        """Contacts per area (aligned with :attr:`areas`) over the local days [day_from, day_to]."""
        n_areas = len(self.areas)
        if self.dense is not None and (self.layers == _NCK or not channels):
            ks = [INTERACTION_KINDS.index(k) for k in kinds] if kinds else list(range(_NK))
            if self.layers == _NCK:
                cs = [CHANNELS.index(c) for c in channels] if channels else list(range(len(CHANNELS)))
                layers = [c * _NK + k for c in cs for k in ks]
            else:
                layers = ks
            days = self.dense.shape[2]
            j0 = min(max(day_from - self.day0, 0), days - 1)
            j1 = min(max(day_to - self.day0 + 1, 0), days - 1)
            if j1 <= j0:
                return np.zeros(n_areas, dtype=np.int64)
            if len(layers) == self.layers:
                return self.dense[:, :, j1].sum(axis=0, dtype=np.int64) - self.dense[:, :, j0].sum(axis=0, dtype=np.int64)
            pick = np.asarray(layers)  # two columns of the chosen layers, never a copy of the layers
            return self.dense[pick, :, j1].sum(axis=0, dtype=np.int64) - self.dense[pick, :, j0].sum(axis=0, dtype=np.int64)
        day = self.day
        mask = (day >= day_from) & (day <= day_to)
        del day
        if channels or kinds:
            cs = [CHANNELS.index(c) for c in channels] if channels else list(range(len(CHANNELS)))
            ks = [INTERACTION_KINDS.index(k) for k in kinds] if kinds else list(range(_NK))
            mask &= np.isin(self.ck, np.array([c * _NK + k for c in cs for k in ks], dtype=np.int8))
        return np.bincount(self.code[mask], weights=self.n[mask], minlength=n_areas).astype(np.int64)

    def counts(self, day_from: int, day_to: int, channels: Sequence[str] | None, kinds: Sequence[str] | None) -> dict[Any, int]:
        """Contacts per area with any, as a dict."""
        sums = self.counts_array(day_from, day_to, channels, kinds)
        hit = np.flatnonzero(sums)
        return dict(zip(self.areas[hit].tolist(), sums[hit].tolist()))

    # -------------------------------------------------------------- updates
    def updated(self, arrays: Mapping[str, np.ndarray]) -> RollupCube:
        """A new cube with the rows ``arrays`` (area, day, channel, kind, n: current counts, zeros
        included, as :func:`gis.interaction_rollups.read_rollup_changes` gives them) set."""
        return self.updated_with_changes(arrays)[0]

    def added(self, arrays: Mapping[str, np.ndarray]) -> RollupCube:
        """A new cube with signed ``arrays["delta"]`` added at (area, day, ck) — entries of one key
        summed — e.g. a finer cube's changes mapped to this cube's parent cells."""
        frame = pd.DataFrame({"area": arrays["area"], "day": np.asarray(arrays["day"], dtype=np.int64),
                              "ck": np.asarray(arrays["ck"], dtype=np.int64),
                              "delta": np.asarray(arrays["delta"], dtype=np.int64)})
        if not len(frame):
            return self
        frame = frame.groupby(["area", "day", "ck"], sort=False, as_index=False)["delta"].sum()
        codes = self.areas.get_indexer(pd.Series(frame["area"].to_numpy()))
        current = np.zeros(len(frame), dtype=np.int64)
        known = np.flatnonzero(codes >= 0)
        if len(known) and len(self.key):
            key = _keys(codes[known].astype(np.int64), {"day": frame["day"].to_numpy()[known], "ck": frame["ck"].to_numpy()[known]})
            pos = np.minimum(np.searchsorted(self.key, key), len(self.key) - 1)
            hit = self.key[pos] == key
            current[known[hit]] = self.n[pos[hit]]
        return self.updated({"area": frame["area"].to_numpy(), "day": frame["day"].to_numpy(), "ck": frame["ck"].to_numpy(),
                             "n": current + frame["delta"].to_numpy()})

    def updated_with_changes(self, arrays: Mapping[str, np.ndarray]) -> tuple[RollupCube, dict[str, np.ndarray]]:
        """:meth:`updated`, and what changed: (area, day, ck, delta) of every row whose count moved
        (what a coarser cube adds, :meth:`added`)."""
        none = {"area": self.areas[:0].to_numpy(), "day": np.zeros(0, np.int64), "ck": np.zeros(0, np.int64),
                "delta": np.zeros(0, np.int64)}
        if not len(arrays["n"]):
            return self, none
        area = pd.Series(arrays["area"])
        codes = self.areas.get_indexer(area)
        areas = self.areas
        fresh = codes < 0
        if fresh.any():
            new_codes, new_areas = pd.factorize(area[fresh], sort=False)
            codes[fresh] = len(areas) + new_codes
            areas = areas.append(pd.Index(new_areas))
        key = _keys(codes.astype(np.int64), arrays)
        value = np.asarray(arrays["n"], dtype=np.int64)
        order = np.argsort(key, kind="stable")
        key, value = key[order], value[order]
        last = np.r_[key[1:] != key[:-1], True]  # a key given twice: the last one wins
        key, value = key[last], value[last]
        pos = np.searchsorted(self.key, key)
        found = pos < len(self.key)
        found[found] = self.key[pos[found]] == key[found]
        n = self.n.copy()
        old = np.zeros(len(key), dtype=np.int64)
        old[found] = n[pos[found]]
        n[pos[found]] = value[found]
        if (~found).any():
            keys = np.insert(self.key, pos[~found], key[~found])
            n = np.insert(n, pos[~found], value[~found])
        else:
            keys = self.key
        cube = RollupCube.__new__(RollupCube)
        cube.by, cube.areas, cube.key, cube.n, cube.budget = self.by, areas, keys, n, self.budget
        cube.centres = self.centres
        if self.by == "cell" and len(areas) > len(self.areas):
            extra = _cell_centres(areas[len(self.areas):])
            cube.centres = (np.r_[self.centres[0], extra[0]], np.r_[self.centres[1], extra[1]])
        cube.dense, cube.layers, cube.day0 = None, 0, 0
        delta = value - old
        change = delta != 0
        moved = key[change]
        changes = {"area": areas[(moved >> (_DAY_BITS + _CK_BITS)).astype(np.int64)].to_numpy(),
                   "day": (moved >> _CK_BITS) & ((1 << _DAY_BITS) - 1), "ck": moved & ((1 << _CK_BITS) - 1),
                   "delta": delta[change]}
        if self.dense is None or not change.any():
            if self.dense is not None:
                cube.dense, cube.layers, cube.day0 = self.dense, self.layers, self.day0
            elif change.any():
                cube._build_dense()
            return cube, changes
        days_c = ((key[change] >> _CK_BITS) & ((1 << _DAY_BITS) - 1)).astype(np.int64)
        grown = _grown(self.dense, self.day0, len(areas), int(days_c.min()), int(days_c.max()), self.budget)
        if grown is None:  # past the budget: rebuild (fewer layers, or sparse only)
            cube._build_dense()
            return cube, changes
        cube.dense, cube.day0 = grown
        cube.layers = self.layers
        _add_to_prefix(cube, key[change], delta[change])
        return cube, changes


def _keys(codes: np.ndarray, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The sparse keys of rollup rows: ``arrays`` gives day and either ``ck`` (the channel × kind code
    the store's reads give) or ``channel`` and ``kind`` names."""
    if "ck" in arrays:
        ck = np.asarray(arrays["ck"], dtype=np.int64)
    else:
        channel = pd.Categorical(arrays["channel"], categories=list(CHANNELS)).codes.astype(np.int64)
        kind = pd.Categorical(arrays["kind"], categories=list(INTERACTION_KINDS)).codes.astype(np.int64)
        if len(channel) and ((channel < 0).any() or (kind < 0).any()):
            raise ValueError("a rollup row has an unknown channel or kind")
        ck = channel * _NK + kind
    day = np.asarray(arrays["day"], dtype=np.int64)
    return (codes << (_DAY_BITS + _CK_BITS)) | (day << _CK_BITS) | ck


#: Days of headroom added when a change falls after the dense cube's last day (a live stream moves on daily).
_DAY_HEADROOM = 31


def _grown(dense: np.ndarray, day0: int, n_areas: int, first: int, last: int, budget: int) -> tuple[np.ndarray, int] | None:
    """A copy of the prefix sums ``dense`` (first day ``day0``) covering ``n_areas`` areas (new ones
    are zero) and the days ``first``..``last`` (new days carry the running totals on: before the
    old range zero, after it the last total); None when that would pass ``budget`` bytes."""
    layers, old_areas, days = dense.shape
    end = day0 + days - 2  # the last day held
    new0 = min(day0, first)
    new_end = end if last <= end else last + _DAY_HEADROOM
    if new0 == day0 and new_end == end and n_areas == old_areas:
        return dense.copy(), day0
    new_days = new_end - new0 + 2
    if layers * n_areas * new_days * dense.itemsize > budget:
        return None
    out = np.zeros((layers, n_areas, new_days), dtype=dense.dtype)
    off = day0 - new0
    out[:, :old_areas, off:off + days] = dense
    out[:, :old_areas, off + days:] = dense[:, :, -1:]
    return out, new0


def _add_to_prefix(cube: RollupCube, key: np.ndarray, delta: np.ndarray) -> None:
    """Add ``delta`` at each ``key`` to the dense prefix sums of ``cube`` (in place): every day from
    the changed one on moves by the delta; done per touched (layer, area) row in blocks."""
    assert cube.dense is not None
    code = key >> (_DAY_BITS + _CK_BITS)
    j = ((key >> _CK_BITS) & ((1 << _DAY_BITS) - 1)) - cube.day0 + 1
    ck = key & ((1 << _CK_BITS) - 1)
    layer = ck if cube.layers == _NCK else ck % _NK
    row = layer * len(cube.areas) + code
    rows, inv = np.unique(row, return_inverse=True)
    flat = cube.dense.reshape(-1, cube.dense.shape[2])
    days = cube.dense.shape[2]
    for start in range(0, len(rows), 4096):
        stop = min(start + 4096, len(rows))
        pick = (inv >= start) & (inv < stop)
        block = np.zeros((stop - start, days), dtype=np.int64)
        np.add.at(block, (inv[pick] - start, j[pick]), delta[pick])
        flat[rows[start:stop]] += np.cumsum(block, axis=1).astype(flat.dtype)


def _cell_centres(cells: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of H3 cells (int)."""
    pts = [h3i.cell_to_latlng(int(c)) for c in cells.tolist()]
    return (np.array([p[1] for p in pts], dtype=float), np.array([p[0] for p in pts], dtype=float))


#: The key of the cube of the rollup's own rows (see :class:`RollupCubes`).
_ROWS = ("rows", None)
#: Bits of a place key (:meth:`RollupCubes._places`): cell code << 40 | 台区 code << 20 | feeder code.
_PLACE_BITS = 20


class RollupCubes:
    """The rollup of a process, kept current **incrementally**: each :meth:`get` compares the
    store's rollup version (bumped in the transaction of every ingest) with the version the cubes
    were read at; when it moved on, only the rollup rows changed since (their ``version`` column,
    :func:`gis.interaction_rollups.read_rollup_changes`) are read and applied
    (:meth:`RollupCube.updated`). A full read happens once, and again after a rebuild of the
    rollup. Never stale, and a query between ingests touches no table but the one-row state.

    The store holds one rollup keyed by res-9 cell × 台区 × feeder (its *places*) × day × channel
    × kind. The cube of those rows is the one read from the store; every view — the cells of
    each resolution, the 台区, the feeders — is summed from it in memory
    (:meth:`RollupCube.regrouped`) and then follows it: each update of the rows' cube logs what
    moved (a few rows per ingest), and a view adds those changes at its own areas
    (:meth:`RollupCube.added`); when the log no longer reaches back to its version, it is summed
    again. A place is numbered by its codes in three vocabularies (cells, 台区, feeders) that only
    grow until the next full read.

    ``stats``: full reads, incremental updates and the time they took (for the benchmark).
    """

    #: Changes of the rows' cube kept for the views to follow (rows, over all logged updates).
    LOG_ROWS = 2_000_000

    def __init__(self, *, budget: int = DENSE_BUDGET) -> None:
        self._cubes: dict[tuple[str, int | None], tuple[int, RollupCube]] = {}
        self._lock = threading.RLock()
        self._budget = budget
        # (from version, to version, changes) of the rows' cube updates, oldest first
        self._log: list[tuple[int, int, dict[str, np.ndarray]]] = []
        self._vocab = {"cell": pd.Index(np.zeros(0, dtype=np.int64)), "transformer": _empty_index("transformer"),
                       "feeder": _empty_index("feeder")}
        self.stats: dict[str, float] = {"full_reads": 0, "derived": 0, "updates": 0, "rows_applied": 0,
                                        "last_update_ms": 0.0, "last_full_read_ms": 0.0}

    def get(self, conn: Connection, by: str, res: int | None) -> RollupCube:
        version, rebuilt = rollup_state(conn)
        key = (by, (res if res is not None else RESOLUTIONS[0]) if by == "cell" else None)
        if by not in BY:
            raise ValueError(by)
        hit = self._cubes.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        with self._lock:
            return self._current(conn, key, version, rebuilt)

    def _current(self, conn: Connection, key: tuple[str, int | None], version: int, rebuilt: int) -> RollupCube:
        """The cube ``key`` at ``version`` (under the lock)."""
        hit = self._cubes.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        stale = hit is None or rebuilt > hit[0] or version < hit[0]
        t0 = time.perf_counter()
        if key == _ROWS and stale:
            rows = read_rollup_rows(conn)
            self._vocab = {k: v[:0] for k, v in self._vocab.items()}  # a fresh numbering of the places
            cube = RollupCube.from_rows("rows", {**rows, "area": self._places(rows)}, budget=0)
            self._log = []
            self.stats["full_reads"] += 1
            self.stats["last_full_read_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        elif key == _ROWS:
            changes = read_rollup_changes(conn, hit[0])  # type: ignore[index]
            cube, moved = hit[1].updated_with_changes({**changes, "area": self._places(changes)})  # type: ignore[index]
            self._remember(hit[0], version, moved)  # type: ignore[index]
            self.stats["updates"] += 1
            self.stats["rows_applied"] += len(changes["n"])
            self.stats["last_update_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        else:
            by, res = key
            rows_cube = self._current(conn, _ROWS, version, rebuilt)
            t0 = time.perf_counter()
            steps = None if stale else self._changes_since(hit[0], version)  # type: ignore[index]
            if steps is None:
                area, counted = self._view(by, res, rows_cube.areas.to_numpy(dtype=np.int64))
                cube = rows_cube.regrouped(by, area, counted, budget=self._budget)
                self.stats["derived"] += 1
                self.stats["last_full_read_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            else:
                cube = hit[1]  # type: ignore[index]
                for changes in steps:
                    area, counted = self._view(by, res, changes["area"])
                    cube = cube.added({"area": area[counted], "day": changes["day"][counted],
                                       "ck": changes["ck"][counted], "delta": changes["delta"][counted]})
                self.stats["updates"] += 1
                self.stats["last_update_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        self._cubes[key] = (version, cube)
        return cube

    def _places(self, rows: Mapping[str, np.ndarray]) -> np.ndarray:
        """The place key of each rollup row (cell, 台区 and feeder codes packed in an int64), the
        vocabularies grown by the values not seen before."""
        codes = []
        for name in ("cell", "transformer", "feeder"):
            values = pd.Index(rows[name])
            vocab = self._vocab[name]
            code = vocab.get_indexer(values) if len(vocab) else np.full(len(values), -1, dtype=np.int64)
            new = code < 0
            if new.any():
                fresh = pd.Index(pd.unique(values[new]))
                vocab = vocab.append(fresh)
                limit = 1 << (63 - 2 * _PLACE_BITS if name == "cell" else _PLACE_BITS)
                if len(vocab) > limit:
                    raise ValueError(f"more than {limit:,} distinct {name} values in the rollup")
                self._vocab[name] = vocab
                code[new] = vocab.get_indexer(values[new])
            codes.append(code.astype(np.int64))
        return (codes[0] << (2 * _PLACE_BITS)) | (codes[1] << _PLACE_BITS) | codes[2]

    def _view(self, by: str, res: int | None, places: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the area each place counts in for one view, whether it counts there at all)."""
        places = np.asarray(places, dtype=np.int64)
        mask = (1 << _PLACE_BITS) - 1
        if by == "cell":
            cells = self._vocab["cell"].to_numpy(dtype=np.int64)[places >> (2 * _PLACE_BITS)]
            counted = cells != 0
            return (cells if res == ROLLUP_RES else parent_cells(cells, res)), counted  # type: ignore[arg-type]
        shift = _PLACE_BITS if by == "transformer" else 0
        ids = self._vocab[by].to_numpy(dtype=object)[(places >> shift) & mask]
        return ids, ids != ""

    def _remember(self, since: int, version: int, changes: dict[str, np.ndarray]) -> None:
        self._log.append((since, version, changes))
        rows = sum(len(c["delta"]) for _, _, c in self._log)
        while self._log and rows > self.LOG_ROWS:
            rows -= len(self._log.pop(0)[2]["delta"])

    def _changes_since(self, since: int, version: int) -> list[dict[str, np.ndarray]] | None:
        """The logged changes of the rows' cube from ``since`` to ``version``, in order; None when the log has a gap."""
        out: list[dict[str, np.ndarray]] = []
        at = since
        for v0, v1, changes in self._log:
            if v1 <= at:
                continue
            if v0 != at:
                return None
            out.append(changes)
            at = v1
        return out if at == version else None


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


class HeatResult:
    """The areas of a heat query, in order (rate, then count, descending; then id).

    ``breaks``: the choropleth's class bounds (:func:`class_breaks`) over **every** area of the
    query's kind in the city, whatever the bbox: a district is coloured on the city's scale, so a
    台区 has the same colour in a district view as in the city view.

    Held as columns (``id``: list of str; ``count``, ``customers``: int arrays; ``lon``, ``lat``:
    float arrays) as :func:`heat` computes them; :attr:`areas` (a list of :class:`HeatArea`) is
    built from them on first use, so a caller that serializes or computes on the columns never
    pays for 12,000 objects. Can also be made from a list of areas (tests, hand-built sets).
    """

    def __init__(self, query: HeatQuery, areas: Sequence[HeatArea] | None = None, totals: dict[str, Any] | None = None,
                 *, columns: dict[str, Any] | None = None, breaks: Sequence[float] | None = None) -> None:
        self.query = query
        self.totals: dict[str, Any] = dict(totals or {})
        self.breaks: list[float] = list(breaks) if breaks is not None else []
        self._areas = list(areas) if areas is not None else None
        self._columns = columns

    @property
    def areas(self) -> list[HeatArea]:
        if self._areas is None:
            c = self.columns
            self._areas = [HeatArea(a, k, m, round(k * 1000.0 / m, 3) if m else None, x, y)
                           for a, k, m, x, y in zip(c["id"], c["count"].tolist(), c["customers"].tolist(),
                                                    c["lon"].tolist(), c["lat"].tolist())]
        return self._areas

    @property
    def columns(self) -> dict[str, Any]:
        if self._columns is None:
            a = self._areas or []
            self._columns = {"id": [x.id for x in a], "count": np.array([x.count for x in a], dtype=np.int64),
                             "customers": np.array([x.customers for x in a], dtype=np.int64),
                             "lon": np.array([x.lon for x in a], dtype=float), "lat": np.array([x.lat for x in a], dtype=float)}
        return self._columns

    def area_dicts(self) -> list[dict[str, Any]]:
        """The areas as JSON-ready dicts (what :meth:`HeatArea.to_dict` gives), straight from the columns."""
        if self._areas is not None:
            return [a.to_dict() for a in self._areas]
        c = self.columns
        return [{"id": a, "count": k, "customers": m, "rate": round(k * 1000.0 / m, 3) if m else None, "lon": x, "lat": y}
                for a, k, m, x, y in zip(c["id"], c["count"].tolist(), c["customers"].tolist(), c["lon"].tolist(),
                                         c["lat"].tolist())]

    def to_dict(self) -> dict[str, Any]:
        return {**self.query.to_dict(), "totals": self.totals, "breaks": self.breaks, "areas": self.area_dicts()}


def _rate(count: int, customers: int) -> float | None:
    return round(count * 1000.0 / customers, 3) if customers else None


def heat(conn: Connection, areas: HeatAreas, query: HeatQuery, cubes: RollupCubes | None = None) -> HeatResult:
    """Count, customers and rate of every area in the view (see the module docstring).

    With ``cubes`` the counts come from the in-memory rollups (brought up to date with the
    ingests since their last read); without, from a GROUP BY over the rollup tables. Either
    way the areas are assembled as arrays: the areas with customers (zeros included) and those
    with contacts and no customers, kept to the bbox, sorted by rate, count and id.
    """
    d0, d1 = day_number(query.date_from), day_number(query.date_to)
    channels = query.channels or None
    kinds = query.kinds or None
    by = query.by
    res = query.resolution
    ids, customers, lon, lat = areas.table(by, res)
    cube_centres = None
    if cubes is not None:
        cube = cubes.get(conn, by, res)
        keys, sums = cube.areas, cube.counts_array(d0, d1, channels, kinds)
        cube_centres = cube.centres
    else:
        found = cell_counts(conn, res, d0, d1, channels, kinds) if by == "cell" else area_counts(conn, by, d0, d1, channels, kinds)
        keys = pd.Index(np.array(list(found), dtype=np.int64 if by == "cell" else object))
        sums = np.array(list(found.values()), dtype=np.int64)
    if cubes is not None:
        pos, known = cube.align(ids)
    else:
        pos = keys.get_indexer(ids) if len(keys) else np.full(len(ids), -1)
        known = ids.get_indexer(keys) >= 0 if len(keys) else np.zeros(0, dtype=bool)
    counts = np.where(pos >= 0, sums[np.maximum(pos, 0)] if len(sums) else 0, 0).astype(np.int64)
    extra = np.flatnonzero((sums != 0) & ~known)  # contacts where no customer lives
    if len(extra):
        extra_ids = keys[extra]
        if by == "cell":
            if cube_centres is not None:
                elon, elat = cube_centres[0][extra], cube_centres[1][extra]
            else:
                pts = [h3i.cell_to_latlng(int(c)) for c in extra_ids.tolist()]
                elon, elat = np.array([p[1] for p in pts]), np.array([p[0] for p in pts])
        else:
            centres = areas.centres[by]
            elon = np.array([centres.get(a, (np.nan, np.nan))[0] for a in extra_ids], dtype=float)
            elat = np.array([centres.get(a, (np.nan, np.nan))[1] for a in extra_ids], dtype=float)
        ids = ids.append(extra_ids)
        counts = np.r_[counts, sums[extra]]
        customers = np.r_[customers, np.zeros(len(extra), dtype=np.int64)]
        lon, lat = np.r_[lon, elon], np.r_[lat, elat]
    breaks = class_breaks(counts, customers)  # over the whole city, before the view cuts it
    if query.bbox is not None:
        x0, y0, x1, y1 = query.bbox
        keep = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        ids, counts, customers, lon, lat = ids[keep], counts[keep], customers[keep], lon[keep], lat[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_f = np.where(customers > 0, counts * 1000.0 / np.maximum(customers, 1), -1.0)
    raw = ids.to_numpy()
    if by == "cell":
        id_rank = raw
    elif not len(extra) and query.bbox is None:
        id_rank = areas.id_rank(by)  # computed once per data version
    else:
        id_rank = np.argsort(np.argsort(raw.astype(str), kind="stable"), kind="stable")
    order = np.lexsort((id_rank, -counts, -rate_f))
    names = [format(c, "x") for c in raw[order].tolist()] if by == "cell" else raw[order].tolist()
    columns = {"id": names, "count": counts[order], "customers": customers[order],
               "lon": np.round(lon[order], 6), "lat": np.round(lat[order], 6)}
    total_n = int(counts.sum())
    total_c = int(customers.sum())
    totals = {"areas": len(names), "count": total_n, "customers": total_c, "rate": _rate(total_n, total_c)}
    return HeatResult(query, totals=totals, columns=columns, breaks=breaks)


def area_shape(areas: HeatAreas, by: str, area_id: str) -> dict[str, Any] | None:
    """GeoJSON geometry of an area (lon/lat order): the hexagon, or the customers' convex hull."""
    if by == "cell":
        ring = [[round(lng, 7), round(lat, 7)] for lat, lng in h3i.cell_to_boundary(h3i.str_to_int(area_id))]
        return {"type": "Polygon", "coordinates": [ring + ring[:1]]}
    shape = areas.shapes[by].get(area_id)
    if shape is None:
        return None
    return shapely.geometry.mapping(shapely.set_precision(shape, 1e-7))

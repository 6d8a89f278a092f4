"""Hotspots: areas whose Getis–Ord Gi* is significant after a false-discovery-rate cut.

Heat is a rate and hotspots are statistics (DESIGN.md): for each area with customers, the
variable is its contact rate (contacts per 1,000 customers: customers are the exposure);
Gi* (PySAL ``esda.G_Local(y, w, transform="B", star=True)``) compares the rates of an area
and its neighbours with the whole study region. Weights are binary: neighbours are the
adjacent H3 cells (ring 1, ``h3.grid_disk``) or the 台区 whose customer hulls touch or lie
within ``touch_m`` metres of each other. The z-scores are the analytical ones (``Zs``), the
p-values two-sided normal; ``esda.fdr`` gives the cut at ``alpha`` over all areas. A
significant positive z is a hot spot, a negative one a cold spot. The result reports the
statistic's inputs (areas, neighbours, mean rate, alpha, the FDR cut).
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from h3.api import basic_int as h3i
from scipy import stats

from gis.errors import InvalidInput
from interactions.heat import HeatAreas, HeatResult

__all__ = ["gi_star", "cell_neighbours", "hull_neighbours", "Hotspot", "hotspots"]


def gi_star(y: np.ndarray, neighbours: Mapping[int, Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores and two-sided normal p-values of ``y`` under binary weights ``neighbours``
    (position → positions; the area itself is added by Gi*)."""
    import esda  # noqa: PLC0415 - heavy (numba-optional) import, only when hotspots are asked for
    import libpysal  # noqa: PLC0415

    y = np.asarray(y, dtype=float)
    if len(y) < 3:
        return np.zeros(len(y)), np.ones(len(y))
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # islands and disconnected components are reported in the inputs, not as warnings
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        w = libpysal.weights.W({i: list(neighbours.get(i, ())) for i in range(len(y))}, silence_warnings=True)
        g = esda.G_Local(y, w, transform="B", star=True, permutations=0)
    z = np.nan_to_num(np.asarray(g.Zs, dtype=float), nan=0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    return z, p


def cell_neighbours(cells: Sequence[int]) -> dict[int, list[int]]:
    """Positions of the adjacent cells (H3 ring 1) among ``cells``."""
    pos = {c: i for i, c in enumerate(cells)}
    return {i: [pos[n] for n in h3i.grid_disk(c, 1) if n != c and n in pos] for i, c in enumerate(cells)}


def hull_neighbours(shapes: Sequence[Any], touch_m: float = 50.0) -> dict[int, list[int]]:
    """Positions of the areas whose shapes lie within ``touch_m`` metres (≈ degrees at 23°N) of each other."""
    geoms = np.asarray(shapes, dtype=object)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=touch_m / 102_000.0)
    out: dict[int, list[int]] = {i: [] for i in range(len(geoms))}
    for a, b in zip(left.tolist(), right.tolist()):
        if a != b:
            out[a].append(b)
    return out


_ADJACENCY: "weakref.WeakKeyDictionary[HeatAreas, dict[tuple[str, float], dict[str, list[str]]]]" = weakref.WeakKeyDictionary()
_ADJACENCY_LOCK = threading.Lock()


def _hull_adjacency(areas: HeatAreas, by: str, touch_m: float) -> dict[str, list[str]]:
    """台区 / feeder id → the ids of the hulls within ``touch_m``: computed once per data version
    (``areas``) and kept beside it (the spatial join is most of a city-wide hotspot run)."""
    with _ADJACENCY_LOCK:
        memo = _ADJACENCY.setdefault(areas, {})
        hit = memo.get((by, touch_m))
        if hit is None:
            ids = list(areas.shapes[by])
            nb = hull_neighbours([areas.shapes[by][i] for i in ids], touch_m) if ids else {}
            hit = {ids[i]: [ids[j] for j in js] for i, js in nb.items()}
            memo[(by, touch_m)] = hit
    return hit


@dataclass(frozen=True, slots=True)
class Hotspot:
    id: str
    z: float
    p: float
    count: int
    customers: int
    rate: float
    hot: bool | None  # True hot, False cold, None not significant
    neighbours: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "z": round(self.z, 4), "p": float(f"{self.p:.4g}"), "count": self.count,
                "customers": self.customers, "rate": self.rate, "hot": self.hot, "neighbours": self.neighbours}


def hotspots(result: HeatResult, areas: HeatAreas, *, alpha: float = 0.05, touch_m: float = 50.0,
             significant_only: bool = True) -> dict[str, Any]:
    """Gi* over the areas of a heat result that have customers (see the module docstring)."""
    import esda  # noqa: PLC0415

    if not 0 < alpha < 1:
        raise InvalidInput("alpha must be between 0 and 1", field="alpha", value=alpha)
    by = result.query.by
    rows = [a for a in result.areas if a.customers > 0 and a.rate is not None]
    if by == "cell":
        neighbours = cell_neighbours([h3i.str_to_int(a.id) for a in rows])
        weights = "binary, adjacent H3 cells (ring 1)"
    else:
        adjacent = _hull_adjacency(areas, by, touch_m)
        rows = [a for a in rows if a.id in adjacent]
        pos = {a.id: i for i, a in enumerate(rows)}
        neighbours = {i: [pos[b] for b in adjacent[a.id] if b in pos] for i, a in enumerate(rows)}
        weights = f"binary, {by} hulls within {touch_m:g} m"
    y = np.array([a.rate for a in rows], dtype=float)
    z, p = gi_star(y, neighbours)
    cut = float(esda.fdr(p, alpha)) if len(p) else 0.0
    out = []
    for i, a in enumerate(rows):
        significant = bool(p[i] <= cut) and z[i] != 0
        hot = (bool(z[i] > 0) if significant else None)
        if significant_only and hot is None:
            continue
        out.append(Hotspot(a.id, float(z[i]), float(p[i]), a.count, a.customers, float(a.rate), hot, len(neighbours.get(i, ()))))
    out.sort(key=lambda h: (-abs(h.z), h.id))
    islands = sum(1 for i in range(len(rows)) if not neighbours.get(i))
    inputs = {
        "statistic": "Getis-Ord Gi* (esda.G_Local, star=True, analytical z, two-sided normal p)",
        "variable": "contacts per 1,000 customers (customers as exposure)",
        "weights": weights, "areas": len(rows), "islands": islands,
        "mean_neighbours": round(float(np.mean([len(v) for v in neighbours.values()])) if neighbours else 0.0, 3),
        "mean_rate": round(float(y.mean()), 3) if len(y) else None, "alpha": alpha, "fdr_cut_p": cut,
        "count": int(sum(a.count for a in rows)), "customers": int(sum(a.customers for a in rows)),
    }
    return {**result.query.to_dict(), "inputs": inputs, "hot": sum(1 for h in out if h.hot),
            "cold": sum(1 for h in out if h.hot is False), "areas": [h.to_dict() for h in out]}

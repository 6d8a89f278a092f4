"""Gi* hotspots: esda's own test vector, a planted cluster found, uniform noise flagged nowhere."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from h3.api import basic_int as h3i

from interactions.heat import HeatArea, HeatQuery, HeatResult
from interactions.hotspots import cell_neighbours, gi_star, hotspots


def test_gi_star_matches_the_esda_docstring_vector():
    import libpysal

    points = [(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)]
    w = libpysal.weights.DistanceBand(points, threshold=15)
    y = np.array([2, 3, 3.2, 5, 8, 7])
    z, p = gi_star(y, {i: list(w.neighbors[i]) for i in range(len(points))})
    assert z == pytest.approx([-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331], abs=1e-7)
    assert p[5] == pytest.approx(0.0429, abs=1e-3)  # two-sided normal


@pytest.mark.parametrize("seed", range(3))
def test_closed_form_equals_esda_g_local_on_random_grids(seed):
    """The closed form is esda's analytical Gi* (star, binary), islands included."""
    import esda
    import libpysal

    rng = np.random.default_rng(seed)
    cells = list(h3i.grid_disk(CENTRE, 6))
    cells = [c for c in cells if rng.random() > 0.15]  # holes, so some cells have few neighbours
    cells.append(h3i.latlng_to_cell(23.5, 113.5, 8))  # an island
    nb = cell_neighbours(cells)
    y = rng.gamma(2.0, 10.0, len(cells))
    z, p = gi_star(y, nb)
    w = libpysal.weights.W({i: list(v) for i, v in nb.items()}, silence_warnings=True)
    g = esda.G_Local(y, w, transform="B", star=True, permutations=0)
    assert z == pytest.approx(np.asarray(g.Zs), abs=1e-9)
    assert p == pytest.approx(2 * np.asarray(g.p_norm), abs=1e-12)


def test_hotspots_reuse_the_weights_of_a_data_version_and_match_fresh_ones():
    """Cached per-version cell weights give the same answer as weights built for the result alone."""
    from interactions.heat import HeatAreas

    rng = np.random.default_rng(7)
    planted = set(h3i.grid_disk(h3i.grid_disk(CENTRE, 4)[-1], 1))
    result = _grid({c: (60.0 if c in planted else 20.0) for c in REGION}, 500, rng)
    pts = [h3i.cell_to_latlng(c) for c in REGION]
    areas = HeatAreas(np.array([p[1] for p in pts]), np.array([p[0] for p in pts]), [None] * len(pts), {}, [], np.array([]))
    fresh = hotspots(result, None, significant_only=False)
    cached = hotspots(result, areas, significant_only=False)
    again = hotspots(result, areas, significant_only=False)
    assert cached["areas"] == fresh["areas"] == again["areas"]
    assert cached["hot"] >= 4


def _grid(rates: dict[int, float], customers: int, rng: np.random.Generator) -> HeatResult:
    areas = []
    for cell, rate in rates.items():
        n = int(rng.poisson(rate * customers / 1000.0))
        lat, lon = h3i.cell_to_latlng(cell)
        areas.append(HeatArea(h3i.int_to_str(cell), n, customers, round(n * 1000.0 / customers, 3), lon, lat))
    return HeatResult(HeatQuery("cell", dt.date(2030, 1, 1), dt.date(2030, 12, 31), res=8), areas)


CENTRE = h3i.latlng_to_cell(23.02, 113.12, 8)
REGION = h3i.grid_disk(CENTRE, 8)  # 217 cells


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_planted_cluster_is_found(seed):
    rng = np.random.default_rng(seed)
    planted = set(h3i.grid_disk(h3i.grid_disk(CENTRE, 4)[-1], 1))  # 7 cells off centre
    rates = {c: (60.0 if c in planted else 20.0) for c in REGION}
    body = hotspots(_grid(rates, 500, rng), areas=None)  # type: ignore[arg-type]  (cells need no shapes)
    hot = {h3i.str_to_int(a["id"]) for a in body["areas"] if a["hot"]}
    assert hot, body["inputs"]
    assert hot <= set(h3i.grid_disk(h3i.grid_disk(CENTRE, 4)[-1], 2))  # only in and around the cluster
    assert len(hot & planted) >= 4
    assert body["inputs"]["areas"] == len(REGION) and body["inputs"]["weights"].startswith("binary")


@pytest.mark.parametrize("seed", range(5))
def test_uniform_noise_gives_no_hotspot(seed):
    rng = np.random.default_rng(100 + seed)
    body = hotspots(_grid({c: 20.0 for c in REGION}, 500, rng), areas=None)  # type: ignore[arg-type]
    assert body["areas"] == [], body["areas"]


def test_neighbours_are_the_adjacent_cells():
    cells = h3i.grid_disk(CENTRE, 1)
    nb = cell_neighbours(cells)
    assert len(nb[cells.index(CENTRE)]) == 6
    assert all(1 <= len(v) <= 6 for v in nb.values())

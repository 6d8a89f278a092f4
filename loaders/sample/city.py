"""The city the network serves, in local metres: streets, demand, substation sites.

Everything works in a local planar frame (x east, y north, metres, origin at the city
centre). A jittered street grid (streets ~300 m apart, a pole position every ~150 m);
customers spread over the blocks with a smooth density (dense core, sparse rim, some
empty blocks); transformers (台区, ~60–120 customers) inside the blocks, meter boxes
(表箱, 4–12 customers) around them; substations placed by weighted k-means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loaders.sample.vocab import (
    DISTRICT_CENTER,
    DISTRICT_NORTH_WEST,
    DISTRICT_SOUTH,
    PLACES,
    STREET_BASES,
)

__all__ = [
    "NUMERALS",
    "Blocks",
    "Plan",
    "Streets",
    "anchor_substations",
    "build_streets",
    "cumcount",
    "district_of",
    "place_boxes",
    "place_substations",
    "place_transformers",
    "plan_city",
    "spread_customers",
]

DENSITY_PER_KM2 = 1500.0  # average customers per km² (constant: area scales with customers)
BLOCK_M = 300.0  # nominal street spacing
ASPECT = 1.25  # width / height of the city rectangle
SECTION_M = 4000.0  # a long street is named in sections (…南路/中路/北路, …一路/二路)
TR_CUSTOMERS = (60.0, 120.0)  # customers per transformer
BOX_CUSTOMERS = (4, 12)  # customers per meter box
NUMERALS = tuple("一二三四五六七八九十")
_NAME_ROUNDS = ("", "新", "兴", "中", "华", "东")


@dataclass(frozen=True)
class Plan:
    """City size derived from the customer count (street counts, substations)."""

    customers: int
    n_x: int  # north–south streets
    n_y: int  # east–west streets
    substations: int

    @property
    def half_size_m(self) -> tuple[float, float]:
        """Half width and half height of the street grid (before jitter)."""
        return (self.n_x - 1) * BLOCK_M / 2, (self.n_y - 1) * BLOCK_M / 2


def plan_city(customers: int) -> Plan:
    """Size the city for ``customers`` at constant density; 5k → 3, 1M → ~60 substations."""
    area_m2 = customers / DENSITY_PER_KM2 * 1e6
    width = math.sqrt(area_m2 * ASPECT)
    height = area_m2 / width
    return Plan(
        customers=customers,
        n_x=max(4, round(width / BLOCK_M) + 1),
        n_y=max(3, round(height / BLOCK_M) + 1),
        substations=max(2, round(3 * (customers / 5000) ** 0.565)),
    )


def district_of(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """District (区) of local points: 禅城 in the core, 顺德 to the south, 南海 elsewhere."""
    core = np.hypot(x, y) < 7000.0
    south = (y < -4000.0) & (x > -8000.0)
    return np.where(core, DISTRICT_CENTER, np.where(south, DISTRICT_SOUTH, DISTRICT_NORTH_WEST))


@dataclass(frozen=True)
class Streets:
    """The street grid: street lines, the half-step lattice of pole positions, names.

    Street ``i < n_x`` is the north–south street at ``x = xs[i]``; street ``n_x + j`` the
    east–west street at ``y = ys[j]``. Lattice point ``(ix, iy)`` (id ``ix * len(gy) + iy``)
    lies on a street when ``ix`` or ``iy`` is even.
    """

    xs: np.ndarray
    ys: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    arterial: np.ndarray  # per street
    stem: np.ndarray  # per street: name without section and type, e.g. 汾江
    start: np.ndarray  # per street: coordinate where numbering starts (south / west end)
    section_len: np.ndarray  # per street
    n_sections: np.ndarray  # per street
    name_offset: np.ndarray  # per street: index of its first section in ``names``
    names: np.ndarray  # all section names, e.g. 汾江中路

    def name_at(self, street: np.ndarray, along: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Section name and distance from the section start for points along streets."""
        sec = np.clip(
            ((along - self.start[street]) // self.section_len[street]).astype(np.int64),
            0,
            self.n_sections[street] - 1,
        )
        offset = along - self.start[street] - sec * self.section_len[street]
        return self.names[self.name_offset[street] + sec], np.maximum(offset, 0.0)


# --------------------------------------------------------------------------- streets


def build_streets(rng: np.random.Generator, plan: Plan) -> Streets:
    """Jittered street lines, pole lattice, arterials and unique section names."""
    xs = (np.arange(plan.n_x) - (plan.n_x - 1) / 2) * BLOCK_M + rng.uniform(-30, 30, plan.n_x)
    ys = (np.arange(plan.n_y) - (plan.n_y - 1) / 2) * BLOCK_M + rng.uniform(-30, 30, plan.n_y)
    gx = _half_grid(rng, xs)
    gy = _half_grid(rng, ys)
    n_streets = plan.n_x + plan.n_y
    idx = np.arange(n_streets)
    along_index = np.where(idx < plan.n_x, idx, idx - plan.n_x)
    arterial = (along_index % 4 == 1) | (rng.random(n_streets) < 0.08)
    minor_type = np.where(rng.random(n_streets) < 0.7, "路", "街")
    major_type = np.where(rng.random(n_streets) < 0.5, "大道", "路")
    kind = np.where(arterial, major_type, minor_type)

    stems_pool = np.array(STREET_BASES, dtype=object)[rng.permutation(len(STREET_BASES))]
    n_pool = len(stems_pool)
    rounds = np.array(_NAME_ROUNDS, dtype=object)[np.minimum(idx // n_pool, len(_NAME_ROUNDS) - 1)]
    stem = rounds + stems_pool[idx % n_pool]

    vertical = idx < plan.n_x
    lo = np.where(vertical, gy[0], gx[0])
    hi = np.where(vertical, gy[-1], gx[-1])
    n_sections = np.clip(np.ceil((hi - lo) / SECTION_M), 1, len(NUMERALS)).astype(np.int64)
    section_len = (hi - lo) / n_sections + 1e-6
    names: list[str] = []
    offsets = np.zeros(n_streets, dtype=np.int64)
    for i in range(n_streets):
        offsets[i] = len(names)
        labels = _section_labels(int(n_sections[i]), bool(vertical[i]))
        names.extend(f"{stem[i]}{label}{kind[i]}" for label in labels)
    return Streets(
        xs=xs,
        ys=ys,
        gx=gx,
        gy=gy,
        arterial=arterial,
        stem=stem,
        start=lo,
        section_len=section_len,
        n_sections=n_sections,
        name_offset=offsets,
        names=np.array(names, dtype=object),
    )


def _half_grid(rng: np.random.Generator, lines: np.ndarray) -> np.ndarray:
    """Street coordinates at even positions, jittered mid-block poles at odd ones."""
    out = np.empty(2 * len(lines) - 1)
    out[0::2] = lines
    out[1::2] = (lines[:-1] + lines[1:]) / 2 + rng.uniform(-20, 20, len(lines) - 1)
    return out


def _section_labels(n: int, vertical: bool) -> tuple[str, ...]:
    """Section labels: 南/北 or 西/东 for two, with 中 for three, 一/二/… beyond."""
    if n == 1:
        return ("",)
    if n <= 3:
        ends = ("南", "北") if vertical else ("西", "东")
        return (ends[0], "中", ends[1]) if n == 3 else ends
    return NUMERALS[:n]


# --------------------------------------------------------------------------- demand


@dataclass(frozen=True)
class Blocks:
    """City blocks (between streets ``bx``/``bx+1`` and ``by``/``by+1``) and their customers."""

    bx: np.ndarray
    by: np.ndarray
    x0: np.ndarray
    x1: np.ndarray
    y0: np.ndarray
    y1: np.ndarray
    customers: np.ndarray


def spread_customers(rng: np.random.Generator, streets: Streets, customers: int) -> Blocks:
    """Spread customers over blocks: log-normal noise × a dense core, ~8 % empty blocks."""
    nbx, nby = len(streets.xs) - 1, len(streets.ys) - 1
    bx, by = np.divmod(np.arange(nbx * nby), nby)
    x0, x1 = streets.xs[bx], streets.xs[bx + 1]
    y0, y1 = streets.ys[by], streets.ys[by + 1]
    half_w, half_h = streets.xs[-1], streets.ys[-1]
    r = np.hypot((x0 + x1) / 2 / half_w, (y0 + y1) / 2 / half_h) / math.sqrt(2)
    weight = np.exp(0.6 * rng.standard_normal(len(bx))) * (0.4 + 1.4 * np.exp(-((r / 0.45) ** 2)))
    weight[rng.random(len(bx)) < 0.08] = 0.0
    if weight.sum() == 0:
        weight[:] = 1.0
    counts = rng.multinomial(customers, weight / weight.sum())
    return Blocks(bx, by, x0, x1, y0, y1, counts)


def place_transformers(rng: np.random.Generator, streets: Streets, blocks: Blocks) -> pd.DataFrame:
    """Transformers on a jittered sub-grid inside each block, attached to a nearby pole."""
    c = blocks.customers
    cap = rng.uniform(*TR_CUSTOMERS, len(c))
    per_block = np.where(c > 0, np.maximum(1, np.rint(c / cap)), 0).astype(np.int64)
    block = np.repeat(np.arange(len(c)), per_block)
    k = cumcount(per_block)
    m = per_block[block]
    cols = np.ceil(np.sqrt(m)).astype(np.int64)
    rows = np.ceil(m / cols).astype(np.int64)
    u = (k % cols + 0.5 + rng.uniform(-0.25, 0.25, len(k))) / cols
    v = (k // cols + 0.5 + rng.uniform(-0.25, 0.25, len(k))) / rows
    x0, x1 = blocks.x0[block], blocks.x1[block]
    y0, y1 = blocks.y0[block], blocks.y1[block]
    x = x0 + 15 + u * (x1 - x0 - 30)
    y = y0 + 15 + v * (y1 - y0 - 30)
    # the nearest of the 8 lattice points around the block centre (all on streets)
    d = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy])
    ix = 2 * blocks.bx[block][:, None] + 1 + d[:, 0]
    iy = 2 * blocks.by[block][:, None] + 1 + d[:, 1]
    dist = np.hypot(streets.gx[ix] - x[:, None], streets.gy[iy] - y[:, None])
    pick = dist.argmin(axis=1)
    rows_ = np.arange(len(k))
    cell = np.minimum((x1 - x0) / cols, (y1 - y0) / rows)
    n_cust = c[block] // m + (k < c[block] % m)
    return pd.DataFrame(
        {
            "x": x,
            "y": y,
            "block": block,
            "customers": n_cust,
            "attach": ix[rows_, pick] * len(streets.gy) + iy[rows_, pick],
            "radius": np.clip(0.6 * cell, 35.0, 130.0),
        }
    )


def place_boxes(
    rng: np.random.Generator, streets: Streets, blocks: Blocks, trs: pd.DataFrame
) -> pd.DataFrame:
    """Meter boxes of 4–12 customers around their transformer, inside its block."""
    n_t = trs["customers"].to_numpy()
    per_box = rng.integers(BOX_CUSTOMERS[0], BOX_CUSTOMERS[1] + 1, len(n_t))
    m_t = np.maximum(1, np.ceil(n_t / per_box)).astype(np.int64)
    tr = np.repeat(np.arange(len(n_t)), m_t)
    j = cumcount(m_t)
    size = n_t[tr] // m_t[tr] + (j < n_t[tr] % m_t[tr])
    # stratified directions spread the boxes around their transformer
    ang = rng.uniform(0, 2 * np.pi, len(n_t))[tr] + 2 * np.pi * (j + rng.uniform(0.1, 0.9, len(tr))) / m_t[tr]
    rad = trs["radius"].to_numpy()[tr] * np.sqrt(rng.uniform(0.05, 1.0, len(tr)))
    block = trs["block"].to_numpy()[tr]
    x0, x1, y0, y1 = blocks.x0[block], blocks.x1[block], blocks.y0[block], blocks.y1[block]
    x = _fold(trs["x"].to_numpy()[tr] + rad * np.cos(ang), x0 + 5, x1 - 5)
    y = _fold(trs["y"].to_numpy()[tr] + rad * np.sin(ang), y0 + 5, y1 - 5)
    # address: the nearest of the four streets around the block; odd/even sides
    gaps = np.stack([x - x0, x1 - x, y - y0, y1 - y], axis=1)
    side = gaps.argmin(axis=1)
    n_x = len(streets.xs)
    street = np.select(
        [side == 0, side == 1, side == 2],
        [blocks.bx[block], blocks.bx[block] + 1, n_x + blocks.by[block]],
        n_x + blocks.by[block] + 1,
    )
    name, offset = streets.name_at(street, np.where(side < 2, y, x))
    house_no = 2 * (offset // 60).astype(np.int64) + np.where(side % 2 == 0, 1, 2)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "transformer": tr,
            "customers": size,
            "district": district_of(x, y),
            "street": name,
            "house_no": house_no,
        }
    )
    frame["building"] = frame.groupby(["street", "house_no"], sort=False).cumcount() + 1
    return frame


def _fold(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mirror values that leave [lo, hi] back inside (closer to the block's interior;
    unlike clipping, this never stacks points on the block edge)."""
    v = np.where(v < lo, 2 * lo - v, v)
    return np.clip(np.where(v > hi, 2 * hi - v, v), lo, hi)


# --------------------------------------------------------------------------- substations


def place_substations(
    rng: np.random.Generator, streets: Streets, blocks: Blocks, n_sub: int
) -> pd.DataFrame:
    """Weighted k-means over populated blocks; each substation sits in a block by a street."""
    cx = (blocks.x0 + blocks.x1) / 2
    cy = (blocks.y0 + blocks.y1) / 2
    w = blocks.customers.astype(np.float64)
    populated = np.flatnonzero(w > 0)
    n_sub = min(n_sub, len(populated))
    centers = np.stack([cx, cy], axis=1)[rng.choice(populated, n_sub, replace=False, p=w[populated] / w.sum())]
    for _ in range(15):
        d2 = (cx[:, None] - centers[None, :, 0]) ** 2 + (cy[:, None] - centers[None, :, 1]) ** 2
        label = d2.argmin(axis=1)
        mass = np.bincount(label, w, n_sub)
        moved = mass > 0
        centers[moved, 0] = np.bincount(label, w * cx, n_sub)[moved] / mass[moved]
        centers[moved, 1] = np.bincount(label, w * cy, n_sub)[moved] / mass[moved]
    ngy = len(streets.gy)
    taken_blocks: set[int] = set()
    taken_roots: set[int] = set()
    rows = []
    place_order = [str(p) for p in np.array(PLACES, dtype=object)[rng.permutation(len(PLACES))]]
    used_names: set[str] = set()
    for sx, sy in centers:
        # the nearest populated free block, entered from a free mid-block street point
        for b in np.argsort(np.hypot(cx - sx, cy - sy), kind="stable").tolist():
            ix, iy = 2 * int(blocks.bx[b]) + 1, 2 * int(blocks.by[b]) + 1
            start = int(rng.integers(4))
            options = [(ix, iy - 1), (ix - 1, iy), (ix + 1, iy), (ix, iy + 1)]
            free = [o for o in options[start:] + options[:start] if o[0] * ngy + o[1] not in taken_roots]
            if w[b] > 0 and b not in taken_blocks and free:
                break
        taken_blocks.add(b)
        rx, ry = free[0]
        root = rx * ngy + ry
        taken_roots.add(root)
        px, py = streets.gx[rx], streets.gy[ry]
        street = rx // 2 if rx % 2 == 0 else len(streets.xs) + ry // 2
        short = str(streets.stem[street])
        if short in used_names:
            short = next((p for p in place_order if p not in used_names), f"新城{len(rows) + 1}")
        used_names.add(short)
        rows.append(
            {
                "name": f"{short}变电站",
                "short": short,
                "x": px + 0.3 * (cx[b] - px),
                "y": py + 0.3 * (cy[b] - py),
                "root": root,
                "block": b,
            }
        )
    return pd.DataFrame(rows)


def anchor_substations(trs: pd.DataFrame, subs: pd.DataFrame) -> pd.DataFrame:
    """Attach the transformer nearest each substation in its own block to the substation's
    first street point, so that every substation feeds at least one feeder."""
    out = trs.copy()
    block = out["block"].to_numpy()
    attach = out["attach"].to_numpy().copy()
    for b, root, sx, sy in zip(subs["block"].tolist(), subs["root"].tolist(), subs["x"], subs["y"]):
        here = np.flatnonzero(block == b)
        nearest = here[np.argmin(np.hypot(out["x"].to_numpy()[here] - sx, out["y"].to_numpy()[here] - sy))]
        attach[nearest] = root
    out["attach"] = attach
    return out


def cumcount(counts: np.ndarray) -> np.ndarray:
    """0, 1, … within each run of ``np.repeat(…, counts)``."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total) - np.repeat(starts, counts)

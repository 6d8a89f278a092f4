"""The radial 10 kV / 0.4 kV network laid over the city, in local metres.

A multi-source shortest-path forest over the street graph (arterials preferred) is
pruned to the streets that lead to a transformer and cut bottom-up into feeders of
similar size, so the network is radial by construction. Then the equipment: head
breakers, trunk sectionalizers, branch switches, transformer fuses, normally-open ties
between feeders, and LV cable trees to the meter boxes.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loaders.sample.city import NUMERALS, Streets
from loaders.sample.tables import Net

__all__ = ["Forest", "build_feeders", "lv_network", "street_forest", "transformer_drops"]

KVA_SIZES = np.array([100, 200, 315, 400, 500, 630, 800])
TRANSFORMERS_PER_FEEDER = 15.0
SWITCH_GAP_M = 1.0  # distance between the two nodes of a switch


# --------------------------------------------------------------------------- 10 kV forest


@dataclass(frozen=True)
class Forest:
    """Shortest-path forest over the street lattice, one tree per substation."""

    eu: np.ndarray  # street edges (lattice ids)
    ev: np.ndarray
    parent: list[int]  # per lattice id, -1 for roots / unreached
    owner: list[int]  # substation index per lattice id
    order: list[int]  # settle order (parents before children)


def street_forest(rng: np.random.Generator, streets: Streets, roots: np.ndarray) -> Forest:
    """Multi-source Dijkstra over the street lattice; arterials cost 25 % less."""
    ngx, ngy = len(streets.gx), len(streets.gy)
    ix, iy = np.divmod(np.arange(ngx * ngy), ngy)
    horiz = (iy % 2 == 0) & (ix < ngx - 1)
    vert = (ix % 2 == 0) & (iy < ngy - 1)
    eu = np.concatenate([np.flatnonzero(horiz), np.flatnonzero(vert)])
    ev = np.concatenate([np.flatnonzero(horiz) + ngy, np.flatnonzero(vert) + 1])
    length = np.hypot(streets.gx[ev // ngy] - streets.gx[eu // ngy], streets.gy[ev % ngy] - streets.gy[eu % ngy])
    street = np.concatenate([len(streets.xs) + iy[horiz] // 2, ix[vert] // 2])
    weight = length * np.where(streets.arterial[street], 0.75, 1.0) * rng.uniform(1.0, 1.15, len(eu))

    src = np.concatenate([eu, ev])
    dst = np.concatenate([ev, eu])
    w = np.concatenate([weight, weight])
    srt = np.lexsort((dst, src))
    src, dst, w = src[srt], dst[srt], w[srt]
    indptr = np.searchsorted(src, np.arange(ngx * ngy + 1)).tolist()
    dst_l, w_l = dst.tolist(), w.tolist()

    n = ngx * ngy
    dist = [math.inf] * n
    parent = [-1] * n
    owner = [-1] * n
    done = [False] * n
    heap = []
    for s, r in enumerate(roots.tolist()):
        dist[r] = 0.0
        owner[r] = s
        heap.append((0.0, r))
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        d, v = heapq.heappop(heap)
        if done[v]:
            continue
        done[v] = True
        order.append(v)
        for k in range(indptr[v], indptr[v + 1]):
            t = dst_l[k]
            nd = d + w_l[k]
            if nd < dist[t]:
                dist[t] = nd
                parent[t] = v
                owner[t] = owner[v]
                heapq.heappush(heap, (nd, t))
    return Forest(eu=eu, ev=ev, parent=parent, owner=owner, order=order)


@dataclass(frozen=True)
class _Cut:
    """The street forest cut into feeders (lattice ids; Python lists for speed in loops)."""

    heads: list[int]  # per feeder, its first street point
    settled: list[int]  # the other street points of all feeders, parents first
    parent: list[int]
    feeder_of: list[int]  # per lattice id, -1 when unused
    acc: list[float]  # per lattice id, transformers below it within its feeder
    sub_of: np.ndarray  # per feeder
    trunk_pos: list[int]  # per lattice id, position on its feeder's trunk, -1 off-trunk
    trunk_len: list[int]  # per feeder, spans on the trunk


def build_feeders(
    rng: np.random.Generator,
    streets: Streets,
    subs: pd.DataFrame,
    trs: pd.DataFrame,
    forest: Forest,
    net: Net,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Cut the street forest into feeders and emit their 10 kV nodes, lines and switches.

    Returns the feeder table (name, substation, head_switch, cable), the feeder per
    lattice id and the node per lattice id (-1 where unused).
    """
    n_lattice = len(streets.gx) * len(streets.gy)
    n_tr = len(trs)
    load = np.bincount(trs["attach"].to_numpy(), minlength=n_lattice).astype(np.float64)
    target = max(1.0, n_tr / max(3 * len(subs), round(n_tr / TRANSFORMERS_PER_FEEDER)))
    cut = _cut_forest(forest, load.tolist(), target)
    n_f = len(cut.heads)

    ngy = len(streets.gy)
    heads = np.asarray(cut.heads, dtype=np.int64)
    r = np.hypot(streets.gx[heads // ngy] / streets.gx[-1], streets.gy[heads % ngy] / streets.gy[-1]) / math.sqrt(2)
    cable = rng.random(n_f) < np.clip(1.05 - 0.9 * r, 0.1, 0.95)  # cables in the core
    every = rng.integers(2, 5, n_f)  # trunk spans between sectionalizers
    codes, names = _feeder_names(streets, subs, cut)

    breakers, outlet, outlet_xy = _substation_bays(net, subs, cut, codes)
    lattice = np.array(cut.heads + cut.settled, dtype=np.int64)
    node_of = np.full(n_lattice, -1, dtype=np.int64)
    node_of[lattice] = net.add_nodes(
        streets.gx[lattice // ngy],
        streets.gy[lattice % ngy],
        "pole",
        10.0,
        np.asarray(cut.feeder_of, dtype=np.int64)[lattice],
    )
    _head_cables(net, streets, cut, node_of, outlet, outlet_xy, codes)
    _spans(rng, net, streets, cut, node_of, cable, every, codes)
    _ties(rng, streets, forest, node_of, cut, cable, codes, net)
    frame = pd.DataFrame({"name": names, "substation": cut.sub_of, "head_switch": breakers, "cable": cable})
    return frame, np.asarray(cut.feeder_of, dtype=np.int64), node_of


def _cut_forest(forest: Forest, load: list[float], target: float) -> _Cut:
    """Bottom-up cut: a street point whose pending load reaches ``target`` heads a feeder.

    Points with no transformer below them (within their feeder) are dropped; a
    substation's remaining load forms a feeder headed at its first street point. The
    trunk of a feeder is its heaviest path from the head.
    """
    parent, order = forest.parent, forest.order
    acc = list(load)
    head = [False] * len(acc)
    for v in reversed(order):
        p = parent[v]
        if p < 0:
            head[v] = acc[v] > 0
        elif acc[v] >= target:
            head[v] = True
        else:
            acc[p] += acc[v]
    kept = [a > 0 for a in acc]

    heads = sorted((v for v in order if kept[v] and head[v]), key=lambda v: forest.owner[v])
    feeder_of = [-1] * len(acc)
    for f, h in enumerate(heads):
        feeder_of[h] = f
    children: list[list[int]] = [[] for _ in range(len(acc))]
    settled: list[int] = []
    for v in order:
        if kept[v] and not head[v]:
            feeder_of[v] = feeder_of[parent[v]]
            children[parent[v]].append(v)
            settled.append(v)

    trunk_pos = [-1] * len(acc)
    trunk_len = [0] * len(heads)
    for f, h in enumerate(heads):
        v, trunk_pos[h] = h, 0
        while children[v]:
            c = max(children[v], key=lambda t: acc[t])
            trunk_pos[c] = trunk_pos[v] + 1
            v = c
        trunk_len[f] = trunk_pos[v]
    return _Cut(
        heads=heads,
        settled=settled,
        parent=parent,
        feeder_of=feeder_of,
        acc=acc,
        sub_of=np.array([forest.owner[h] for h in heads], dtype=np.int64),
        trunk_pos=trunk_pos,
        trunk_len=trunk_len,
    )


def _feeder_names(streets: Streets, subs: pd.DataFrame, cut: _Cut) -> tuple[list[str], list[str]]:
    """Codes (季华F03) and names (季华F03 汾江线) after the street the feeder starts on."""
    ngy = len(streets.gy)
    per_sub = [0] * len(subs)
    used: dict[str, int] = {}
    codes, names = [], []
    for f, h in enumerate(cut.heads):
        s = int(cut.sub_of[f])
        per_sub[s] += 1
        codes.append(f"{subs['short'].iat[s]}F{per_sub[s]:02d}")
        ix, iy = divmod(h, ngy)
        p = cut.parent[h]
        along_x = ix % 2 == 1 or (iy % 2 == 0 and p >= 0 and p // ngy != ix)
        stem = str(streets.stem[len(streets.xs) + iy // 2 if along_x else ix // 2])
        seen = used.get(stem, 0)
        used[stem] = seen + 1
        names.append(f"{codes[-1]} {stem}{NUMERALS[min(seen, 9)] if seen else ''}线")
    return codes, names


def _substation_bays(
    net: Net, subs: pd.DataFrame, cut: _Cut, codes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bus node per substation and, per feeder, an outlet node 2 m away behind a breaker."""
    sub_of = cut.sub_of
    bus = net.add_nodes(subs["x"], subs["y"], "bus", 10.0, -1, np.arange(len(subs)))
    per_sub = np.bincount(sub_of, minlength=len(subs))
    k_in_sub = np.concatenate([np.arange(c) for c in per_sub])
    theta = 2 * np.pi * k_in_sub / per_sub[sub_of] + 0.3
    ox = subs["x"].to_numpy()[sub_of] + 2.0 * np.cos(theta)
    oy = subs["y"].to_numpy()[sub_of] + 2.0 * np.sin(theta)
    n_f = len(sub_of)
    outlet = net.add_nodes(ox, oy, "junction", 10.0, np.arange(n_f))
    breakers = net.add_switches(bus[sub_of], outlet, "breaker", False, np.arange(n_f), [f"{c}断路器" for c in codes])
    return breakers, outlet, np.stack([ox, oy], axis=1)


def _head_cables(
    net: Net,
    streets: Streets,
    cut: _Cut,
    node_of: np.ndarray,
    outlet: np.ndarray,
    outlet_xy: np.ndarray,
    codes: list[str],
) -> None:
    """Cable from each outlet along the street path to the feeder head (shared trenches).

    A feeder without trunk spans gets a load switch at the end of its head cable, so
    that every feeder has at least one sectionalizing switch.
    """
    ngy = len(streets.gy)
    vias = []
    for h in cut.heads:
        path = []
        v = h
        while cut.parent[v] >= 0:
            v = cut.parent[v]
            path.append(v)
        path_a = np.array(path[::-1], dtype=np.int64)
        vias.append(np.stack([streets.gx[path_a // ngy], streets.gy[path_a % ngy]], axis=1))
    entry = np.flatnonzero(np.array(cut.trunk_len) == 0)
    head_node = node_of[cut.heads]
    last = np.array([vias[f][-1] if len(vias[f]) else outlet_xy[f] for f in entry.tolist()]).reshape(-1, 2)
    head = np.asarray(cut.heads, dtype=np.int64)[entry]
    hx, hy = streets.gx[head // ngy], streets.gy[head % ngy]
    d = np.hypot(hx - last[:, 0], hy - last[:, 1])
    e_nodes = net.add_nodes(
        hx - (hx - last[:, 0]) / d * SWITCH_GAP_M, hy - (hy - last[:, 1]) / d * SWITCH_GAP_M, "junction", 10.0, entry
    )
    cable_end = head_node.copy()
    cable_end[entry] = e_nodes
    net.add_segments(outlet, cable_end, "cable", np.arange(len(cut.heads)), vias)
    net.add_switches(
        e_nodes, head_node[entry], "load_switch", False, entry, [f"{codes[f]}#1进线开关" for f in entry.tolist()]
    )


def _spans(
    rng: np.random.Generator,
    net: Net,
    streets: Streets,
    cut: _Cut,
    node_of: np.ndarray,
    cable: np.ndarray,
    every: np.ndarray,
    codes: list[str],
) -> None:
    """Street spans of the feeders; sectionalizers on the trunk every few spans (at least
    one per trunk) and switches at the start of branches with ≥ 3 transformers."""
    ngy = len(streets.gy)
    gx, gy = streets.gx, streets.gy
    child = np.array(cut.settled, dtype=np.int64)
    par = np.array([cut.parent[v] for v in cut.settled], dtype=np.int64)
    fed = np.asarray(cut.feeder_of, dtype=np.int64)[child]
    trunk_pos = np.asarray(cut.trunk_pos, dtype=np.int64)
    tpos = trunk_pos[child]
    on_trunk = tpos > 0
    tlen = np.array(cut.trunk_len, dtype=np.int64)[fed]
    sectional = on_trunk & (tpos % every[fed] == 0)
    short_trunk = on_trunk & (tlen < every[fed]) & (tpos == np.maximum(1, tlen // 2))
    branch = ~on_trunk & (trunk_pos[par] >= 0) & (np.asarray(cut.acc)[child] >= 3)
    switched = sectional | short_trunk | branch

    cx, cy = gx[child // ngy], gy[child % ngy]
    px, py = gx[par // ngy], gy[par % ngy]
    span = np.hypot(cx - px, cy - py)
    sx = cx - (cx - px) / span * SWITCH_GAP_M
    sy = cy - (cy - py) / span * SWITCH_GAP_M
    s_nodes = net.add_nodes(sx[switched], sy[switched], "pole", 10.0, fed[switched])
    end = node_of[child].copy()
    end[switched] = s_nodes
    net.add_segments(node_of[par], end, np.where(cable[fed], "cable", "overhead"), fed)

    sw_fed = fed[switched]
    sw_kind = np.where(rng.random(len(sw_fed)) < np.where(cable[sw_fed], 0.85, 0.5), "load_switch", "disconnector")
    seq = pd.Series(sw_fed).groupby(sw_fed).cumcount().to_numpy() + 1
    role = np.where(branch[switched], "分支", "分段")
    net.add_switches(
        s_nodes,
        node_of[child[switched]],
        sw_kind,
        False,
        sw_fed,
        [f"{codes[f]}#{n}{r}开关" for f, n, r in zip(sw_fed.tolist(), seq.tolist(), role.tolist())],
    )


def _ties(
    rng: np.random.Generator,
    streets: Streets,
    forest: Forest,
    node_of: np.ndarray,
    cut: _Cut,
    cable: np.ndarray,
    codes: list[str],
    net: Net,
) -> None:
    """Normally-open ties between feeders (same or different substation).

    Candidates are street spans whose ends are in different feeders, trunk-to-trunk
    first. Each pair of neighbouring substations gets one tie; then one tie per feeder
    pair while either feeder has fewer than two ties. A feeder (or substation) still
    without a tie — its neighbours lie across unused streets — is tied along the shortest
    street path to the nearest other feeder (substation). The tie sits at ``u``
    (feeder A) and a segment ``t → w`` reaches the other feeder (B).
    """
    fo = np.asarray(cut.feeder_of, dtype=np.int64)
    tp = np.asarray(cut.trunk_pos, dtype=np.int64)
    sub_of = cut.sub_of
    fa, fb = fo[forest.eu], fo[forest.ev]
    cand = np.flatnonzero((fa >= 0) & (fb >= 0) & (fa != fb))
    score = (tp[forest.eu[cand]] >= 0).astype(np.int64) + (tp[forest.ev[cand]] >= 0)
    cand = cand[np.lexsort((rng.random(len(cand)), -score))]
    degree = [0] * len(cable)
    pairs: set[tuple[int, int]] = set()
    sub_pairs: set[tuple[int, int]] = set()
    paths: list[list[int]] = []
    for cross_pass in (True, False):
        for k in cand.tolist():
            a, b = int(fa[k]), int(fb[k])
            pair = (min(a, b), max(a, b))
            sa, sb = int(sub_of[a]), int(sub_of[b])
            if cross_pass:  # first one tie per pair of neighbouring substations
                if sa == sb or (min(sa, sb), max(sa, sb)) in sub_pairs:
                    continue
                sub_pairs.add((min(sa, sb), max(sa, sb)))
            elif pair in pairs or (degree[a] >= 2 and degree[b] >= 2):
                continue
            pairs.add(pair)
            degree[a] += 1
            degree[b] += 1
            paths.append([int(forest.eu[k]), int(forest.ev[k])])
    # fall back to street paths across unused streets: feeders without a tie, then
    # substations without a tie to another substation
    fo_list = fo.tolist()
    sub_list = [int(sub_of[f]) if f >= 0 else -1 for f in fo_list]
    n_sub = int(sub_of.max()) + 1 if len(sub_of) else 0
    tied_subs = {s for pair in sub_pairs for s in pair}
    searches = [(fo_list, f) for f in range(len(cable)) if degree[f] == 0 and len(cable) > 1]
    searches += [(sub_list, s) for s in range(n_sub) if s not in tied_subs and n_sub > 1]
    if searches:
        adjacency: list[list[int]] = [[] for _ in range(len(fo_list))]
        for a, b in zip(forest.eu.tolist(), forest.ev.tolist()):
            adjacency[a].append(b)
            adjacency[b].append(a)
        for group, g in searches:
            if group is fo_list and degree[g] > 0:
                continue
            path = _street_path(group, g, fo_list, adjacency)
            if path is not None:
                degree[fo_list[path[0]]] += 1
                degree[fo_list[path[-1]]] += 1
                paths.append(path)

    ngy = len(streets.gy)
    u = node_of[[p[0] for p in paths]]
    w = node_of[[p[-1] for p in paths]]
    nxt = np.array([p[1] for p in paths], dtype=np.int64)
    f_a, f_b = fo[[p[0] for p in paths]], fo[[p[-1] for p in paths]]
    x, y = net.xy()
    dx, dy = streets.gx[nxt // ngy] - x[u], streets.gy[nxt % ngy] - y[u]
    span = np.hypot(dx, dy)
    t = net.add_nodes(x[u] + dx / span * SWITCH_GAP_M, y[u] + dy / span * SWITCH_GAP_M, "pole", 10.0, f_b)
    net.add_switches(
        u, t, "tie", True, f_a, [f"{codes[a]}-{codes[b]}联络开关" for a, b in zip(f_a.tolist(), f_b.tolist())]
    )
    vias = [np.stack([streets.gx[np.array(p[1:-1], dtype=np.int64) // ngy],
                      streets.gy[np.array(p[1:-1], dtype=np.int64) % ngy]], axis=1) for p in paths]
    net.add_segments(t, w, np.where(cable[f_b], "cable", "overhead"), f_b, vias)


def _street_path(group: list[int], g: int, feeder_of: list[int], adjacency: list[list[int]]) -> list[int] | None:
    """Breadth-first street path from the lattice points with ``group[v] == g`` through
    unused streets to the nearest point of a feeder outside that group."""
    start = [v for v in range(len(group)) if group[v] == g]
    seen = set(start)
    prev: dict[int, int] = {}
    queue = deque(start)
    while queue:
        v = queue.popleft()
        for t in adjacency[v]:
            if t in seen:
                continue
            seen.add(t)
            prev[t] = v
            if feeder_of[t] >= 0:
                path = [t]
                while group[path[-1]] != g:
                    path.append(prev[path[-1]])
                return path[::-1]
            queue.append(t)
    return None


def transformer_drops(
    rng: np.random.Generator,
    streets: Streets,
    trs: pd.DataFrame,
    feeders: pd.DataFrame,
    feeder_of: np.ndarray,
    node_of: np.ndarray,
    net: Net,
) -> pd.DataFrame:
    """Drop line pole → fuse → transformer (hv node, lv node 3 m apart), named by street."""
    attach = trs["attach"].to_numpy()
    pole, fed = node_of[attach], feeder_of[attach]
    cable = feeders["cable"].to_numpy()[fed]
    x, y = net.xy()
    tx, ty = trs["x"].to_numpy(), trs["y"].to_numpy()
    d = np.hypot(tx - x[pole], ty - y[pole])
    ux, uy = (tx - x[pole]) / d, (ty - y[pole]) / d
    fuse_in = net.add_nodes(tx - 2.5 * ux, ty - 2.5 * uy, "pole", 10.0, fed)
    hv = net.add_nodes(tx - 1.5 * ux, ty - 1.5 * uy, "pole", 10.0, fed)
    lv = net.add_nodes(tx + 1.5 * ux, ty + 1.5 * uy, "lv", 0.4, fed)
    net.add_segments(pole, fuse_in, np.where(cable, "cable", "overhead"), fed)

    ngy = len(streets.gy)
    ix, iy = np.divmod(attach, ngy)
    vertical = (ix % 2 == 0) & ((iy % 2 == 1) | (np.abs(tx - streets.gx[ix]) < np.abs(ty - streets.gy[iy])))
    street = np.where(vertical, ix // 2, len(streets.xs) + iy // 2)
    along = np.where(vertical, ty, tx)
    street_name, _ = streets.name_at(street, along)
    order = pd.DataFrame({"street": street_name, "along": along}).sort_values(["street", "along"], kind="stable")
    number = np.empty(len(trs), dtype=np.int64)
    number[order.index.to_numpy()] = order.groupby("street", sort=False).cumcount().to_numpy() + 1
    name = street_name + pd.Series(number).astype(str).to_numpy(dtype=object) + "号台区"
    net.add_switches(fuse_in, hv, "fuse", False, fed, name + "熔断器")

    need = trs["customers"].to_numpy() * rng.uniform(2.2, 4.5, len(trs))
    kva = KVA_SIZES[np.minimum(np.searchsorted(KVA_SIZES, need), len(KVA_SIZES) - 1)]
    return pd.DataFrame(
        {
            "name": name,
            "x": tx,
            "y": ty,
            "hv": hv,
            "lv": lv,
            "rated_kva": kva,
            "feeder": fed,
            "customers": trs["customers"].to_numpy(),
        }
    )


def lv_network(
    rng: np.random.Generator, transformers: pd.DataFrame, boxes: pd.DataFrame, net: Net
) -> pd.DataFrame:
    """Meter-box nodes and LV cables: 1–4 outgoing LV lines per transformer (by direction).

    Within a line, boxes are connected in order of distance from the transformer, each
    to the nearest already connected box or to the transformer's LV node — a radial
    tree with short cables.
    """
    tr = boxes["transformer"].to_numpy()
    fed = transformers["feeder"].to_numpy()[tr]
    bx, by = boxes["x"].to_numpy(), boxes["y"].to_numpy()
    dx, dy = bx - transformers["x"].to_numpy()[tr], by - transformers["y"].to_numpy()[tr]
    n_lines = np.clip(np.ceil(np.bincount(tr, minlength=len(transformers)) / 3), 1, 4).astype(np.int64)
    rot = rng.uniform(0, 2 * np.pi, len(transformers))
    turn = np.mod(np.arctan2(dy, dx) - rot[tr], 2 * np.pi) / (2 * np.pi)
    sector = np.minimum((turn * n_lines[tr]).astype(np.int64), n_lines[tr] - 1)
    node = net.add_nodes(bx, by, "meter_box", 0.4, fed)

    order = np.lexsort((np.hypot(dx, dy), sector, tr))
    xy = np.stack([bx[order], by[order]], axis=1)
    first = np.ones(len(order), dtype=bool)
    first[1:] = (tr[order][1:] != tr[order][:-1]) | (sector[order][1:] != sector[order][:-1])
    group = np.cumsum(first) - 1
    group_start = np.flatnonzero(first)
    pos = np.arange(len(order)) - group_start[group]
    padded = np.full((len(group_start), int(pos.max()) + 1, 2), np.inf)
    padded[group, pos] = xy
    lv = transformers["lv"].to_numpy()[tr[order]]
    x, y = net.xy()
    best = np.hypot(xy[:, 0] - x[lv], xy[:, 1] - y[lv])
    parent = lv.copy()
    for i in range(1, padded.shape[1]):
        rows = np.flatnonzero(pos == i)
        d = np.hypot(*(padded[group[rows], :i] - xy[rows, None, :]).transpose(2, 0, 1))
        k = d.argmin(axis=1)
        closer = d[np.arange(len(rows)), k] < best[rows]
        parent[rows[closer]] = node[order][group_start[group[rows[closer]]] + k[closer]]
    net.add_segments(parent, node[order], "lv_cable", fed[order])
    out = boxes.copy()
    out.insert(2, "node", node)
    return out

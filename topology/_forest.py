"""Spanning forest of the normal state, laid out in DFS preorder (Euler intervals).

Private helper of :mod:`topology.compiled`.  Every node gets a tree: trees rooted at the
sources come first in preorder (so "normally energized" is ``tin < n_live``), then one
tree per source-less component (island).  Subtree of ``v`` = preorder positions
``[tin[v], tout[v])``.  Built in O(N + E) with scipy's BFS plus per-level vectorized
passes (the Python loop runs once per tree level, not per node).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

__all__ = ["Forest", "build_forest"]

_I = np.int32


@dataclass(frozen=True, eq=False)
class Forest:
    """Arrays over nodes ``0..n-1`` (all int32; -1 = none)."""

    tin: np.ndarray          # preorder position of each node
    tout: np.ndarray         # end (exclusive) of its subtree interval
    parent: np.ndarray       # parent node, -1 for roots
    parent_edge: np.ndarray  # edge id to the parent, -1 for roots
    order: np.ndarray        # node at each preorder position
    roots: np.ndarray        # tree roots sorted by preorder position
    root_is_source: np.ndarray  # bool, aligned with roots
    n_live: int              # positions < n_live are normally energized
    levels: _Levels          # BFS levels, kept for label propagation at compile time


@dataclass(frozen=True, eq=False)
class _Levels:
    order: np.ndarray    # BFS order over nodes (virtual root removed)
    par_pos: np.ndarray  # position in ``order`` of each entry's parent, -1 for roots
    bounds: np.ndarray   # level k occupies order[bounds[k]:bounds[k+1]]

    def propagate(self, marked: np.ndarray) -> np.ndarray:
        """Nearest marked ancestor-or-self value: ``out[v] = marked[v]`` if ``>= 0`` else ``out[parent]``.

        ``marked`` is an int array over nodes with -1 for unmarked.  O(N) vectorized.
        """
        vals = marked[self.order].astype(_I, copy=True)
        for k in range(1, len(self.bounds) - 1):
            a, b = self.bounds[k], self.bounds[k + 1]
            seg = vals[a:b]
            hole = seg < 0
            if hole.any():
                seg[hole] = vals[self.par_pos[a:b][hole]]
        out = np.empty_like(vals)
        out[self.order] = vals
        return out


def build_forest(n: int, src: np.ndarray, dst: np.ndarray, eid: np.ndarray, sources: np.ndarray) -> Forest:
    """Spanning forest over ``n`` nodes of the undirected edges ``src[i]-dst[i]`` (ids ``eid``).

    ``sources`` are node ids; each becomes a root and is never entered from another node,
    so no source lies in another source's subtree.  Nodes that no source reaches get one
    root per connected component (its smallest node).  Self-loops must be removed by the
    caller.
    """
    sources = np.unique(sources[(sources >= 0) & (sources < n)]).astype(_I)
    if n == 0:
        e = np.zeros(0, dtype=_I)
        return Forest(e, e, e, e, e, e, np.zeros(0, dtype=bool), 0,
                      _Levels(e, np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)))
    is_source = np.zeros(n, dtype=bool)
    is_source[sources] = True

    # directed edges in both directions, none entering a source; virtual root R = n
    s2 = np.concatenate([src, dst])
    d2 = np.concatenate([dst, src])
    e2 = np.concatenate([eid, eid])
    keep = ~is_source[d2]
    s2, d2, e2 = s2[keep], d2[keep], e2[keep]
    roots = sources
    graph = _graph(n, s2, d2, roots)
    bfs, pred = breadth_first_order(graph, n, directed=True, return_predecessors=True)
    if len(bfs) < n + 1:  # source-less islands: give each component a root and search again
        reached = np.zeros(n + 1, dtype=bool)
        reached[bfs] = True
        dead = np.flatnonzero(~reached[:n])
        roots = np.concatenate([sources, _component_minima(n, s2, d2, dead)])
        graph = _graph(n, s2, d2, roots)
        bfs, pred = breadth_first_order(graph, n, directed=True, return_predecessors=True)

    parent = pred[:n].astype(_I)
    parent[parent == n] = -1
    parent_edge = np.full(n, -1, dtype=_I)
    tree = parent[d2] == s2
    parent_edge[d2[tree]] = e2[tree]

    levels = _bfs_levels(n, bfs, pred)
    tin, size = _preorder(levels, n, is_source, roots)
    tout = (tin + size).astype(_I)
    order = np.empty(n, dtype=_I)
    order[tin] = np.arange(n, dtype=_I)
    roots = roots[np.argsort(tin[roots])]
    root_is_source = is_source[roots]
    n_live = int(size[roots[root_is_source]].sum())
    return Forest(tin, tout, parent, parent_edge, order, roots, root_is_source, n_live, levels)


def _graph(n: int, s2: np.ndarray, d2: np.ndarray, roots: np.ndarray) -> csr_matrix:
    rows = np.concatenate([s2, np.full(len(roots), n, dtype=s2.dtype)])
    cols = np.concatenate([d2, roots.astype(d2.dtype)])
    return csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n + 1, n + 1))


def _component_minima(n: int, s2: np.ndarray, d2: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """Smallest node of each connected component of the ``dead`` nodes (few, usually)."""
    local = np.full(n, -1, dtype=np.int64)
    local[dead] = np.arange(len(dead))
    inside = (local[s2] >= 0) & (local[d2] >= 0)
    m = csr_matrix((np.ones(int(inside.sum()), dtype=np.int8), (local[s2[inside]], local[d2[inside]])),
                   shape=(len(dead), len(dead)))
    _, label = connected_components(m, directed=True, connection="weak")
    _, first = np.unique(label, return_index=True)  # dead is sorted: first = smallest node
    return dead[first].astype(_I)


def _bfs_levels(n: int, bfs: np.ndarray, pred: np.ndarray) -> _Levels:
    """Split the BFS order (virtual root first) into levels of real nodes."""
    pos = np.empty(n + 1, dtype=np.int64)
    pos[bfs] = np.arange(n + 1)
    par_pos = np.empty(n + 1, dtype=np.int64)
    par_pos[0] = -1
    par_pos[1:] = pos[pred[bfs[1:]]]
    bounds = [0, 1]
    while bounds[-1] < n + 1:
        nxt = int(np.searchsorted(par_pos, bounds[-1], side="left"))
        if nxt <= bounds[-1]:  # unreachable nodes cannot occur (every component has a root)
            raise RuntimeError("BFS did not reach every node")
        bounds.append(nxt)
    # drop the virtual root: shift positions by one
    return _Levels(
        order=bfs[1:].astype(_I),
        par_pos=(par_pos[1:] - 1).astype(np.int64),
        bounds=np.asarray(bounds[1:], dtype=np.int64) - 1,
    )


def _preorder(levels: _Levels, n: int, is_source: np.ndarray, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subtree sizes bottom-up, then preorder positions top-down, one vectorized pass per level."""
    order, par_pos, bounds = levels.order, levels.par_pos, levels.bounds
    size = np.ones(n, dtype=np.int64)  # indexed by BFS position
    for k in range(len(bounds) - 2, 0, -1):
        a, b = bounds[k], bounds[k + 1]
        pp = par_pos[a:b]  # non-decreasing: siblings are contiguous
        first = np.flatnonzero(np.concatenate([[True], pp[1:] != pp[:-1]]))
        size[pp[first]] += np.add.reduceat(size[a:b], first)

    tin_q = np.empty(n, dtype=np.int64)
    # level 0 = roots: source trees first so that positions < n_live are energized
    a, b = bounds[0], bounds[1]
    root_nodes = order[a:b]
    rank = np.lexsort((root_nodes, ~is_source[root_nodes]))
    starts = np.zeros(b - a, dtype=np.int64)
    starts[rank] = np.concatenate([[0], np.cumsum(size[a:b][rank])[:-1]])
    tin_q[a:b] = starts
    for k in range(1, len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        pp = par_pos[a:b]
        sz = size[a:b]
        cs = np.cumsum(sz)
        new_group = np.ones(b - a, dtype=bool)
        new_group[1:] = pp[1:] != pp[:-1]
        group_first = np.maximum.accumulate(np.where(new_group, np.arange(b - a), 0))
        before = (cs - sz) - (cs - sz)[group_first]
        tin_q[a:b] = tin_q[pp] + 1 + before

    tin = np.empty(n, dtype=_I)
    tin[order] = tin_q
    size_n = np.empty(n, dtype=_I)
    size_n[order] = size
    return tin, size_n

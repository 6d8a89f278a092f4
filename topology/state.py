"""Energization of a switching state, evaluated locally on the compiled index.

A state is the normal state with some conducting edges *opened* (switches opened,
segments/transformers out of service) and some non-conducting edges *closed*.  Opening
forest edges cuts the forest into pieces: each piece is an Euler interval
``[tin[c], tout[c])`` (``c`` the child of the opened edge) minus the intervals of the
pieces nested in it, or the remainder of a tree under its root.  Within a piece every
node is connected through un-opened forest edges, so the state's connectivity is that
of a tiny graph whose vertices are pieces and whose edges are the closed edges plus the
surviving chords (loops of the normal state; none in a radial grid).  A union-find over
that graph tells which pieces reach a source and whether two sources of different
normal-state groups become connected.

Cost: O(k log k + m) for k opened forest edges and m closed edges + chords, plus the
output ranges; it never touches the rest of the grid.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from topology.compiled import TopologyIndex, search

__all__ = ["EnergizedState", "Paralleled", "evaluate", "concat_ranges"]


@dataclass(frozen=True)
class Paralleled:
    """Two sources of different normal-state groups joined by ``edge`` (first found)."""

    edge: int
    source_a: int
    source_b: int


@dataclass(frozen=True, eq=False)
class EnergizedState:
    """Outcome of :func:`evaluate`.

    ``lost_start``/``lost_end``: sorted, disjoint preorder ranges of the nodes energized in
    the normal state and not energized now.  ``paralleled`` is set when the state connects
    sources that the normal state keeps apart.
    """

    lost_start: np.ndarray
    lost_end: np.ndarray
    paralleled: Paralleled | None
    _ix: TopologyIndex
    _bp_pos: list[int]
    _bp_top: list[int]
    _alive_top: dict[int, bool]
    _root_alive: dict[int, bool]

    def customer_slices(self) -> tuple[np.ndarray, np.ndarray]:
        """Customer position ranges ``[cs, ce)`` of the lost customers. O(r log C)."""
        pos = self._ix.cust_pos
        return search(pos, self.lost_start), search(pos, self.lost_end)

    def lost_count(self) -> int:
        cs, ce = self.customer_slices()
        return int((ce - cs).sum())

    def lost_nodes(self) -> np.ndarray:
        """Node ids of the lost nodes (preorder). O(output)."""
        return self._ix.order[concat_ranges(self.lost_start, self.lost_end)]

    def energized(self, nodes: Iterable[int]) -> np.ndarray:
        """Whether each node is energized in this state. O(len(nodes) log k)."""
        ix = self._ix
        out = []
        for node in nodes:
            pos = int(ix.tin[node])
            j = bisect_right(self._bp_pos, pos) - 1
            top = self._bp_top[j] if j >= 0 else -1
            if top >= 0:
                out.append(self._alive_top[top])
            else:
                root = _root_of(ix, pos)
                out.append(bool(ix.is_source[root]) or self._root_alive.get(root, False))
        return np.asarray(out, dtype=bool)


def evaluate(ix: TopologyIndex, opened: Iterable[int], closed: Iterable[int]) -> EnergizedState:
    """Energization of the normal state with ``opened`` edges cut and ``closed`` edges added.

    ``opened`` should be normally conducting and ``closed`` normally non-conducting edge
    ids (others are harmless: opening a non-forest edge only removes a chord).  Small
    inputs are handled with scalar Python (a plan has a handful of steps), large ones
    with numpy.
    """
    opened = set(opened)
    closed = [e for e in set(closed) if e not in opened and ix.edge_u[e] >= 0 and ix.edge_v[e] >= 0
              and ix.edge_u[e] != ix.edge_v[e]]
    tin, tout, edge_child = ix.tin, ix.tout, ix.edge_child
    children = [c for c in (int(edge_child[e]) for e in opened) if c >= 0]
    bp_pos, bp_top = _sweep([int(tin[c]) for c in children], [int(tout[c]) for c in children], children)

    # edges that join pieces: closed edges and the chords still conducting
    chords = ix.chords
    if len(chords) and opened:
        chords = chords[~np.isin(chords, np.fromiter(opened, dtype=np.int64, count=len(opened)))]
    uf = _SourceUnion(ix)
    if len(chords) + len(closed) <= _SCALAR_LIMIT:
        for e in [*closed, *chords.tolist()]:
            a = _label(ix, int(ix.edge_u[e]), bp_pos, bp_top)
            b = _label(ix, int(ix.edge_v[e]), bp_pos, bp_top)
            if a != b:
                uf.union(a, b, e)
    else:
        joins = np.concatenate([np.asarray(closed, dtype=np.int64), chords.astype(np.int64)])
        la = _labels(ix, ix.edge_u[joins], bp_pos, bp_top)
        lb = _labels(ix, ix.edge_v[joins], bp_pos, bp_top)
        differ = la != lb
        for a, b, e in zip(la[differ].tolist(), lb[differ].tolist(), joins[differ].tolist()):
            uf.union(a, b, e)

    alive_top = {top: uf.alive(top) for top in children}
    starts, ends = [], []
    n_live = ix.n_live
    for j in range(len(bp_pos) - 1):
        top, a, b = bp_top[j], bp_pos[j], bp_pos[j + 1]
        if top >= 0 and a < b and a < n_live and not alive_top[top]:
            if ends and ends[-1] == a:
                ends[-1] = b
            else:
                starts.append(a)
                ends.append(b)
    return EnergizedState(
        lost_start=np.asarray(starts, dtype=np.int64),
        lost_end=np.asarray(ends, dtype=np.int64),
        paralleled=uf.paralleled,
        _ix=ix,
        _bp_pos=bp_pos,
        _bp_top=bp_top,
        _alive_top=alive_top,
        _root_alive={r: uf.alive(r) for r in uf.touched()},
    )


_SCALAR_LIMIT = 32


def _sweep(starts: list[int], ends: list[int], tops: list[int]) -> tuple[list[int], list[int]]:
    """Breakpoints of the innermost-interval map of laminar intervals.

    Returns positions ``p_j`` and owners ``t_j`` such that every position ``x`` with
    ``p_j <= x < p_{j+1}`` lies innermost in the interval of top ``t_j`` (-1: none).
    Positions are non-decreasing; for equal positions the last entry wins. O(k log k).
    """
    order = sorted(range(len(starts)), key=lambda i: (starts[i], -ends[i]))
    pos: list[int] = []
    own: list[int] = []
    stack: list[int] = []
    for i in order:
        s = starts[i]
        while stack and ends[stack[-1]] <= s:
            j = stack.pop()
            pos.append(ends[j])
            own.append(tops[stack[-1]] if stack else -1)
        pos.append(s)
        own.append(tops[i])
        stack.append(i)
    while stack:
        j = stack.pop()
        pos.append(ends[j])
        own.append(tops[stack[-1]] if stack else -1)
    return pos, own


def _label(ix: TopologyIndex, node: int, bp_pos: list[int], bp_top: list[int]) -> int:
    """Scalar :func:`_labels`."""
    pos = int(ix.tin[node])
    j = bisect_right(bp_pos, pos) - 1
    top = bp_top[j] if j >= 0 else -1
    return top if top >= 0 else _root_of(ix, pos)


def _labels(ix: TopologyIndex, nodes: np.ndarray, bp_pos: list[int], bp_top: list[int]) -> np.ndarray:
    """Piece label of each node: the top of its innermost opened interval, else its root."""
    pos = ix.tin[nodes]
    roots = ix.roots[search(ix.root_tin, pos, side="right") - 1]
    if not bp_pos:
        return roots.astype(np.int64)
    j = search(np.asarray(bp_pos, dtype=pos.dtype), pos, side="right") - 1
    top = np.where(j >= 0, np.asarray(bp_top)[np.maximum(j, 0)], -1)
    return np.where(top >= 0, top, roots).astype(np.int64)


def _root_of(ix: TopologyIndex, pos: int) -> int:
    return int(ix.roots[bisect_right(ix.root_tin, pos) - 1])


class _SourceUnion:
    """Union-find over piece labels that tracks the normal-state source group of each set."""

    def __init__(self, ix: TopologyIndex) -> None:
        self._ix = ix
        self._parent: dict[int, int] = {}
        self._group: dict[int, tuple[int, int] | None] = {}  # root -> (normal-state group, source node)
        self.paralleled: Paralleled | None = None

    def touched(self) -> list[int]:
        return list(self._parent)

    def _find(self, x: int) -> int:
        parent = self._parent
        if x not in parent:
            parent[x] = x
            is_source = bool(self._ix.is_source[x])
            self._group[x] = (self._ix.source_group[x], x) if is_source else None
            return x
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int, edge: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        ga, gb = self._group[ra], self._group[rb]
        if ga is not None and gb is not None and ga[0] != gb[0] and self.paralleled is None:
            self.paralleled = Paralleled(edge, ga[1], gb[1])
        self._parent[rb] = ra
        self._group[ra] = ga if ga is not None else gb

    def alive(self, x: int) -> bool:
        if x not in self._parent:
            return bool(self._ix.is_source[x])
        return self._group[self._find(x)] is not None


def concat_ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for each range, vectorized. O(output)."""
    lengths = (ends - starts).astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    nz = lengths > 0
    starts, lengths = starts[nz], lengths[nz]
    steps = np.ones(total, dtype=np.int64)
    steps[0] = starts[0]
    heads = np.cumsum(lengths)[:-1]
    steps[heads] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
    return np.cumsum(steps)

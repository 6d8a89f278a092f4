"""Generic (schematic) coordinates for a network without usable geodata.

Study networks often have no coordinates or fictional ones. :func:`tree_layout` lays the
buses out as a tree drawn from the sources: x grows with the breadth-first depth from a
source bus, y is the depth-first preorder rank, so every feeder reads left to right. The
drawing is scaled into a box of at most ``span_deg`` degrees centred on the given point.
Nothing about it is geographic; the loader records that it was used. O(buses + branches).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["tree_layout"]


def tree_layout(
    buses: Sequence[int],
    branches: Iterable[tuple[int, int]],
    roots: Iterable[int],
    center: tuple[float, float],
    *,
    span_deg: float = 0.04,
) -> dict[int, tuple[float, float]]:
    """bus -> (lon, lat) around ``center``; unreachable parts are laid out after the rest."""
    adj: dict[int, list[int]] = {b: [] for b in buses}
    for a, b in branches:
        if a in adj and b in adj and a != b:
            adj[a].append(b)
            adj[b].append(a)
    for nbrs in adj.values():
        nbrs.sort()
    depth: dict[int, int] = {}
    rank: dict[int, int] = {}
    starts = [r for r in roots if r in adj] + sorted(adj)
    for start in starts:
        if start in depth:
            continue
        # depth by BFS, rank by an iterative DFS preorder over the same component
        depth[start] = 0
        queue = deque([start])
        component = [start]
        while queue:
            u = queue.popleft()
            for v in adj[u]:
                if v not in depth:
                    depth[v] = depth[u] + 1
                    component.append(v)
                    queue.append(v)
        stack = [start]
        seen = {start}
        while stack:
            u = stack.pop()
            rank[u] = len(rank)
            for v in reversed(adj[u]):
                if v not in seen:
                    seen.add(v)
                    stack.append(v)
    n = max(len(rank), 1)
    max_depth = max(depth.values(), default=0) or 1
    dx = min(0.002, span_deg / max_depth)
    dy = min(0.0005, span_deg / n)
    lon0 = center[0] - dx * max_depth / 2
    lat0 = center[1] + dy * (n - 1) / 2
    return {b: (float(np.round(lon0 + dx * depth[b], 7)), float(np.round(lat0 - dy * rank[b], 7))) for b in buses}

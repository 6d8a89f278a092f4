"""The networkx reference model of the grid (pandapower style: build once, pass it around).

:func:`build_graph` returns a :class:`networkx.MultiGraph` whose nodes are the node ids
(attributes ``kind``, ``voltage_kv``, ``lon``, ``lat``) and whose edges carry their
provenance as the key ``(kind, id)`` with ``kind`` in segment/switch/transformer and the
attributes ``kind``, ``id`` and ``closed`` (conducts in the normal state: an in-service
segment or transformer, a normally-closed switch) plus the raw ``in_service`` or
``normal_open``/``switch_kind``.

Customers are **not** graph nodes (1M leaves would triple the graph for no gain): they are
leaves of their supply node, kept in ``graph.graph["customers_at"]`` (node -> account
numbers) with their table in ``graph.graph["customers"]`` (indexed by account_no).
Other graph-level data: ``version``, ``sources`` (bus node -> substation id, the
smallest when several share a bus), ``head_switches`` (switch id -> feeder id),
``elements`` ((kind, id) -> (node_a, node_b, closed), endpoints ``None`` when unknown;
such elements have no edge), ``meter_boxes`` (id -> (node, transformer_id)).

Later rows of a duplicated id are ignored, as in :mod:`topology.compiled`.
Building is O(N + E) Python (about 10 s per million elements): it is the reference and
the model for validation-style exploration, not the hot path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable

import networkx as nx
import numpy as np
import pandas as pd

from topology.assets import GridAssets, first_rows

__all__ = ["build_graph", "energized_nodes", "supply_tree", "source_components", "EdgeKey"]

EdgeKey = tuple[str, str]


def build_graph(assets: GridAssets) -> nx.MultiGraph:
    """Build the reference MultiGraph of ``assets`` (see the module docstring)."""
    graph = nx.MultiGraph(version=assets.version)
    nodes = first_rows(assets.nodes, "id")
    graph.add_nodes_from(
        (nid, {"kind": kind, "voltage_kv": kv, "lon": lon, "lat": lat})
        for nid, kind, kv, lon, lat in zip(
            nodes["id"].tolist(), nodes["kind"].tolist(), nodes["voltage_kv"].tolist(),
            nodes["lon"].tolist(), nodes["lat"].tolist(),
        )
    )
    elements: dict[EdgeKey, tuple[str | None, str | None, bool]] = {}
    specs = (
        ("segment", assets.segments, "node_a", "node_b", "in_service"),
        ("switch", assets.switches, "node_a", "node_b", "normal_open"),
        ("transformer", assets.transformers, "hv_node", "lv_node", "in_service"),
    )
    for kind, table, col_a, col_b, state_col in specs:
        table = first_rows(table, "id")
        raw_state = table[state_col].to_numpy(dtype=bool)
        closed = ~raw_state if kind == "switch" else raw_state
        extra = table["kind"].tolist() if kind == "switch" else [None] * len(table)
        edges = []
        for eid, a, b, st, raw, sk in zip(
            table["id"].tolist(), _nullable(table[col_a]), _nullable(table[col_b]),
            closed.tolist(), raw_state.tolist(), extra,
        ):
            a = a if a in graph else None
            b = b if b in graph else None
            elements[(kind, eid)] = (a, b, st)
            if a is None or b is None:
                continue
            attrs = {"kind": kind, "id": eid, "closed": st, state_col: raw}
            if kind == "switch":
                attrs["switch_kind"] = sk
            edges.append((a, b, (kind, eid), attrs))
        graph.add_edges_from(edges)

    subs = first_rows(assets.substations, "id").sort_values("id", kind="stable")
    sources: dict[str, str] = {}
    for sid, bus in zip(subs["id"].tolist(), _nullable(subs["bus_node"])):
        if bus is not None and bus in graph:
            sources.setdefault(bus, sid)
    heads: dict[str, str] = {}
    feeders = first_rows(assets.feeders, "id")
    for fid, sw in zip(feeders["id"].tolist(), _nullable(feeders["head_switch_id"])):
        if sw is not None:
            heads.setdefault(sw, fid)
    customers = first_rows(assets.customers, "account_no")
    at: dict[str, list[str]] = {}
    for acct, node in zip(customers["account_no"].tolist(), _nullable(customers["supply_node"])):
        if node is not None and node in graph:
            at.setdefault(node, []).append(acct)
    mbs = first_rows(assets.meter_boxes, "id")
    graph.graph.update(
        sources=sources,
        head_switches=heads,
        elements=elements,
        customers=customers.set_index("account_no", drop=False),
        customers_at=at,
        meter_boxes={m: (node if node in graph else None, tr)
                     for m, node, tr in zip(mbs["id"].tolist(), _nullable(mbs["node"]),
                                            _nullable(mbs["transformer_id"]))},
    )
    return graph


def energized_nodes(graph: nx.MultiGraph, toggled: Iterable[EdgeKey] = ()) -> set[Hashable]:
    """Nodes reachable from a source through conducting edges.

    An edge conducts when its normal ``closed`` flag differs from its membership in
    ``toggled`` (the elements whose state a plan changed).  O(N + E) breadth-first search.
    """
    toggled = frozenset(toggled)
    seen = set(graph.graph["sources"])
    queue = deque(seen)
    adj = _raw_adjacency(graph)
    while queue:
        u = queue.popleft()
        for v, keydict in adj[u].items():
            if v in seen:
                continue
            for key, attrs in keydict.items():
                if attrs["closed"] != (key in toggled):
                    seen.add(v)
                    queue.append(v)
                    break
    return seen


def source_components(graph: nx.MultiGraph, toggled: Iterable[EdgeKey] = ()) -> list[list[str]]:
    """For each connected set of energized nodes, its source nodes (sorted), in source order.

    O(N + E); used to detect sources paralleled by a state.
    """
    toggled = frozenset(toggled)
    sources = graph.graph["sources"]
    comp_of: dict[Hashable, int] = {}
    groups: list[list[str]] = []
    adj = _raw_adjacency(graph)
    for s in sorted(sources):
        if s in comp_of:
            groups[comp_of[s]].append(s)
            continue
        comp_of[s] = len(groups)
        groups.append([s])
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for v, keydict in adj[u].items():
                if v in comp_of:
                    continue
                for key, attrs in keydict.items():
                    if attrs["closed"] != (key in toggled):
                        comp_of[v] = comp_of[s]
                        queue.append(v)
                        break
    return groups


def supply_tree(graph: nx.MultiGraph) -> dict[Hashable, tuple[Hashable, EdgeKey] | None]:
    """Normal-state BFS tree from all sources: node -> (parent node, edge key), None at a source.

    Nodes absent from the result are not supplied in the normal state.  O(N + E).
    """
    tree: dict[Hashable, tuple[Hashable, EdgeKey] | None] = {s: None for s in graph.graph["sources"]}
    queue = deque(tree)
    adj = _raw_adjacency(graph)
    while queue:
        u = queue.popleft()
        for v, keydict in adj[u].items():
            if v in tree:
                continue
            for key, attrs in keydict.items():
                if attrs["closed"]:
                    tree[v] = (u, key)
                    queue.append(v)
                    break
    return tree


def _raw_adjacency(graph: nx.MultiGraph) -> dict:
    """node -> {neighbor: {key: attrs}} as plain dicts (``Graph.adjacency`` skips the views)."""
    return dict(graph.adjacency())


def _nullable(col: pd.Series) -> list:
    """Column values as a list with every kind of null as ``None``."""
    values = col.to_numpy(dtype=object, na_value=None)
    return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in values.tolist()]

"""Supply traces in the normal state, on the compiled index and on the networkx reference.

* :func:`upstream_path` — the ordered supply path of a customer, meter box, node or
  device: ``[("customer", acct), ("meter_box", mb), (edge kind, id)..., ("node", bus),
  ("substation", id)]`` (the customer's declared meter box, when it has one).  A start
  that is not supplied in the normal state yields only its own elements (no
  ``substation`` at the end).  For a device on the supply forest the
  path climbs from its upstream end; for any other device (a normally-open switch, an
  out-of-service segment) from ``node_a`` if supplied, else ``node_b``.
* :func:`downstream` — what loses supply when the device alone is opened / taken out in
  the normal state: nodes, transformers (whose LV node loses supply) and customers.
* :func:`supply_area` — the feeder and transformer area (台区) of a customer.

The ``*_nx`` twins answer the same questions from :func:`topology.graph.build_graph`'s
graph; on a radial normal state they agree exactly (tests check it on random grids).
Index versions cost O(depth) / O(output log); the networkx ones O(N + E).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from topology.compiled import EDGE_KINDS, TopologyIndex, search
from topology.errors import UnknownElement
from topology.graph import energized_nodes, supply_tree
from topology.state import concat_ranges, evaluate

__all__ = [
    "Downstream", "upstream_path", "downstream", "supply_area", "segment_loads",
    "upstream_path_nx", "downstream_nx", "supply_area_nx",
]

Ref = tuple[str, str]
_START_KINDS = ("customer", "meter_box", "node", *EDGE_KINDS)


@dataclass(frozen=True)
class Downstream:
    """Sorted ids of what a device feeds in the normal state."""

    nodes: tuple[str, ...]
    transformers: tuple[str, ...]
    customers: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"nodes": list(self.nodes), "transformers": list(self.transformers),
                "customers": list(self.customers)}


# ---------------------------------------------------------------- compiled index
def upstream_path(ix: TopologyIndex, kind: str, element_id: str) -> list[Ref]:
    """Supply path of an element on the compiled index. O(depth)."""
    head, start = _start_ix(ix, kind, element_id)
    if start < 0 or ix.tin[start] >= ix.n_live:
        return head
    path = list(head)
    x = start
    while ix.parent[x] >= 0:
        path.append(ix.edge_ref(int(ix.parent_edge[x])))
        x = int(ix.parent[x])
    path.append(("node", str(ix.node_ids[x])))
    path.append(("substation", ix.source_substation[x]))
    return path


def downstream(ix: TopologyIndex, kind: str, element_id: str) -> Downstream:
    """Nodes, transformers and customers that lose supply when the device opens. O(output log)."""
    edge = ix.edge(_device(kind), element_id)
    if not ix.edge_normal[edge]:
        return Downstream((), (), ())
    state = evaluate(ix, [edge], [])
    starts, ends = state.lost_start, state.lost_end
    nodes = np.sort(ix.node_ids[ix.order[concat_ranges(starts, ends)]])
    cs, ce = state.customer_slices()
    customers = np.sort(ix.accounts(concat_ranges(cs, ce)))
    ts, te = search(ix.tr_pos, starts), search(ix.tr_pos, ends)
    transformers = np.sort(ix.transformer_ids[ix.tr_code[concat_ranges(ts, te)]])
    return Downstream(tuple(nodes.tolist()), tuple(transformers.tolist()), tuple(customers.tolist()))


def segment_loads(ix: TopologyIndex) -> pd.DataFrame:
    """``id, customers``: how many customers each segment carries in the normal state (the
    customers downstream of it on the supply forest; 0 off the forest).  O(segments log customers).

    The map draws a feeder's "trunk" at city zoom as the segments that carry many customers.
    """
    first, last = ix.kind_offsets[0], ix.kind_offsets[1]
    child = ix.edge_child[first:last]
    counts = np.zeros(last - first, dtype=np.int64)
    on = np.flatnonzero(child >= 0)
    if len(on):
        c = child[on]
        counts[on] = np.searchsorted(ix.cust_pos, ix.tout[c]) - np.searchsorted(ix.cust_pos, ix.tin[c])
    return pd.DataFrame({"id": ix.edge_ids[first:last], "customers": counts})


def supply_area(ix: TopologyIndex, account_no: str) -> tuple[str | None, str | None]:
    """``(feeder_id, transformer_id)`` of a customer (see :mod:`topology.compiled`). O(1)."""
    c = ix.customer(account_no)
    f, t = int(ix.cust_feeder[c]), int(ix.cust_transformer[c])
    return (str(ix.feeder_ids[f]) if f >= 0 else None,
            str(ix.transformer_ids[t]) if t >= 0 else None)


def _start_ix(ix: TopologyIndex, kind: str, element_id: str) -> tuple[list[Ref], int]:
    if kind == "customer":
        c = ix.customer(element_id)
        head = [("customer", str(element_id))]
        mb = ix.cust_meter_box[ix.cust_row[c]]
        if not pd.isna(mb):
            head.append(("meter_box", str(mb)))
        return head, int(ix.cust_node[c])
    if kind == "meter_box":
        return [("meter_box", str(element_id))], ix.meter_box_node(element_id)
    if kind == "node":
        node = ix.node(element_id)
        return ([] if ix.is_source[node] else [("node", str(element_id))]), node
    edge = ix.edge(_device(kind), element_id)
    head = [(kind, str(element_id))]
    child = int(ix.edge_child[edge])
    if child >= 0:
        return head, int(ix.parent[child])
    for end in (int(ix.edge_u[edge]), int(ix.edge_v[edge])):
        if end >= 0 and ix.tin[end] < ix.n_live:
            return head, end
    return head, -1


def _device(kind: str) -> str:
    if kind not in EDGE_KINDS:
        raise UnknownElement("device kind", kind, field="kind")
    return kind


# ---------------------------------------------------------------- networkx reference
def upstream_path_nx(graph: nx.MultiGraph, kind: str, element_id: str,
                     tree: dict | None = None) -> list[Ref]:
    """Supply path of an element on the reference graph. O(N + E) (pass ``tree`` to reuse
    a :func:`~topology.graph.supply_tree`)."""
    tree = supply_tree(graph) if tree is None else tree
    head, start = _start_nx(graph, kind, element_id, tree)
    if start is None or start not in tree:
        return head
    path = list(head)
    x = start
    while tree[x] is not None:
        x, key = tree[x]
        path.append(key)
    path.append(("node", str(x)))
    path.append(("substation", graph.graph["sources"][x]))
    return path


def downstream_nx(graph: nx.MultiGraph, kind: str, element_id: str) -> Downstream:
    """Reference :func:`downstream`: energized sets before and after opening. O(N + E)."""
    key = (_device(kind), element_id)
    if key not in graph.graph["elements"]:
        raise UnknownElement(kind, element_id)
    a, b, closed = graph.graph["elements"][key]
    if not closed or a is None or b is None or a == b:
        return Downstream((), (), ())
    lost = energized_nodes(graph) - energized_nodes(graph, [key])
    at = graph.graph["customers_at"]
    customers = sorted(c for n in lost for c in at.get(n, ()))
    transformers = sorted(
        eid for (k, eid), (hv, lv, cl) in graph.graph["elements"].items()
        if k == "transformer" and cl and hv is not None and lv in lost and hv != lv
    )
    return Downstream(tuple(sorted(map(str, lost))), tuple(transformers), tuple(customers))


def supply_area_nx(graph: nx.MultiGraph, account_no: str, tree: dict | None = None) -> tuple[str | None, str | None]:
    """Reference :func:`supply_area`: climb the supply tree from the supply node. O(N + E)."""
    customers = graph.graph["customers"]
    if account_no not in customers.index:
        raise UnknownElement("customer", account_no)
    row = customers.loc[account_no]
    tree = supply_tree(graph) if tree is None else tree
    return area_from_tree(graph, tree, _none(row["supply_node"]), _none(row["transformer_id"]),
                          _none(row["meter_box_id"]))


def area_from_tree(graph: nx.MultiGraph, tree: dict, node: Hashable, declared: str | None,
                   meter_box: str | None) -> tuple[str | None, str | None]:
    """Feeder and transformer of a supply node by climbing ``tree``, with the declared
    fallbacks of :mod:`topology.compiled` for the transformer."""
    feeder = transformer = None
    if node is not None and node in tree:
        heads = graph.graph["head_switches"]
        x = node
        while tree[x] is not None and (feeder is None or transformer is None):
            x, (k, eid) = tree[x]
            if k == "transformer" and transformer is None:
                transformer = eid
            elif k == "switch" and feeder is None and eid in heads:
                feeder = heads[eid]
    if transformer is None:
        elements = graph.graph["elements"]
        if declared is not None and ("transformer", declared) in elements:
            transformer = declared
        elif meter_box is not None and meter_box in graph.graph["meter_boxes"]:
            mb_tr = graph.graph["meter_boxes"][meter_box][1]
            if mb_tr is not None and ("transformer", mb_tr) in elements:
                transformer = mb_tr
    return feeder, transformer


def _start_nx(graph: nx.MultiGraph, kind: str, element_id: str, tree: dict) -> tuple[list[Ref], Hashable]:
    if kind == "customer":
        customers = graph.graph["customers"]
        if element_id not in customers.index:
            raise UnknownElement("customer", element_id)
        row = customers.loc[element_id]
        head = [("customer", str(element_id))]
        mb = _none(row["meter_box_id"])
        if mb is not None:
            head.append(("meter_box", str(mb)))
        node = _none(row["supply_node"])
        return head, node if node in graph else None
    if kind == "meter_box":
        if element_id not in graph.graph["meter_boxes"]:
            raise UnknownElement("meter_box", element_id)
        return [("meter_box", str(element_id))], graph.graph["meter_boxes"][element_id][0]
    if kind == "node":
        if element_id not in graph:
            raise UnknownElement("node", element_id)
        return ([] if element_id in graph.graph["sources"] else [("node", str(element_id))]), element_id
    key = (_device(kind), element_id)
    if key not in graph.graph["elements"]:
        raise UnknownElement(kind, element_id)
    a, b, _ = graph.graph["elements"][key]
    head = [key]
    for child, other in ((a, b), (b, a)):
        if child is not None and child in tree and tree[child] is not None and tree[child][1] == key:
            return head, other
    for end in (a, b):
        if end is not None and end in tree:
            return head, end
    return head, None


def _none(value: object) -> object:
    return None if pd.isna(value) else value

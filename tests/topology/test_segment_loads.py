"""segment_loads: the customers each segment carries in the normal state (its subtree on the supply forest)."""

from __future__ import annotations

from collections import Counter

from topology import downstream, segment_loads


def _brute_force(ix) -> Counter:
    """Walk every supplied customer's node up the forest and count each segment edge passed."""
    first, last = ix.kind_offsets[0], ix.kind_offsets[1]
    carried: Counter = Counter()
    n = len(ix.node_ids)
    for node in ix.cust_node:
        if node < 0 or node >= n:
            continue
        v = int(node)
        while ix.parent[v] >= 0:
            e = int(ix.parent_edge[v])
            if first <= e < last:
                carried[str(ix.edge_ids[e])] += 1
            v = int(ix.parent[v])
    return carried


def test_segment_loads_count_the_customers_below_each_segment(demo_index, demo_assets) -> None:
    loads = segment_loads(demo_index)
    assert list(loads["id"]) == list(demo_assets.segments["id"])
    want = _brute_force(demo_index)
    assert {sid: n for sid, n in zip(loads["id"], loads["customers"]) if n} == dict(want)
    assert loads["customers"].max() > 0


def test_a_radial_segment_carries_what_opening_it_cuts_off(demo_index) -> None:
    loads = segment_loads(demo_index)
    agree = 0
    for sid, n in zip(loads["id"], loads["customers"]):
        cut = len(downstream(demo_index, "segment", sid).customers)
        if cut:                       # (a segment in a loop cuts nothing off, yet carries its forest subtree)
            assert n == cut, sid
            agree += 1
    assert agree > 0

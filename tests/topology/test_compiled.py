"""The compiled index: forest layout, labels, immutability, and exact answers on tiny grids."""

from __future__ import annotations

import numpy as np
import pytest

from topology import UnknownElement, compile_index, evaluate
from topology.testing import GridBuilder, random_grid


def _subtree_sets(ix):
    """Children lists from parent pointers, to check the Euler intervals independently."""
    children = {v: [] for v in range(ix.n_nodes)}
    for v, p in enumerate(ix.parent.tolist()):
        if p >= 0:
            children[p].append(v)
    return children


@pytest.mark.parametrize("seed", range(8))
def test_forest_intervals_are_exact_subtrees(seed):
    ix = compile_index(random_grid(seed, islands=2, loops=seed % 3))
    children = _subtree_sets(ix)
    for v in range(ix.n_nodes):
        stack, members = [v], set()
        while stack:
            x = stack.pop()
            members.add(x)
            stack.extend(children[x])
        interval = set(ix.order[ix.tin[v]:ix.tout[v]].tolist())
        assert interval == members
    assert sorted(ix.tin.tolist()) == list(range(ix.n_nodes))
    # source trees first: positions < n_live are exactly the nodes under a source root
    live = set()
    for r, is_src in zip(ix.roots.tolist(), ix.root_is_source.tolist()):
        if is_src:
            live.update(ix.order[ix.tin[r]:ix.tout[r]].tolist())
    assert live == set(ix.order[:ix.n_live].tolist())


def test_parent_edges_conduct_and_chords_close_loops():
    ix = compile_index(random_grid(5, loops=2))
    tree_edges = ix.parent_edge[ix.parent_edge >= 0]
    assert ix.edge_normal[tree_edges].all()
    assert len(ix.chords) >= 1
    assert set(ix.chords.tolist()).isdisjoint(tree_edges.tolist())
    assert ix.edge_normal[ix.chords].all()


def test_arrays_are_read_only(demo_index):
    with pytest.raises(ValueError):
        demo_index.tin[0] = 5
    with pytest.raises(ValueError):
        demo_index.cust_pos[0] = 5
    assert demo_index.nbytes() > 0


def test_customers_under_a_node_are_a_contiguous_slice(demo_index):
    ix = demo_index
    n3 = ix.node("N3")
    lo, hi = ix.customer_range(int(ix.tin[n3]), int(ix.tout[n3]))
    assert sorted(ix.accounts(np.arange(lo, hi)).tolist()) == ["C3", "C4", "C5"]


def test_labels_feeder_and_transformer(demo_index):
    ix = demo_index
    c4 = ix.customer("C4")
    assert ix.feeder_ids[ix.cust_feeder[c4]] == "F1"
    assert ix.transformer_ids[ix.cust_transformer[c4]] == "T3"
    # C9 hangs from an out-of-service transformer: no feeder, declared transformer absent -> none
    c9 = ix.customer("C9")
    assert ix.cust_feeder[c9] == -1


def test_lookups_raise_unknown_element(demo_index):
    with pytest.raises(UnknownElement) as exc:
        demo_index.edge("switch", "NOPE")
    assert exc.value.kind == "switch" and exc.value.to_dict()["value"] == "NOPE"
    with pytest.raises(UnknownElement):
        demo_index.customer("NOPE")
    with pytest.raises(UnknownElement):
        demo_index.node("NOPE")


def test_adjacency_has_provenance(demo_index):
    nbrs, edges = demo_index.neighbors(demo_index.node("N4"))
    refs = {demo_index.edge_ref(int(e)) for e in edges}
    assert refs == {("segment", "L2"), ("switch", "SW2"), ("switch", "TIE1"), ("transformer", "T2")}
    assert {demo_index.node_ids[n] for n in nbrs} == {"N3", "N5", "P2", "LV2"}


def test_duplicates_keep_the_first_row():
    g = GridBuilder()
    g.substation("S", bus="B")
    g.switch("BR", "B", "N1", kind="breaker")
    g.segment("L1", "N1", "N2")
    g.segment("L1", "N1", "N3")  # duplicate id: ignored
    g.transformer("T", "N2", "LV")
    g.customer("C", "LV")
    g.customer("C", "N3")        # duplicate account: ignored
    ix = compile_index(g.build())
    assert ix.n_customers == 1
    assert len(ix.element_index["segment"]) == 1
    assert ix.edge_u[ix.edge("segment", "L1")] == ix.node("N1")
    assert ix.edge_v[ix.edge("segment", "L1")] == ix.node("N2")


def test_state_evaluation_on_a_ring():
    """A closed ring: opening one switch loses nothing, opening both loses the arc between."""
    g = GridBuilder()
    g.substation("S", bus="B")
    g.switch("BR", "B", "A", kind="breaker")
    g.switch("X", "A", "M1")
    g.segment("L1", "M1", "M2")
    g.switch("Y", "M2", "A")  # closes the ring A-M1-M2-A
    g.transformer("T", "M1", "LV")
    g.customer("C", "LV")
    ix = compile_index(g.build())
    x, y = ix.edge("switch", "X"), ix.edge("switch", "Y")
    assert evaluate(ix, [x], []).lost_count() == 0
    assert evaluate(ix, [y], []).lost_count() == 0
    assert evaluate(ix, [x, y], []).lost_count() == 1


def test_empty_grid_compiles():
    g = GridBuilder()
    ix = compile_index(g.build())
    assert ix.n_nodes == 0 and ix.n_customers == 0

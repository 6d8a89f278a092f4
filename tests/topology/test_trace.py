"""Traces: exact paths on the demo grid, and compiled == networkx on random grids."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topology import (
    UnknownElement,
    build_graph,
    compile_index,
    downstream,
    downstream_nx,
    supply_area,
    supply_area_nx,
    supply_tree,
    upstream_path,
    upstream_path_nx,
)
from topology.testing import random_grid

C3_PATH = [
    ("customer", "C3"), ("meter_box", "MB3"), ("transformer", "T2"), ("segment", "L2"), ("switch", "SW1"),
    ("segment", "L1"), ("switch", "BR1"), ("node", "B1"), ("substation", "S1"),
]


@pytest.mark.parametrize("impl", ["index", "nx"])
def test_upstream_path_of_a_customer(impl, demo_index, demo_graph):
    path = upstream_path(demo_index, "customer", "C3") if impl == "index" else \
        upstream_path_nx(demo_graph, "customer", "C3")
    assert path == C3_PATH


@pytest.mark.parametrize("impl", ["index", "nx"])
@pytest.mark.parametrize(("kind", "element", "expected"), [
    ("switch", "SW2", [("switch", "SW2"), ("segment", "L2"), ("switch", "SW1"), ("segment", "L1"),
                       ("switch", "BR1"), ("node", "B1"), ("substation", "S1")]),
    ("switch", "TIE2", [("switch", "TIE2"), ("segment", "L5"), ("switch", "SW2"), ("segment", "L2"),
                        ("switch", "SW1"), ("segment", "L1"), ("switch", "BR1"), ("node", "B1"),
                        ("substation", "S1")]),
    ("node", "B2", [("node", "B2"), ("substation", "S2")]),
    ("node", "M2", [("node", "M2"), ("segment", "L7"), ("switch", "BR3"), ("node", "B2"), ("substation", "S2")]),
    ("meter_box", "MB3", [("meter_box", "MB3"), *C3_PATH[2:]]),
    ("customer", "C8", [("customer", "C8")]),                    # island: no supply path
    ("customer", "C9", [("customer", "C9")]),                    # out-of-service transformer
    ("customer", "C10", [("customer", "C10")]),                  # unknown supply node
    ("transformer", "T7", [("transformer", "T7"), ("switch", "SW1"), ("segment", "L1"), ("switch", "BR1"),
                           ("node", "B1"), ("substation", "S1")]),
])
def test_upstream_paths(impl, kind, element, expected, demo_index, demo_graph):
    fn = upstream_path if impl == "index" else upstream_path_nx
    assert fn(demo_index if impl == "index" else demo_graph, kind, element) == expected


@pytest.mark.parametrize("impl", ["index", "nx"])
def test_downstream_sets(impl, demo_index, demo_graph):
    fn, arg = (downstream, demo_index) if impl == "index" else (downstream_nx, demo_graph)
    d = fn(arg, "switch", "SW1")
    assert d.customers == ("C3", "C4", "C5")
    assert d.transformers == ("T2", "T3")
    assert d.nodes == ("LV2", "LV3", "N3", "N4", "N5", "N6")
    assert fn(arg, "transformer", "T1").customers == ("C1", "C2")
    assert fn(arg, "switch", "TIE1").to_dict() == {"nodes": [], "transformers": [], "customers": []}


@pytest.mark.parametrize("impl", ["index", "nx"])
def test_supply_area(impl, demo_index, demo_graph):
    fn, arg = (supply_area, demo_index) if impl == "index" else (supply_area_nx, demo_graph)
    assert fn(arg, "C7") == ("F3", "T5")
    assert fn(arg, "C1") == ("F1", "T1")
    assert fn(arg, "C8") == (None, None)


@pytest.mark.parametrize("impl", ["index", "nx"])
def test_unknown_elements(impl, demo_index, demo_graph):
    arg = demo_index if impl == "index" else demo_graph
    up = upstream_path if impl == "index" else upstream_path_nx
    down = downstream if impl == "index" else downstream_nx
    with pytest.raises(UnknownElement):
        up(arg, "customer", "NOPE")
    with pytest.raises(UnknownElement):
        up(arg, "switch", "L1")
    with pytest.raises(UnknownElement):
        down(arg, "node", "N1")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), substations=st.integers(1, 3), feeders=st.integers(1, 3),
       size=st.integers(1, 15), ties=st.integers(0, 4))
def test_traces_compiled_equal_networkx(seed, substations, feeders, size, ties):
    assets = random_grid(seed, substations=substations, feeders_per_substation=feeders,
                         nodes_per_feeder=size, ties=ties)
    ix, graph = compile_index(assets), build_graph(assets)
    tree = supply_tree(graph)
    for account in assets.customers["account_no"]:
        assert upstream_path(ix, "customer", account) == upstream_path_nx(graph, "customer", account, tree)
        assert supply_area(ix, account) == supply_area_nx(graph, account, tree)
    for kind, table in (("segment", assets.segments), ("switch", assets.switches),
                        ("transformer", assets.transformers)):
        for element in table["id"]:
            assert upstream_path(ix, kind, element) == upstream_path_nx(graph, kind, element, tree)
            assert downstream(ix, kind, element) == downstream_nx(graph, kind, element)
    for node in assets.nodes["id"]:
        assert upstream_path(ix, "node", node) == upstream_path_nx(graph, "node", node, tree)

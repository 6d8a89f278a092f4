"""State evaluation on the compiled index: pieces, closures, islands, paralleled sources."""

from __future__ import annotations

import numpy as np
import pytest

from gis.errors import InvalidInput
from topology import compile_index, evaluate, validate
from topology.state import concat_ranges
from topology.testing import demo_grid


def _e(ix, kind, element):
    return ix.edge(kind, element)


def test_normal_state_loses_nothing(demo_index):
    st = evaluate(demo_index, [], [])
    assert st.lost_count() == 0 and st.paralleled is None
    assert len(st.lost_nodes()) == 0


def test_nested_openings_and_energized_queries(demo_index):
    ix = demo_index
    st = evaluate(ix, [_e(ix, "switch", "SW1"), _e(ix, "switch", "SW2")], [_e(ix, "switch", "TIE2")])
    lost = {ix.node_ids[n] for n in st.lost_nodes()}
    assert lost == {"N3", "N4", "LV2"}
    nodes = [ix.node(n) for n in ("N1", "N3", "N5", "N6", "Q1", "M2")]
    assert st.energized(nodes).tolist() == [True, False, True, True, False, True]


def test_closing_into_an_island_energizes_it_without_impact(demo_index):
    ix = demo_index
    st = evaluate(ix, [], [_e(ix, "switch", "ISW")])
    assert st.lost_count() == 0
    assert st.energized([ix.node("Q2")]).tolist() == [True]


def test_paralleled_sources_are_named(demo_index):
    ix = demo_index
    st = evaluate(ix, [], [_e(ix, "switch", "TIE2")])
    p = st.paralleled
    assert p is not None and p.edge == _e(ix, "switch", "TIE2")
    assert {ix.source_substation[p.source_a], ix.source_substation[p.source_b]} == {"S1", "S2"}
    # within one substation a closed tie is a loop, not a paralleling of sources
    assert evaluate(ix, [], [_e(ix, "switch", "TIE1")]).paralleled is None


def test_opening_a_non_forest_edge_is_harmless(demo_index):
    ix = demo_index
    assert evaluate(ix, [_e(ix, "switch", "TIE1")], []).lost_count() == 0


def test_concat_ranges():
    assert concat_ranges(np.array([2, 7, 9]), np.array([4, 7, 11])).tolist() == [2, 3, 9, 10]
    assert concat_ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []


def test_validate_refuses_an_index_of_another_version():
    assets = demo_grid()
    with pytest.raises(InvalidInput):
        validate(assets, compile_index(demo_grid(version="other")))

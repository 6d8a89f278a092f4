"""Isolation on the demo grid: isolation points, back-feed, ranked alternatives."""

from __future__ import annotations

import datetime as dt

import pytest

from gis.errors import Conflict, InvalidInput
from outage_impact import impact_reference, isolate
from topology import UnknownElement, build_graph, compile_index
from topology.testing import GridBuilder


def _steps(alt):
    return [(s.action, s.element) for s in alt.plan.steps]


def test_isolating_a_segment(demo_index):
    start = dt.datetime(2024, 5, 7, 9)
    r = isolate(demo_index, "L2", window_start=start, window_end=start + dt.timedelta(hours=4))
    assert r.equipment == ("segment", "L2")
    assert r.upstream_switches == ("SW1",)
    assert r.downstream_switches == ("SW2",)
    assert r.open_points == ("TIE1",)
    assert [b.to_dict() for b in r.backfeed] == [{"tie": "TIE2", "region": "SW2", "customers": 2}]
    names = [a.name for a in r.alternatives]
    assert names == ["nearest+backfeed:TIE2", "nearest", "next_upstream+backfeed:TIE2", "next_upstream"]
    best = r.best
    assert _steps(best) == [("open", "SW1"), ("open", "SW2"), ("out_of_service", "L2"), ("close", "TIE2")]
    assert best.impact.customers == ("C3",)
    assert best.impact.transient_customers == ("C4", "C5")
    assert best.impact.customer_minutes == 240
    assert r.alternatives[1].impact.customers == ("C3", "C4", "C5")
    assert _steps(r.alternatives[3]) == [("open", "BR1"), ("open", "SW2"), ("out_of_service", "L2")]
    assert r.alternatives[3].impact.sensitive_count == 2
    d = r.to_dict()
    assert d["alternatives"][0]["plan"]["steps"][0] == {"action": "open", "element": "SW1", "kind": "switch"}


def test_isolating_a_transformer_takes_its_section(demo_index):
    r = isolate(demo_index, "T3")
    assert r.upstream_switches == ("SW2",)
    assert r.downstream_switches == ()
    assert set(r.open_points) == {"TIE2", "ISW"}
    assert r.best.impact.customers == ("C4", "C5")
    assert r.best.plan.steps[-1].action == "out_of_service"


def test_isolating_a_switch_cuts_both_sides(demo_index):
    r = isolate(demo_index, "SW2")
    assert r.upstream_switches == ("SW1",)
    # the far side (N5..N6) has the open points TIE2 and ISW: nothing hangs from it to open
    assert r.downstream_switches == ()
    assert r.best.impact.customers == ("C3", "C4", "C5")
    assert all(s.element != "SW2" for s in r.best.plan.steps)


def test_isolating_a_normally_open_tie(demo_index):
    r = isolate(demo_index, "TIE2")
    assert set(r.upstream_switches) == {"SW2", "BR3"}
    assert r.best.impact.customers == ("C4", "C5", "C7")


def test_alternatives_match_the_reference(demo_index, demo_graph):
    for element in ("L1", "L2", "L5", "T2", "T4", "SW1", "TIE1", "L7"):
        for alt in isolate(demo_index, element).alternatives:
            assert alt.impact.to_dict(area=False) == impact_reference(demo_graph, alt.plan).to_dict(area=False)


def test_errors(demo_index):
    with pytest.raises(UnknownElement):
        isolate(demo_index, "NOPE")
    with pytest.raises(Conflict, match="not energized"):
        isolate(demo_index, "LQ")  # on the island
    with pytest.raises(InvalidInput):
        isolate(demo_index, "L2", kind="node")


def test_no_switch_between_source_and_equipment():
    g = GridBuilder()
    g.substation("S", bus="B")
    g.segment("L0", "B", "A")
    g.transformer("T", "A", "LV")
    g.customer("C", "LV")
    with pytest.raises(Conflict, match="no switch between source"):
        isolate(compile_index(g.build()), "L0")


def test_two_ties_into_one_region_are_alternatives_and_all_combines_regions():
    g = GridBuilder()
    g.substation("S1", bus="B1")
    g.substation("S2", bus="B2")
    g.switch("BR", "B1", "A", kind="breaker")
    g.segment("L", "A", "M")          # the equipment
    g.switch("D1", "M", "R1")
    g.switch("D2", "M", "R2")
    for region in ("R1", "R2"):
        g.transformer(f"T{region}", region, f"LV{region}")
        g.customer(f"C{region}", f"LV{region}")
    g.transformer("TM", "M", "LVM")
    g.customer("CM", "LVM", sensitivity="医院")
    g.switch("BR2", "B2", "Z", kind="breaker")
    g.switch("TIEa", "R1", "Z", kind="tie", normal_open=True)
    g.switch("TIEb", "R1", "Z", kind="tie", normal_open=True)
    g.switch("TIEc", "R2", "Z", kind="tie", normal_open=True)
    assets = g.build()
    ix = compile_index(assets)
    r = isolate(ix, "L")
    assert r.upstream_switches == ("BR",)
    assert set(r.downstream_switches) == {"D1", "D2"}
    assert {(b.tie, b.region) for b in r.backfeed} == {("TIEa", "D1"), ("TIEb", "D1"), ("TIEc", "D2")}
    assert r.best.name == "nearest+backfeed:all"
    assert r.best.backfeed == ("TIEa", "TIEc")
    assert r.best.impact.customers == ("CM",)
    graph = build_graph(assets)
    for alt in r.alternatives:
        assert alt.impact.to_dict(area=False) == impact_reference(graph, alt.plan).to_dict(area=False)

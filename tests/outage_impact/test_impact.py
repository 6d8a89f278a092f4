"""Exact impact sets on the demo grid (see topology.testing.demo_grid), on both engines."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import shape

from outage_impact import InvalidPlan, InvalidStep, LoopBetweenSources, plan_impact
from outage_impact.plan import SwitchingPlan
from topology import UnknownElement, build_graph, compile_index
from topology.testing import GridBuilder


def steps(*pairs, **meta):
    return {"steps": [{"action": a, "element": e} for a, e in pairs], **meta}


def test_radial_feeder(run):
    r = run(steps(("open", "SW1"), window_start="2024-05-07T09:00", window_end="2024-05-07T15:00"))
    assert r.customers == ("C3", "C4", "C5")
    assert r.count == 3
    assert r.by_feeder == {"F1": 3}
    assert r.by_transformer == {"T2": 1, "T3": 2}
    assert r.sensitive == ({"account_no": "C5", "sensitivity": "政府"},)
    assert r.customer_minutes == 3 * 360
    assert r.version == "demo"
    assert r.transient_customers == ()


def test_feeder_head_breaker_loses_the_feeder_but_not_unsupplied_customers(run):
    r = run(steps(("open", "BR1")))
    assert r.customers == ("C1", "C2", "C3", "C4", "C5")  # C9 (out-of-service T7) was never supplied
    assert r.customer_minutes is None


def test_tie_back_feed_break_before_make(run):
    r = run(steps(("open", "SW2"), ("close", "TIE2")))
    assert r.count == 0 and r.customers == ()
    assert [s.count for s in r.steps] == [2, 0]
    assert r.steps[0].customers == ("C4", "C5")
    assert r.transient_customers == ("C4", "C5")


def test_make_before_break_transfer_within_one_substation_shows_no_outage(run):
    r = run(steps(("close", "TIE1"), ("open", "SW1")))
    assert [s.count for s in r.steps] == [0, 0]
    assert r.count == 0 and r.transient_customers == ()


def test_break_before_make_transfer_shows_the_transient_outage(run):
    r = run(steps(("open", "SW1"), ("close", "TIE1")))
    assert r.steps[0].customers == ("C3", "C4", "C5")
    assert r.count == 0
    assert r.transient_customers == ("C3", "C4", "C5")


def test_lists_form_is_make_before_break(run):
    r = run({"open": ["SW1"], "close": ["TIE1"]})
    assert r.form == "lists"
    assert [(s.action, s.element, s.count) for s in r.steps] == [("close", "TIE1", 0), ("open", "SW1", 0)]
    assert r.count == 0 and r.transient_customers == ()


def test_lists_form_transfer_between_substations_is_a_loop(run):
    with pytest.raises(LoopBetweenSources) as exc:
        run({"open": ["SW2"], "close": ["TIE2"]})
    assert exc.value.step == 0 and exc.value.element == "TIE2"
    assert set(exc.value.sources) == {"S1", "S2"}
    assert "ordered steps" in exc.value.message
    assert exc.value.status == 409


def test_closing_a_tie_that_parallels_two_sources(run):
    with pytest.raises(LoopBetweenSources) as exc:
        run(steps(("close", "TIE2")))
    assert exc.value.to_dict()["value"] == "TIE2"


def test_loop_through_an_island(run):
    """An island joined to both substations: the second closure parallels them."""
    with pytest.raises(LoopBetweenSources) as exc:
        run(steps(("close", "ISW"), ("open", "BR3"), ("close", "TIE2"), ("close", "BR3")))
    assert exc.value.step == 3


def test_island_closure_is_not_an_impact(run):
    r = run(steps(("close", "ISW")))
    assert r.count == 0


def test_transformer_out_of_service(run):
    r = run(steps(("out_of_service", "T1")))
    assert r.customers == ("C1", "C2")
    assert r.sensitive_count == 1 and r.by_transformer == {"T1": 2}


def test_segment_out_of_service(run):
    r = run(steps(("out_of_service", "L2")))
    assert r.customers == ("C3", "C4", "C5")


def test_back_in_service_restores(run):
    r = run(steps(("out_of_service", "L2"), ("in_service", "L2")))
    assert r.count == 0 and [s.count for s in r.steps] == [3, 0]


def test_bringing_a_transformer_in_service_is_not_an_impact(run):
    assert run(steps(("in_service", "T7"))).count == 0


def test_restore_from_the_other_substation(run):
    r = run(steps(("open", "BR3"), ("close", "TIE2")))
    assert r.count == 0 and r.transient_customers == ("C7",)


@pytest.mark.parametrize(("plan", "error", "step"), [
    (steps(("close", "SW1")), InvalidStep, 0),
    (steps(("open", "TIE1")), InvalidStep, 0),
    (steps(("open", "SW1"), ("open", "SW1")), InvalidStep, 1),
    (steps(("out_of_service", "T7")), InvalidStep, 0),
    (steps(("in_service", "L1")), InvalidStep, 0),
    (steps(("open", "NOPE")), UnknownElement, None),
    (steps(("open", "L1")), InvalidPlan, None),
])
def test_errors(run, plan, error, step):
    with pytest.raises(error) as exc:
        run(plan)
    if step is not None:
        assert exc.value.step == step
        assert f"steps[{step}]" == exc.value.field


def test_invalid_step_names_the_state(run):
    with pytest.raises(InvalidStep) as exc:
        run(steps(("close", "SW1")))
    assert exc.value.message == "step 0: cannot close switch 'SW1': it is closed"


def test_area_covers_the_affected_customers(run):
    r = run(steps(("open", "SW1")))
    area = shape(r.area)
    assert area.is_valid and not area.is_empty
    pts = [shapely.Point(row.lon, row.lat) for row in r.rows]
    assert all(area.buffer(1e-9).contains(p) for p in pts)
    assert run(steps(("close", "ISW"))).area is None


def test_to_dict_is_json_ready(run):
    import json
    d = run(steps(("open", "SW2"), ("close", "TIE2"), window_start="2024-05-07T09:00:00+08:00",
                  window_end="2024-05-07T10:00:00+08:00")).to_dict()
    json.dumps(d)
    assert d["transient_count"] == 2 and d["steps"][0]["by_feeder"] == {"F1": 2}
    assert d["window_start"] == "2024-05-07T09:00:00+08:00"


def test_engines_agree_on_the_area(demo_index, demo_graph):
    from outage_impact import impact_reference
    plan = SwitchingPlan.from_dict(steps(("open", "BR1")))
    a, b = plan_impact(demo_index, plan).area, impact_reference(demo_graph, plan).area
    assert shapely.equals(shape(a), shape(b))


def _grid_with(build):
    g = GridBuilder()
    g.substation("S", bus="B")
    g.switch("BR", "B", "A", kind="breaker")
    g.feeder("F", "S", head_switch="BR")
    build(g)
    assets = g.build()
    return compile_index(assets), build_graph(assets)


def test_normally_closed_ring(run):
    def ring(g):
        g.switch("X", "A", "M1")
        g.segment("L1", "M1", "M2")
        g.switch("Y", "M2", "A")
        g.transformer("T1", "M1", "LV1")
        g.customer("C1", "LV1")
        g.transformer("T2", "M2", "LV2")
        g.customer("C2", "LV2")
    ix, graph = _grid_with(ring)
    assert run(steps(("open", "X")), ix, graph).count == 0
    r = run(steps(("open", "X"), ("open", "Y")), ix, graph)
    assert r.customers == ("C1", "C2") and [s.count for s in r.steps] == [0, 2]
    r = run(steps(("open", "X"), ("out_of_service", "L1")), ix, graph)
    assert r.customers == ("C1",)


def test_parallel_paths(run):
    def parallel(g):
        g.segment("P1", "A", "M")
        g.segment("P2", "A", "M")
        g.transformer("T", "M", "LV")
        g.customer("C", "LV")
    ix, graph = _grid_with(parallel)
    assert run(steps(("out_of_service", "P1")), ix, graph).count == 0
    assert run(steps(("out_of_service", "P1"), ("out_of_service", "P2")), ix, graph).customers == ("C",)


def test_ambiguous_id_needs_a_kind(run):
    def ambiguous(g):
        g.segment("X", "A", "M")
        g.transformer("X", "M", "LV")
        g.customer("C", "LV")
    ix, graph = _grid_with(ambiguous)
    with pytest.raises(InvalidPlan, match="give its kind"):
        run(steps(("out_of_service", "X")), ix, graph)
    plan = {"steps": [{"action": "out_of_service", "element": "X", "kind": "transformer"}]}
    assert run(plan, ix, graph).customers == ("C",)

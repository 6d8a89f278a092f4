"""Property tests: the compiled engine equals the networkx reference on random grids and plans."""

from __future__ import annotations

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import shape

from gis.errors import GridAtlasError
from outage_impact import isolate
from outage_impact import SwitchingPlan, impact_reference, plan_impact
from topology import build_graph, compile_index, energized_nodes
from topology.testing import random_grid

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

grids = st.builds(
    lambda seed, subs, feeders, size, ties, islands: random_grid(
        seed, substations=subs, feeders_per_substation=feeders, nodes_per_feeder=size, ties=ties, islands=islands),
    seed=st.integers(0, 100_000), subs=st.integers(1, 3), feeders=st.integers(1, 3), size=st.integers(1, 14),
    ties=st.integers(0, 5), islands=st.integers(0, 2),
)


@st.composite
def plans(draw, assets):
    """A random plan: mostly legal toggles, sometimes a contradiction or an unknown id."""
    tables = {"switch": assets.switches, "segment": assets.segments, "transformer": assets.transformers}
    normal = {}
    for kind, df in tables.items():
        col = df["normal_open"] if kind == "switch" else ~df["in_service"]
        normal.update({(kind, i): not bool(v) for i, v in zip(df["id"], col)})
    state: dict = {}
    out = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["switch", "switch", "switch", "segment", "transformer"]))
        ids = tables[kind]["id"].tolist()
        if not ids:
            continue
        element = draw(st.sampled_from(ids))
        closed = state.get((kind, element), normal[(kind, element)])
        flip = draw(st.integers(0, 29)) != 0  # 1 in 30: a step that contradicts the state
        to_closed = (not closed) if flip else closed
        if kind == "switch":
            action = "close" if to_closed else "open"
        else:
            action = "in_service" if to_closed else "out_of_service"
        state[(kind, element)] = to_closed
        out.append({"action": action, "element": element})
    if draw(st.integers(0, 39)) == 0:
        out.append({"action": "open", "element": "NO-SUCH-SWITCH"})
    if not out:
        out = [{"action": "open", "element": tables["switch"]["id"].iloc[0]}]
    window = {"window_start": "2024-05-07T09:00:00", "window_end": "2024-05-07T11:30:00"} \
        if draw(st.booleans()) else {}
    if draw(st.integers(0, 3)) == 0:  # the lists form: the final toggles, make-before-break
        lists: dict = {}
        seen = set()
        for s in reversed(out):
            if s["element"] not in seen:
                seen.add(s["element"])
                lists.setdefault(s["action"], []).insert(0, s["element"])
        return SwitchingPlan.from_dict({**lists, **window})
    return SwitchingPlan.from_dict({"steps": out, **window})


def _outcome(fn, arg, plan, full=True):
    try:
        r = fn(arg, plan)
    except GridAtlasError as exc:
        return type(exc).__name__, getattr(exc, "step", None)
    return r.to_dict(area=False) if full else (r.customers, [s.customers for s in r.steps])


@SETTINGS
@given(data=st.data(), assets=grids)
def test_engine_equals_reference(data, assets):
    ix, graph = compile_index(assets), build_graph(assets)
    for _ in range(3):
        plan = data.draw(plans(assets))
        assert _outcome(plan_impact, ix, plan) == _outcome(impact_reference, graph, plan)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 100_000), loops=st.integers(1, 3))
def test_engine_equals_reference_with_loops(data, seed, loops):
    """Meshed normal states: the energized sets agree (feeder attribution may follow another tree)."""
    assets = random_grid(seed, loops=loops, ties=3)
    ix, graph = compile_index(assets), build_graph(assets)
    for _ in range(3):
        plan = data.draw(plans(assets))
        assert _outcome(plan_impact, ix, plan, full=False) == _outcome(impact_reference, graph, plan, full=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), assets=grids)
def test_areas_agree(data, assets):
    ix, graph = compile_index(assets), build_graph(assets)
    plan = data.draw(plans(assets))
    try:
        a = plan_impact(ix, plan).area
    except GridAtlasError:
        return
    b = impact_reference(graph, plan).area
    assert (a is None) == (b is None)
    if a is not None:
        assert shapely.equals(shape(a), shape(b))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), assets=grids)
def test_isolation_alternatives_isolate_and_match_the_reference(data, assets):
    ix, graph = compile_index(assets), build_graph(assets)
    kind = data.draw(st.sampled_from(["segment", "transformer", "switch"]))
    table = {"segment": assets.segments, "transformer": assets.transformers, "switch": assets.switches}[kind]
    if table.empty:
        return
    element = data.draw(st.sampled_from(table["id"].tolist()))
    try:
        result = isolate(ix, element, kind=kind)
    except GridAtlasError:
        return
    ranks = [a.rank_key() for a in result.alternatives]
    assert ranks == sorted(ranks)
    a, b, _ = graph.graph["elements"][(kind, element)]
    for alt in result.alternatives:
        assert alt.impact.to_dict(area=False) == impact_reference(graph, alt.plan).to_dict(area=False)
        toggled = {(s.kind, s.element) for s in alt.plan.steps}
        assert len(toggled) == len(alt.plan.steps)
        live = energized_nodes(graph, toggled)
        assert a not in live and b not in live


@pytest.mark.parametrize("seed", range(5))
def test_every_device_can_be_evaluated(seed):
    """Opening/taking out each device alone: both engines agree (a small exhaustive sweep)."""
    assets = random_grid(seed, ties=4)
    ix, graph = compile_index(assets), build_graph(assets)
    for kind, table in (("switch", assets.switches), ("segment", assets.segments),
                        ("transformer", assets.transformers)):
        for element, state in zip(table["id"], table["normal_open" if kind == "switch" else "in_service"]):
            closed = (not state) if kind == "switch" else bool(state)
            action = {("switch", True): "open", ("switch", False): "close"}.get(
                (kind, closed), "out_of_service" if closed else "in_service")
            plan = SwitchingPlan.from_dict({"steps": [{"action": action, "element": element}]})
            assert _outcome(plan_impact, ix, plan) == _outcome(impact_reference, graph, plan)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), assets=grids, chunk=st.integers(1, 7), limit=st.integers(1, 9))
def test_streamed_rows_pages_and_summary_match_the_whole_result(data, assets, chunk, limit):
    """iter_rows / customer_page / summary (used by exports and paging) agree with rows / to_dict, on both engines."""
    ix, graph = compile_index(assets), build_graph(assets)
    plan = data.draw(plans(assets))
    for fn, arg in ((plan_impact, ix), (impact_reference, graph)):
        try:
            r = fn(arg, plan)
        except GridAtlasError:
            continue
        chunks = list(r.iter_rows(chunk))
        assert [row for c in chunks for row in c] == list(r.rows)
        assert all(0 < len(c) <= chunk for c in chunks)
        paged = [a for off in range(0, r.count + limit, limit) for a in r.customer_page(off, limit)]
        assert paged == list(r.customers)
        whole = r.to_dict(area=False)
        summary = r.summary(area=False)
        for key in ("customers", "transient_customers"):
            whole.pop(key)
        for step in whole["steps"]:
            step.pop("customers")
        assert summary == whole

"""The sample city read back from each store: compiled engine equals the networkx reference."""

from __future__ import annotations

from outage_impact import SwitchingPlan, impact_reference, plan_impact
from topology import GridAssets, build_graph, compile_index, validate
from gis.store import read_asset_tables


def test_every_switch_opening_matches_the_reference_on_stored_data(city_store):
    assets = GridAssets.from_tables(read_asset_tables(city_store), version="1")
    index = compile_index(assets)
    graph = build_graph(assets)
    assert validate(assets, index).ok
    closed = assets.switches[~assets.switches["normal_open"]]["id"]
    assert len(closed) > 50
    for switch in closed:
        plan = SwitchingPlan.from_dict({"open": [switch]})
        engine, reference = plan_impact(index, plan), impact_reference(graph, plan)
        assert engine.count == reference.count > 0, switch
        assert engine.to_dict(area=False)["customers"] == reference.to_dict(area=False)["customers"], switch

"""Rendering: json, csv, geojson and the text table."""

from __future__ import annotations

import csv
import io
import json

import pytest

from outage_impact import SwitchingPlan, plan_impact, render, to_csv, to_geojson, to_table


@pytest.fixture()
def results(demo_index):
    a = plan_impact(demo_index, SwitchingPlan.from_dict({
        "title": "Work on L2", "id": 7,
        "steps": [{"action": "open", "element": "SW1"}, {"action": "open", "element": "SW2"},
                  {"action": "close", "element": "TIE2"}],
        "window_start": "2024-05-07T09:00:00+08:00", "window_end": "2024-05-07T15:00:00+08:00"}))
    b = plan_impact(demo_index, SwitchingPlan.from_dict({"out_of_service": ["T1"]}))
    return a, b


def test_json(results):
    a, _ = results
    d = json.loads(render(a, "json"))
    assert d["customers"] == ["C3"] and d["plan_id"] == 7
    assert d["customer_minutes"] == 360 and d["transient_customers"] == ["C4", "C5"]
    assert d["area"]["type"] in ("Polygon", "MultiPolygon")
    assert len(json.loads(render(list(results), "json"))) == 2


def test_csv_one_row_per_customer(results):
    a, b = results
    rows = list(csv.DictReader(io.StringIO(to_csv(b))))
    assert rows == [
        {"account_no": "C1", "feeder_id": "F1", "transformer_id": "T1", "sensitivity": ""},
        {"account_no": "C2", "feeder_id": "F1", "transformer_id": "T1", "sensitivity": "医院"},
    ]
    many = list(csv.DictReader(io.StringIO(render([a, b], "csv"))))
    assert [r["plan"] for r in many] == ["Work on L2 (7)", "plan 2", "plan 2"]


def test_geojson(results):
    fc = to_geojson(results[1])
    assert fc["type"] == "FeatureCollection"
    roles = [f["properties"]["role"] for f in fc["features"]]
    assert roles == ["area", "customer", "customer"]
    point = fc["features"][1]
    assert point["geometry"]["type"] == "Point" and point["properties"]["account_no"] == "C1"
    json.loads(render(list(results), "geojson"))


def test_table(results):
    text = to_table(results[0])
    assert "Plan: Work on L2 (7)" in text
    assert "Affected customers: 1" in text and "customer-minutes: 360" in text
    assert "Transient outage during switching only: 2" in text
    assert "close" in text and "TIE2" in text
    assert render(list(results), "table").count("Plan:") == 2


def test_unknown_format(results):
    with pytest.raises(ValueError):
        render(results[0], "xlsx")


def test_csv_neutralizes_formula_ids():
    from topology import compile_index
    from topology.testing import GridBuilder

    g = GridBuilder()
    g.node("BUS")
    g.substation("S1", bus="BUS")
    g.node("N1")
    g.switch("BR1", "BUS", "N1", kind="breaker")
    g.feeder("=F1", "S1", "BR1")
    g.node("LV1", kind="lv", voltage_kv=0.4)
    g.transformer("@T1", "N1", "LV1")
    g.customer("=1+1", "LV1", sensitivity="-2")
    result = plan_impact(compile_index(g.build("f")), SwitchingPlan.from_dict({"open": ["BR1"]}))
    rows = list(csv.DictReader(io.StringIO(to_csv(result))))
    assert rows == [{"account_no": "'=1+1", "feeder_id": "'=F1", "transformer_id": "'@T1", "sensitivity": "'-2"}]

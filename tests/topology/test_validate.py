"""Validation: each kind of finding on small dirty grids, and the report's forms."""

from __future__ import annotations

from topology import compile_index, validate
from topology.testing import GridBuilder, demo_grid


def _dirty():
    g = GridBuilder()
    g.substation("S1", bus="B1")
    g.substation("S2", bus="B2")
    g.switch("BR1", "B1", "N1", kind="breaker")
    g.feeder("F1", "S1", head_switch="BR1")
    g.switch("BR2", "B2", "M1", kind="breaker")
    g.feeder("F2", "S2", head_switch="BR2")
    g.feeder("F3", "S2", head_switch=None)
    g.feeder("F4", "S2", head_switch="OPENHEAD")
    g.switch("OPENHEAD", "B2", "M9", kind="breaker", normal_open=True)
    g.segment("L1", "N1", "N2")
    g.segment("L2", "N2", "N3")
    g.segment("L3", "N3", "N1")              # loop N1-N2-N3
    g.segment("PAR", "N1", "N2")             # parallel with L1
    g.segment("X", "N3", "M1")               # S1 and S2 connected
    g.switch("SAME", "N2", "N2")             # switch with both ends on one node
    g.segment("Q", "Q1", "Q2")               # island
    g.transformer("T1", "N2", "LV1")
    g.transformer("L1", "N3", "LV9")         # id shared with a segment
    g.customer("C1", "LV1", meter_box="MBX", transformer="TX")
    g.customer("C2", "Q2")
    g.customer("C3", "GHOST", create_node=False)
    g.meter_box("MB1", "LV1", "TNOPE")
    g.rows("nodes").append({"id": "N1", "kind": "weird", "voltage_kv": 10.0, "lon": 0.0, "lat": 0.0})
    g.rows("segments").append({"id": "DANG", "node_a": "N1", "node_b": "NOPE", "in_service": True,
                               "feeder_id": "FNOPE"})
    return g.build("dirty")


def test_each_problem_is_reported():
    report = validate(_dirty())
    counts = report.counts()
    assert not report.ok
    expected = {"duplicate-id", "ambiguous-id", "dangling-reference", "same-node", "unknown-kind",
                "feeder-without-head-switch", "feeder-head-open", "sources-connected", "loop",
                "parallel-elements", "island", "customer-unsupplied"}
    assert expected <= set(counts)
    by = {(f.code, f.kind, f.element) for f in report.findings}
    assert ("duplicate-id", "node", "N1") in by
    assert ("same-node", "switch", "SAME") in by
    assert ("sources-connected", "segment", "X") in by or any(
        f.code == "sources-connected" for f in report.findings)
    assert ("feeder-without-head-switch", "feeder", "F3") in by
    assert ("feeder-head-open", "feeder", "F4") in by
    assert ("customer-unsupplied", "customer", "C2") in by
    dangling = {(f.kind, f.element, f.details["column"]) for f in report.by_code("dangling-reference")}
    assert {("customer", "C3", "supply_node"), ("segment", "DANG", "node_b"), ("segment", "DANG", "feeder_id"),
            ("customer", "C1", "meter_box_id"), ("customer", "C1", "transformer_id"),
            ("meter_box", "MB1", "transformer_id")} <= dangling
    loops = report.by_code("loop") + report.by_code("parallel-elements")
    assert all(f.severity == "warning" and f.details["cycle"] for f in loops)
    assert [f.severity for f in report.findings] == sorted((f.severity for f in report.findings),
                                                           key=lambda s: s != "error")


def test_report_forms():
    report = validate(_dirty())
    d = report.to_dict()
    assert d["version"] == "dirty" and d["ok"] is False
    assert {"code", "severity", "kind", "id", "message"} <= set(d["findings"][0])
    rows = report.rows()
    assert len(rows) == len(report.findings)
    text = report.to_text()
    assert text.splitlines()[0].startswith("data version dirty:")
    assert "sources-connected" in text


def test_demo_grid_findings_are_only_the_planted_ones():
    assets = demo_grid()
    report = validate(assets, compile_index(assets))
    assert report.counts() == {"dangling-reference": 1, "customer-unsupplied": 2, "island": 2}
    assert {f.element for f in report.by_code("island")} == {"Q1", "LV7"}


def test_clean_radial_grid_is_ok():
    g = GridBuilder()
    g.substation("S", bus="B")
    g.switch("BR", "B", "N1", kind="breaker")
    g.feeder("F", "S", head_switch="BR")
    g.segment("L", "N1", "N2")
    g.transformer("T", "N2", "LV")
    g.customer("C", "LV")
    report = validate(g.build())
    assert report.ok and report.findings == ()
    assert report.to_text() == "data version test: 0 error(s), 0 warning(s)"


def test_a_customer_whose_meter_box_belongs_to_another_transformer_is_an_error():
    g = GridBuilder()
    g.substation("S1", bus="B1")
    g.switch("BR1", "B1", "N1", kind="breaker")
    g.feeder("F1", "S1", head_switch="BR1")
    g.transformer("T1", "N1", "LV1")
    g.transformer("T2", "N1", "LV2")
    g.meter_box("MB1", "LV1", "T1")
    g.customer("C1", "LV1", meter_box="MB1", transformer="T1")
    g.customer("C2", "LV1", meter_box="MB1", transformer="T2")   # 表箱 of 台区 T1, 台区编号 T2
    g.customer("C3", "LV1", meter_box="MB1")                      # no 台区 given: nothing to contradict
    report = validate(g.build("mismatch"))
    found = report.by_code("meter-box-other-transformer")
    assert [(f.severity, f.kind, f.element) for f in found] == [("error", "customer", "C2")]
    assert "MB1" in found[0].message and "T1" in found[0].message and "T2" in found[0].message

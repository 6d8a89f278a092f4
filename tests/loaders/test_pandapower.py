"""The pandapower loader on tiny networks built with pandapower's own ``create_*`` functions.

Networks are built by pandapower in its interpreter (:mod:`tests.pp_oracle`) and written
with ``pandapower.to_json``; the loader reads those files. Each case asserts the exact
tables or energized sets, and where it matters pandapower's own answer too.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from api.state import load_snapshot
from gis.db import make_engine
from gis.errors import InvalidInput
from gis.store import read_asset_tables
from loaders.pandapower_json import parse_pandapower_json, read_pandapower_json
from loaders.pandapower_net import convert_net, import_net
from outage_impact import load_plans, plan_impact
from tests.pp_oracle import Oracle, pp_oracle  # noqa: F401
from topology import GridAssets, build_graph, compile_index
from topology.graph import energized_nodes

AREA = (112.5, 22.5, 113.6, 23.6)
AT = (113.0, 23.0)
GRIDATLAS = str(Path(sys.executable).with_name("gridatlas"))

# b0 110 kV (ext_grid) -trafo0- b1 20 kV; switch 0 at trafo0's LV terminal (et t);
# line0 b1->b2 with switch 1 at its b1 end and switch 2 (open) at its b2 end (et l);
# switch 3 bus-bus b2-b3 (et b); load0 and sgen0 at b3; line1 b1->b4 with load1 at b4.
ALL_KINDS = """
net = pp.create_empty_network()
b = [pp.create_bus(net, kv, geodata=(113.0 + 0.01 * i, 23.0)) for i, kv in enumerate([110, 20, 20, 20, 20])]
pp.create_ext_grid(net, b[0])
pp.create_transformer(net, b[0], b[1], "25 MVA 110/20 kV")
pp.create_line(net, b[1], b[2], 1.5, "NA2XS2Y 1x95 RM/25 12/20 kV")
pp.create_line(net, b[1], b[4], 0.5, "NA2XS2Y 1x95 RM/25 12/20 kV")
pp.create_switch(net, b[1], 0, "t", type="CB")
pp.create_switch(net, b[1], 0, "l", type="LBS")
pp.create_switch(net, b[2], 0, "l", closed=False, type="DS")
pp.create_switch(net, b[2], b[3], "b")
pp.create_load(net, b[3], 0.2, sn_mva=0.25, name="L0")
pp.create_load(net, b[4], 0.1)
pp.create_sgen(net, b[3], 0.5)
"""

# A radial feeder whose far end has an sgen: opening the line-end switch must cut it.
# b0 ext_grid -line0- b1 -line1- b2; switch 0 at line1's b1 end, switch 1 at line1's b2 end.
SGEN_ISLAND = """
net = pp.create_empty_network()
b = [pp.create_bus(net, 20) for _ in range(3)]
pp.create_ext_grid(net, b[0])
pp.create_line(net, b[0], b[1], 1.0, "NA2XS2Y 1x95 RM/25 12/20 kV")
pp.create_line(net, b[1], b[2], 1.0, "NA2XS2Y 1x95 RM/25 12/20 kV")
pp.create_switch(net, b[1], 1, "l")
pp.create_switch(net, b[2], 1, "l")
pp.create_load(net, b[1], 0.1)
pp.create_load(net, b[2], 0.1)
pp.create_sgen(net, b[2], 1.0)
pp.create_gen(net, b[2], 1.0, slack=False)
"""

# Sources and out-of-service elements: ext_grid at b0, slack gen at b2, PV gen at b4,
# an out-of-service ext_grid at b6; bus b7 is out of service; line4 and trafo0 are out of service.
SOURCES_AND_OUTAGES = """
net = pp.create_empty_network()
b = [pp.create_bus(net, 20) for _ in range(10)]
net.bus.loc[7, "in_service"] = False
pp.create_ext_grid(net, b[0])
pp.create_gen(net, b[2], 1.0, slack=True)
pp.create_gen(net, b[4], 1.0, slack=False)
pp.create_ext_grid(net, b[6], in_service=False)
T = "NA2XS2Y 1x95 RM/25 12/20 kV"
pp.create_line(net, b[0], b[1], 1.0, T)
pp.create_line(net, b[2], b[3], 1.0, T)
pp.create_line(net, b[4], b[5], 1.0, T)
pp.create_line(net, b[1], b[7], 1.0, T)
pp.create_line(net, b[7], b[8], 1.0, T, in_service=False)
pp.create_line(net, b[7], b[9], 1.0, T)
pp.create_switch(net, b[1], b[9], "b", closed=False)
net.bus.loc[8, "vn_kv"] = 0.4
pp.create_transformer_from_parameters(net, b[0], b[8], 0.63, 20, 0.4, 0.5, 6, 0.1, 0.1, in_service=False)
for i in range(10):
    pp.create_load(net, b[i], 0.1)
"""


def _net(oracle: Oracle, name: str, code: str) -> Path:
    return Path(oracle.build(name, "code", code)["path"])


def _convert(path: Path, **kw):
    kw.setdefault("place_at", AT)
    return convert_net(read_pandapower_json(path), source=path.name, service_area=AREA, **kw)


def _assets(conv) -> GridAssets:
    t = {k: v.copy() for k, v in conv.tables.items()}
    for name in ("nodes", "substations", "transformers", "customers"):
        pts = t[name]["geom"]
        t[name]["lon"] = [p.x for p in pts]
        t[name]["lat"] = [p.y for p in pts]
    t["feeders"] = pd.DataFrame(columns=["id", "name", "substation_id", "head_switch_id"])
    t["meter_boxes"] = pd.DataFrame(columns=["id", "node", "transformer_id"])
    for col in ("meter_box_id", "transformer_id", "sensitivity"):
        t["customers"][col] = None
    return GridAssets.from_tables(t, version="1")


def _energized_loads(assets: GridAssets, toggled=()) -> set[str]:
    live = energized_nodes(build_graph(assets), toggled)
    c = assets.customers
    return set(c["account_no"][c["supply_node"].isin(live)])


def test_switch_element_types_and_ids(pp_oracle):  # noqa: F811
    conv = _convert(_net(pp_oracle, "all_kinds", ALL_KINDS), place_at=None)
    t = conv.tables
    assert conv.rejects == []
    sw = t["switches"].set_index("id")
    assert sw.loc["switch:0", ["node_a", "node_b", "kind", "normal_open"]].tolist() == ["bus:1", "bus:1/trafo:0", "breaker", False]
    assert sw.loc["switch:1", ["node_a", "node_b", "kind"]].tolist() == ["bus:1", "bus:1/line:0", "load_switch"]
    assert sw.loc["switch:2", ["node_a", "node_b", "kind", "normal_open"]].tolist() == ["bus:2", "bus:2/line:0", "disconnector", True]
    assert sw.loc["switch:3", ["node_a", "node_b"]].tolist() == ["bus:2", "bus:3"]
    seg = t["segments"].set_index("id")
    assert seg.loc["line:0", ["node_a", "node_b", "kind", "length_m", "in_service"]].tolist() == ["bus:1/line:0", "bus:2/line:0", "cable", 1500.0, True]
    assert seg.loc["line:1", ["node_a", "node_b"]].tolist() == ["bus:1", "bus:4"]
    tr = t["transformers"].set_index("id")
    assert tr.loc["trafo:0", ["hv_node", "lv_node", "rated_kva", "in_service"]].tolist() == ["bus:0", "bus:1/trafo:0", 25000.0, True]
    assert t["substations"][["id", "bus_node", "voltage_kv"]].values.tolist() == [["ext_grid:0", "bus:0", 110.0]]
    nodes = t["nodes"].set_index("id")
    assert sorted(nodes.index) == ["bus:0", "bus:1", "bus:1/line:0", "bus:1/trafo:0", "bus:2", "bus:2/line:0", "bus:3", "bus:4"]
    assert nodes.loc["bus:0", "substation_id"] == "ext_grid:0"
    assert nodes.loc["bus:2/line:0", "kind"] == "junction"
    cust = t["customers"].set_index("account_no")
    assert cust.loc["load:0", ["name", "category", "contract_kva", "supply_node", "location_quality"]].tolist() == ["L0", "load", 250.0, "bus:3", "transformer"]
    assert (cust.loc["load:0", "geom"].x, cust.loc["load:0", "geom"].y) == (113.03, 23.0)  # the bus geodata
    assert sorted(cust.index) == ["load:0", "load:1"]  # the sgen is not a customer (nor a source)
    assert conv.notes["sgen_not_sources"] == 1
    # switch 2 (open, at line0's far end) keeps bus:2 and bus:3 dark; the line itself is live
    assets = _assets(conv)
    live = energized_nodes(build_graph(assets))
    assert {"bus:1/line:0", "bus:2/line:0"} <= live and not {"bus:2", "bus:3"} & live
    assert _energized_loads(assets) == {"load:1"} == pp_oracle.supplied("all_kinds")


def test_line_end_switch_cuts_exactly_its_side(pp_oracle):  # noqa: F811
    conv = _convert(_net(pp_oracle, "sgen_island", SGEN_ISLAND))
    assets = _assets(conv)
    graph = build_graph(assets)
    # switch 1 sits at line1's far (b2) end: opening it leaves the line live, cuts bus:2 only
    live = energized_nodes(graph, {("switch", "switch:1")})
    assert {"bus:0", "bus:1", "bus:1/line:1", "bus:2/line:1"} <= live and "bus:2" not in live
    # switch 0 sits at line1's near end: the line and everything beyond it go dark
    live = energized_nodes(graph, {("switch", "switch:0")})
    assert "bus:1" in live and not {"bus:1/line:1", "bus:2/line:1", "bus:2"} & live


def test_sgen_and_pv_gen_do_not_keep_an_island_supplied(pp_oracle):  # noqa: F811
    """Anti-islanding: bus 2 has an sgen and a PV gen; cut off, its load loses supply in both tools."""
    path = _net(pp_oracle, "sgen_island", SGEN_ISLAND)
    conv = _convert(path)
    assert conv.tables["substations"]["id"].tolist() == ["ext_grid:0"]
    assert conv.notes["gen_not_slack"] == 1
    index = compile_index(_assets(conv))
    for switch in ("switch:0", "switch:1"):
        got = set(plan_impact(index, load_plans({"open": [switch]})[0]).customers)
        assert got == {"load:1"} == pp_oracle.lost("sgen_island", [int(switch.split(":")[1])])[0]


def test_sources_and_out_of_service_elements(pp_oracle):  # noqa: F811
    conv = _convert(_net(pp_oracle, "sources", SOURCES_AND_OUTAGES))
    t = conv.tables
    assert t["substations"]["id"].tolist() == ["ext_grid:0", "gen:0"]  # not gen:1 (PV), not ext_grid:1 (out of service)
    assert conv.notes["out_of_service_sources"] == ["ext_grid:1"]
    assert conv.notes["out_of_service_buses"] == ["bus:7"]
    seg = t["segments"].set_index("id")
    assert not seg.loc["line:4", "in_service"] and seg.loc["line:3", "in_service"]
    # every element end at the out-of-service bus 7 is moved to its own stub node
    assert seg.loc["line:3", "node_b"] == "bus:7/line:3"
    assert seg.loc["line:5", "node_a"] == "bus:7/line:5"
    assert not t["transformers"].set_index("id").loc["trafo:0", "in_service"]
    assert set(t["customers"]["account_no"]) == {f"load:{i}" for i in range(10)}
    energized = _energized_loads(_assets(conv))
    assert energized == {"load:0", "load:1", "load:2", "load:3"} == pp_oracle.supplied("sources")


def test_trafo3w_and_unknown_references_are_rejected_with_reasons(pp_oracle):  # noqa: F811
    code = """
net = pp.create_empty_network()
b = [pp.create_bus(net, kv) for kv in (110, 20, 10, 20)]
pp.create_ext_grid(net, b[0])
pp.create_transformer3w(net, b[0], b[1], b[2], "63/25/38 MVA 110/20/10 kV")
pp.create_switch(net, b[1], 0, "t3")
pp.create_line(net, b[1], b[3], 1.0, "NA2XS2Y 1x95 RM/25 12/20 kV")
pp.create_switch(net, b[3], 0, "l")
pp.create_load(net, b[3], 0.1)
net.switch.loc[1, "element"] = 7
"""
    conv = _convert(_net(pp_oracle, "t3w", code))
    got = [(r.layer, r.row, r.id, r.field, r.value, r.reason) for r in conv.rejects]
    assert got == [
        ("trafo3w", 0, "trafo3w:0", "element", "trafo3w", "three-winding transformers are not modelled; split it into two-winding trafos"),
        ("switch", 0, "switch:0", "element", "0", "at a trafo3w, which is not modelled"),
        ("switch", 1, "switch:1", "element", "7", "unknown reference to line"),
    ]
    assert conv.tables["switches"].empty and conv.tables["segments"]["id"].tolist() == ["line:0"]


def test_coordinates_crs_and_service_area(pp_oracle):  # noqa: F811
    # bus geodata in CGCS2000 / 3-degree Gauss-Krueger zone 38 (EPSG:4526, easting with zone prefix)
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, 4526, always_xy=True)
    pts = [tr.transform(*p) for p in [(113.0, 23.0), (113.01, 23.0), (120.0, 30.0)]]
    code = f"""
net = pp.create_empty_network()
b = [pp.create_bus(net, 20, geodata=p) for p in {pts!r}]
pp.create_ext_grid(net, b[0])
pp.create_line(net, b[0], b[1], 1.0, "NA2XS2Y 1x95 RM/25 12/20 kV")
pp.create_line(net, b[1], b[2], 1.0, "NA2XS2Y 1x95 RM/25 12/20 kV")
pp.create_load(net, b[2], 0.1)
"""
    path = _net(pp_oracle, "gk", code)
    conv = _convert(path, place_at=None, crs="EPSG:4526")
    nodes = conv.tables["nodes"].set_index("id")
    p = nodes.loc["bus:1", "geom"]
    assert (round(p.x, 6), round(p.y, 6)) == (113.01, 23.0)
    got = [(r.layer, r.row, r.field, r.reason) for r in conv.rejects]
    assert got == [("bus", 2, "geo", "outside the service area 112.5,22.5,113.6,23.6"),
                   ("line", 1, "to_bus", "bus:2 was rejected"),
                   ("load", 0, "bus", "bus:2 was rejected")]
    with pytest.raises(InvalidInput, match="unknown CRS"):
        _convert(path, place_at=None, crs="EPSG:999999")
    with pytest.raises(InvalidInput, match="no usable bus.*--place-at"):
        _convert(path, place_at=None)  # GK metres read as lon/lat
    with pytest.raises(InvalidInput, match="outside the service area"):
        _convert(path, place_at=(0.0, 0.0))
    placed = _convert(path).tables["nodes"]
    assert all(112.9 < g.x < 113.1 and 22.9 < g.y < 23.1 for g in placed["geom"])


def test_not_a_pandapower_file():
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_pandapower_json("{oops")
    with pytest.raises(InvalidInput, match="not a pandapower network"):
        parse_pandapower_json(json.dumps({"type": "FeatureCollection", "features": []}))


# ------------------------------------------------------------------ the store and the CLI
def _run(*args: str, db: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, GRIDATLAS_DATABASE_URL=db, COLUMNS="500")  # no wrapped messages
    return subprocess.run([GRIDATLAS, *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


def test_import_is_atomic_idempotent_and_reports_rejects(pp_oracle, empty_store_url, tmp_path):  # noqa: F811
    path = _net(pp_oracle, "all_kinds", ALL_KINDS)
    engine = make_engine(empty_store_url)
    try:
        first = import_net(engine, read_pandapower_json(path), source="x", service_area=AREA)
        again = import_net(engine, read_pandapower_json(path), source="x", service_area=AREA)
        tables = read_asset_tables(engine)
        snapshot = load_snapshot(engine)
    finally:
        engine.dispose()
    assert not first.unchanged and again.unchanged and again.data_version == first.data_version == 1
    assert first.counts == {"substations": 1, "nodes": 8, "segments": 2, "switches": 4, "transformers": 1, "customers": 2}
    assert sorted(tables["switches"]["id"]) == ["switch:0", "switch:1", "switch:2", "switch:3"]
    assert set(plan_impact(snapshot.index, load_plans({"open": ["switch:0"]})[0]).customers) == {"load:1"}

    # the CLI: a row outside the area -> exit 3 and a report; a bad file -> exit 2, nothing written
    data = json.loads(path.read_text())
    bus = json.loads(data["_object"]["bus"]["_object"])
    bus["data"][4][-1] = json.dumps({"type": "Point", "coordinates": [7.5, 48.0]})  # geo is the last column
    data["_object"]["bus"]["_object"] = json.dumps(bus)
    bad = tmp_path / "net.json"
    bad.write_text(json.dumps(data))
    r = _run("import", "pandapower", str(bad), db=empty_store_url, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    with open(tmp_path / "net.rejects.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["source_file", "layer", "row", "id", "field", "value", "reason"]
    assert [row[1:] for row in rows[1:]] == [
        ["bus", "4", "bus:4", "geo", "7.5,48.0", "outside the service area 112.5,22.5,113.6,23.6"],
        ["line", "1", "line:1", "to_bus", "4", "bus:4 was rejected"],
        ["load", "1", "load:1", "bus", "4", "bus:4 was rejected"],
    ]
    (tmp_path / "junk.json").write_text("not json at all")
    r = _run("import", "pandapower", str(tmp_path / "junk.json"), db=empty_store_url, cwd=tmp_path)
    assert r.returncode == 2 and "is not JSON" in r.stderr
    r = _run("import", "pandapower", str(tmp_path / "missing.json"), db=empty_store_url, cwd=tmp_path)
    assert r.returncode == 2 and "cannot read" in r.stderr
    engine = make_engine(empty_store_url)
    try:
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT count(*) FROM data_versions").scalar_one()
    finally:
        engine.dispose()
    assert versions == 2  # the first import and the partial one; the refused files wrote nothing


def test_simbench_command(pp_oracle, empty_store_url, tmp_path):  # noqa: F811
    from tests.pp_oracle import pandapower_python

    r = _run("import", "simbench", "1-LV-rural1--0-sw", "--python", pandapower_python(), "--place-at", "113.0,23.0",
             db=empty_store_url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "customers 13" in r.stderr
    # SimBench writes its columns in a new order on every run: the re-import is still a no-op
    r = _run("import", "simbench", "1-LV-rural1--0-sw", "--python", pandapower_python(), "--place-at", "113.0,23.0",
             db=empty_store_url, cwd=tmp_path)
    assert r.returncode == 0 and "already loaded data version 1" in r.stderr, r.stderr


def test_unknown_simbench_code(pp_oracle, tmp_path):  # noqa: F811
    from loaders.pandapower_json import export_simbench
    from tests.pp_oracle import pandapower_python

    with pytest.raises(InvalidInput, match="simbench could not build 'no-such-code'"):
        export_simbench("no-such-code", tmp_path / "x.json", python=pandapower_python())


def test_simbench_without_a_pandapower_interpreter_names_the_package(tmp_path, monkeypatch):
    from loaders.pandapower_json import PYTHON_ENV, export_simbench

    monkeypatch.delenv(PYTHON_ENV, raising=False)
    with pytest.raises(InvalidInput, match="'simbench' package.*GRIDATLAS_PANDAPOWER_PYTHON"):
        export_simbench("1-LV-rural1--0-sw", tmp_path / "x.json")


def test_a_line_whose_geodata_leaves_the_area_is_rejected_with_its_switches(pp_oracle):  # noqa: F811
    code = """
net = pp.create_empty_network()
b = [pp.create_bus(net, 20, geodata=(113.0 + 0.01 * i, 23.0)) for i in range(3)]
pp.create_ext_grid(net, b[0])
T = "NA2XS2Y 1x95 RM/25 12/20 kV"
pp.create_line(net, b[0], b[1], 1.0, T, geodata=[(113.0, 23.0), (113.005, 23.001), (113.01, 23.0)])
pp.create_line(net, b[1], b[2], 1.0, T, geodata=[(113.01, 23.0), (7.5, 48.0), (113.02, 23.0)])
pp.create_switch(net, b[1], 1, "l")
"""
    conv = _convert(_net(pp_oracle, "line_geo", code), place_at=None)
    assert [(r.layer, r.row, r.field, r.value, r.reason) for r in conv.rejects] == [
        ("line", 1, "geo", "7.5,48.0", "outside the service area 112.5,22.5,113.6,23.6"),
        ("switch", 0, "element", "1", "line:1 was rejected"),
    ]
    seg = conv.tables["segments"].set_index("id")
    assert list(seg.index) == ["line:0"]
    assert list(seg.loc["line:0", "geom"].coords) == [(113.0, 23.0), (113.005, 23.001), (113.01, 23.0)]
    assert conv.tables["switches"].empty and "bus:1/line:1" not in set(conv.tables["nodes"]["id"])


# ------------------------------------------------------------------ the shared load core (issue 17)
BAD_TEXT = """
net = pp.create_empty_network()
b = [pp.create_bus(net, kv, geodata=(113.0 + 0.01 * i, 23.0)) for i, kv in enumerate([20, 0.4, 0.4])]
pp.create_ext_grid(net, b[0])
pp.create_transformer(net, b[0], b[1], "0.4 MVA 20/0.4 kV", name="T" * 201)
pp.create_line(net, b[1], b[2], 0.1, "NAYY 4x50 SE")
pp.create_load(net, b[1], 0.01, name="L\\x00 0")
pp.create_load(net, b[2], 0.01, name="L1")
"""


def test_text_the_store_cannot_keep_is_rejected_by_row(pp_oracle, empty_store):  # noqa: F811
    """A NUL in a name (SQLite kept it truncated, PostgreSQL refused the whole load) and a name
    longer than the column are rejected with their row, as the other loaders do (loaders.checks)."""
    path = _net(pp_oracle, "bad_text", BAD_TEXT)
    result = import_net(empty_store, read_pandapower_json(path), source="x", service_area=AREA)
    assert [(r.layer, r.row, r.field, r.reason) for r in result.rejects] == [
        ("trafo", 0, "name", "longer than 200 characters"),
        ("load", 0, "name", "contains a NUL character"),
    ]
    assert result.rejects[1].value == "L\\x00 0" and result.exit_code == 3
    assert result.counts["customers"] == 1 and result.counts["transformers"] == 0
    with empty_store.connect() as conn:
        names = conn.exec_driver_sql("SELECT account_no, name FROM customers").all()
    assert [tuple(r) for r in names] == [("load:1", "L1")]


def test_a_negative_load_capacity_is_rejected_by_row(pp_oracle):  # noqa: F811
    """sn_mva < 0 would be stored as a negative contract capacity; the mapped loaders refuse those."""
    code = """
net = pp.create_empty_network()
b = [pp.create_bus(net, kv) for kv in (20, 0.4)]
pp.create_ext_grid(net, b[0])
pp.create_transformer(net, b[0], b[1], "0.4 MVA 20/0.4 kV")
pp.create_load(net, b[1], 0.1, sn_mva=-0.25, name="L0")
pp.create_load(net, b[1], 0.1, sn_mva=0.25, name="L1")
"""
    conv = _convert(_net(pp_oracle, "neg_load", code))
    assert [(r.layer, r.row, r.field, r.value, r.reason) for r in conv.rejects] == [
        ("load", 0, "sn_mva", "-0.25", "must not be negative (MVA)")]
    assert conv.tables["customers"]["account_no"].tolist() == ["load:1"]
    assert conv.tables["customers"]["contract_kva"].tolist() == [250.0]


def test_reimport_after_another_load_is_unchanged_and_a_clean_run_removes_the_old_report(
        pp_oracle, empty_store_url, empty_store, tmp_path):  # noqa: F811
    """The network's hash was compared with the newest version only (another load in between made a
    new version of the same network), and a clean run left an earlier reject report in place."""
    from tests.loaders.foreign_export import archive_frame, write_archive
    from loaders.customer_archive import import_customers

    path = _net(pp_oracle, "all_kinds", ALL_KINDS)
    first = import_net(empty_store, read_pandapower_json(path), source="x", service_area=AREA)
    frame = archive_frame(1).assign(户号="9900000001", 表箱编号=None, 台区编号=None, 经度="113.2", 纬度="23.1")
    other = import_customers(empty_store, write_archive(tmp_path / "other.csv", frame), service_area=AREA)
    assert other.rejects == [] and other.data_version == first.data_version + 1
    again = import_net(empty_store, read_pandapower_json(path), source="x", service_area=AREA)
    assert again.unchanged and again.data_version == other.data_version

    report = tmp_path / "net.rejects.csv"
    from loaders.rejects import write_rejects
    write_rejects(report, first.rejects or [])  # an earlier run's report
    shutil.copyfile(path, tmp_path / "net.json")
    r = _run("import", "pandapower", str(tmp_path / "net.json"), db=empty_store_url, cwd=tmp_path)
    assert r.returncode == 0 and f"already loaded data version {other.data_version}" in r.stderr, r.stderr
    assert not report.exists() and "removed the earlier reject report" in r.stderr

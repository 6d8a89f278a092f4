"""Tests of the deterministic sample-city generator (small cities, read back from disk)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Geod

from loaders.sample.city import plan_city
from loaders.sample_city import (
    CUSTOMER_COLUMNS,
    INTERACTION_COLUMNS,
    LAYERS,
    MAX_CUSTOMERS,
    ORIGIN,
    CityManifest,
    generate_city,
)

GEOD = Geod(ellps="WGS84")
FILES = ("grid.gpkg", "customers.csv", "interactions.csv", "manifest.json")
LAYER_COLUMNS = {
    "substations": ["id", "name", "voltage_kv", "bus_node"],
    "feeders": ["id", "name", "substation_id", "head_switch_id"],
    "nodes": ["id", "kind", "voltage_kv", "substation_id"],
    "segments": ["id", "node_a", "node_b", "kind", "length_m", "in_service", "feeder_id"],
    "switches": ["id", "name", "kind", "node_a", "node_b", "normal_open", "feeder_id"],
    "transformers": ["id", "name", "hv_node", "lv_node", "rated_kva", "feeder_id", "in_service"],
    "meter_boxes": ["id", "node", "transformer_id"],
}
ID_PATTERNS = {
    "substations": r"SUB\d{4}",
    "feeders": r"F\d{3}",
    "nodes": r"N\d{6}",
    "segments": r"SEG\d{6}",
    "switches": r"SW\d{6}",
    "transformers": r"TR\d{5}",
    "meter_boxes": r"MB\d{6}",
}
MOBILE = re.compile(r"1[3-9]\d{9}")


def _read(out: Path) -> SimpleNamespace:
    return SimpleNamespace(
        dir=out,
        layers={layer: pyogrio.read_dataframe(out / "grid.gpkg", layer=layer) for layer in LAYERS},
        customers=pd.read_csv(out / "customers.csv", dtype=str, keep_default_na=False),
        interactions=pd.read_csv(out / "interactions.csv", dtype=str, keep_default_na=False),
    )


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> SimpleNamespace:
    """A 2,000-customer city, generated once and read back from its files."""
    out = tmp_path_factory.mktemp("city")
    calls: list[tuple[str, int, int]] = []
    manifest = generate_city(out, customers=2000, seed=7, progress=lambda *a: calls.append(a))
    data = _read(out)
    data.manifest = manifest
    data.progress = calls
    return data


def _normal_graph(layers: dict) -> nx.MultiGraph:
    """Nodes joined by in-service segments, closed switches and transformers."""
    g = nx.MultiGraph()
    g.add_nodes_from(layers["nodes"]["id"])
    seg = layers["segments"][layers["segments"]["in_service"]]
    g.add_edges_from(zip(seg["node_a"], seg["node_b"]))
    sw = layers["switches"][~layers["switches"]["normal_open"]]
    g.add_edges_from(zip(sw["node_a"], sw["node_b"]))
    tr = layers["transformers"]
    g.add_edges_from(zip(tr["hv_node"], tr["lv_node"]))
    return g


def _feeder_of_node(layers: dict) -> dict[str, str]:
    """Feeder per node: components of the normal graph without the head breakers."""
    g = _normal_graph(layers)
    breakers = layers["switches"][layers["switches"]["kind"] == "breaker"]
    for a, b in zip(breakers["node_a"], breakers["node_b"]):
        g.remove_edge(a, b)
    out = {}
    for _, row in breakers.iterrows():
        for node in nx.node_connected_component(g, row["node_b"]):
            out[node] = row["feeder_id"]
    return out


def test_identical_bytes_for_same_seed(tmp_path):
    a = generate_city(tmp_path / "a", customers=300, seed=3)
    b = generate_city(tmp_path / "b", customers=300, seed=3)
    assert a == b
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    generate_city(tmp_path / "c", customers=300, seed=4)
    assert (tmp_path / "a" / "customers.csv").read_bytes() != (tmp_path / "c" / "customers.csv").read_bytes()


def test_regenerating_in_place_gives_the_same_bytes(city, tmp_path):
    generate_city(tmp_path, customers=2000, seed=7)
    generate_city(tmp_path, customers=2000, seed=7)  # overwrites its own files
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (city.dir / name).read_bytes(), name


def test_files_layers_columns_and_crs(city):
    for name in FILES:
        assert (city.dir / name).is_file()
    for layer, columns in LAYER_COLUMNS.items():
        info = pyogrio.read_info(city.dir / "grid.gpkg", layer=layer)
        assert list(info["fields"]) == columns, layer
        assert info["crs"] == "EPSG:4326"
    assert list(city.customers.columns) == list(CUSTOMER_COLUMNS)
    assert list(city.interactions.columns) == list(INTERACTION_COLUMNS)


def test_manifest_matches_files(city):
    m = city.manifest
    on_disk = json.loads((city.dir / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == m.to_dict()
    assert CityManifest.from_dict(on_disk) == m
    assert m.seed == 7 and m.crs == "EPSG:4326"
    for layer in LAYERS:
        assert on_disk["counts"][layer] == len(city.layers[layer])
    assert m.customers == len(city.customers) == 2000
    assert m.interactions == len(city.interactions)
    lo_lon, lo_lat, hi_lon, hi_lat = m.bbox
    s = m.service_area
    assert s[0] < lo_lon < hi_lon < s[2] and s[1] < lo_lat < hi_lat < s[3]
    assert 112.5 <= s[0] and s[2] <= 113.6 and 22.5 <= s[1] and s[3] <= 23.6


def test_progress_reports_every_step(city):
    done = [d for _, d, _ in city.progress]
    total = city.progress[-1][2]
    assert done == list(range(total + 1))
    assert city.progress[-1][0] == "done"


def test_unique_ids_with_prefixes(city):
    for layer, pattern in ID_PATTERNS.items():
        ids = city.layers[layer]["id"]
        assert ids.is_unique, layer
        assert ids.str.fullmatch(pattern).all(), layer
    assert city.interactions["id"].is_unique
    assert city.interactions["id"].str.fullmatch(r"INT\d{7}").all()
    assert city.customers["account_no"].is_unique
    assert city.customers["account_no"].str.fullmatch(r"\d{10}").all()


def test_references_are_consistent(city):
    L = city.layers
    nodes = L["nodes"].set_index("id")
    for layer, cols in {
        "segments": ["node_a", "node_b"],
        "switches": ["node_a", "node_b"],
        "transformers": ["hv_node", "lv_node"],
        "meter_boxes": ["node"],
        "substations": ["bus_node"],
    }.items():
        for col in cols:
            assert L[layer][col].isin(nodes.index).all(), (layer, col)
    assert (nodes.loc[L["substations"]["bus_node"], "kind"] == "bus").all()
    assert (nodes.loc[L["transformers"]["hv_node"], "voltage_kv"] == 10.0).all()
    assert (nodes.loc[L["transformers"]["lv_node"], "kind"] == "lv").all()
    assert (nodes.loc[L["meter_boxes"]["node"], "kind"] == "meter_box").all()
    assert set(nodes["kind"]) <= {"bus", "junction", "pole", "lv", "meter_box"}
    assert set(nodes["voltage_kv"]) == {10.0, 0.4}
    assert (nodes["substation_id"].notna() == (nodes["kind"] == "bus")).all()
    assert L["segments"]["feeder_id"].isin(L["feeders"]["id"]).all()
    assert L["feeders"]["substation_id"].isin(L["substations"]["id"]).all()
    heads = L["switches"].set_index("id").loc[L["feeders"]["head_switch_id"]]
    assert (heads["kind"] == "breaker").all()
    assert (heads["feeder_id"].to_numpy() == L["feeders"]["id"].to_numpy()).all()
    assert nodes.loc[heads["node_a"], "kind"].eq("bus").all()
    boxes = L["meter_boxes"].set_index("id")
    c = city.customers
    assert (c["supply_node"].to_numpy() == boxes.loc[c["meter_box_id"], "node"].to_numpy()).all()
    assert (c["transformer_id"].to_numpy() == boxes.loc[c["meter_box_id"], "transformer_id"].to_numpy()).all()
    kinds = set(L["switches"]["kind"])
    assert {"breaker", "fuse", "tie"} < kinds <= {"breaker", "load_switch", "disconnector", "fuse", "tie"}
    fuses = L["switches"][L["switches"]["kind"] == "fuse"]
    assert sorted(fuses["node_b"]) == sorted(L["transformers"]["hv_node"])


def test_radial_in_normal_state_and_every_customer_supplied(city):
    L = city.layers
    g = _normal_graph(L)
    assert nx.is_forest(g)
    buses = set(L["nodes"].loc[L["nodes"]["kind"] == "bus", "id"])
    components = list(nx.connected_components(g))
    assert len(components) == len(buses)
    assert all(len(component & buses) == 1 for component in components)
    supplied = set().union(*components)
    assert set(city.customers["supply_node"]) <= supplied


def test_segments_and_transformers_belong_to_their_feeder(city):
    L = city.layers
    feeder = _feeder_of_node(L)
    seg = L["segments"]
    assert [feeder[a] for a in seg["node_a"]] == list(seg["feeder_id"])
    assert [feeder[b] for b in seg["node_b"]] == list(seg["feeder_id"])
    tr = L["transformers"]
    assert [feeder[n] for n in tr["hv_node"]] == list(tr["feeder_id"])


def test_ties_are_open_and_join_two_feeders(city):
    L = city.layers
    feeder = _feeder_of_node(L)
    sw = L["switches"]
    ties = sw[sw["kind"] == "tie"]
    assert len(ties) >= len(L["feeders"]) // 2
    assert ties["normal_open"].all()
    assert not sw.loc[sw["kind"] != "tie", "normal_open"].any()
    pairs = [(feeder[a], feeder[b]) for a, b in zip(ties["node_a"], ties["node_b"])]
    assert all(a != b for a, b in pairs)
    assert list(ties["feeder_id"]) == [a for a, _ in pairs]
    tied = {f for pair in pairs for f in pair}
    assert tied == set(L["feeders"]["id"])
    substations = L["feeders"].set_index("id")["substation_id"]
    assert any(substations[a] != substations[b] for a, b in pairs)


def test_switches_are_short_devices_at_their_midpoint(city):
    L = city.layers
    pts = L["nodes"].set_index("id").geometry
    sw = L["switches"]
    a, b = pts.loc[sw["node_a"]].to_numpy(), pts.loc[sw["node_b"]].to_numpy()
    _, _, gap = GEOD.inv(shapely.get_x(a), shapely.get_y(a), shapely.get_x(b), shapely.get_y(b))
    assert (gap > 0.5).all() and (gap < 3.0).all()
    mid = shapely.points((shapely.get_x(a) + shapely.get_x(b)) / 2, (shapely.get_y(a) + shapely.get_y(b)) / 2)
    assert (shapely.distance(mid, sw.geometry.to_numpy()) < 1e-6).all()


def test_segment_geometry_starts_and_ends_at_its_nodes(city):
    L = city.layers
    pts = L["nodes"].set_index("id").geometry
    seg = L["segments"]
    geom = seg.geometry.to_numpy()
    first, last = shapely.get_point(geom, 0), shapely.get_point(geom, -1)
    assert shapely.equals_exact(first, pts.loc[seg["node_a"]].to_numpy(), tolerance=0).all()
    assert shapely.equals_exact(last, pts.loc[seg["node_b"]].to_numpy(), tolerance=0).all()
    geodesic = np.array([GEOD.line_length(*shapely.get_coordinates(g).T) for g in geom])
    assert np.allclose(seg["length_m"], geodesic, rtol=1e-3, atol=0.02)
    spans = seg.loc[seg["kind"] != "lv_cable", "length_m"]
    assert 100 <= spans[spans > 60].median() <= 250


def test_customers_near_their_meter_box_and_boxes_near_transformer(city):
    L = city.layers
    c = city.customers
    boxes = L["meter_boxes"].set_index("id")
    box_pt = boxes.geometry.loc[c["meter_box_id"]].to_numpy()
    lon, lat = c["lon"].astype(float).to_numpy(), c["lat"].astype(float).to_numpy()
    _, _, d = GEOD.inv(lon, lat, shapely.get_x(box_pt), shapely.get_y(box_pt))
    assert (d <= 60).all()
    at_box = (c["location_quality"] == "meter_box").to_numpy()
    assert (lon[at_box] == shapely.get_x(box_pt[at_box])).all()
    assert (lat[at_box] == shapely.get_y(box_pt[at_box])).all()
    assert (d[~at_box] >= 2).all()
    assert 0.65 <= (~at_box).mean() <= 0.75
    tr = L["transformers"].set_index("id").geometry.loc[boxes["transformer_id"]].to_numpy()
    _, _, d_tr = GEOD.inv(shapely.get_x(boxes.geometry), shapely.get_y(boxes.geometry), shapely.get_x(tr), shapely.get_y(tr))
    assert (d_tr <= 150).all()
    per_box = c.groupby("meter_box_id").size()
    assert per_box.max() <= 12 and 4 <= per_box.mean() <= 12


def test_all_coordinates_inside_manifest_bbox(city):
    lo_lon, lo_lat, hi_lon, hi_lat = city.manifest.bbox
    coords = [shapely.get_coordinates(df.geometry.to_numpy()) for df in city.layers.values()]
    coords.append(city.customers[["lon", "lat"]].astype(float).to_numpy())
    known = city.interactions[city.interactions["lon"] != ""]
    coords.append(known[["lon", "lat"]].astype(float).to_numpy())
    xy = np.concatenate(coords)
    assert (xy[:, 0] >= lo_lon).all() and (xy[:, 0] <= hi_lon).all()
    assert (xy[:, 1] >= lo_lat).all() and (xy[:, 1] <= hi_lat).all()


def test_network_sizes(city):
    L = city.layers
    tr = L["transformers"]
    per_tr = city.customers.groupby("transformer_id").size()
    assert 50 <= per_tr.mean() <= 130
    assert set(tr["rated_kva"]) <= {100, 200, 315, 400, 500, 630, 800}
    assert tr["name"].str.endswith("号台区").all() and tr["name"].is_unique
    assert L["substations"]["name"].str.endswith("变电站").all() and L["substations"]["name"].is_unique
    assert (L["substations"]["voltage_kv"] == 110.0).all()
    assert L["feeders"]["name"].str.fullmatch(r"\S+F\d{2} \S+线").all() and L["feeders"]["name"].is_unique
    sw = L["switches"]
    sectionalized = set(sw.loc[sw["kind"].isin(["load_switch", "disconnector"]), "feeder_id"])
    assert sectionalized == set(L["feeders"]["id"])
    assert {"lv_cable"} < set(L["segments"]["kind"]) <= {"overhead", "cable", "lv_cable"}
    assert L["segments"]["in_service"].all() and tr["in_service"].all()


def test_plan_scales_with_customers():
    assert plan_city(5000).substations == 3
    assert 50 <= plan_city(1_000_000).substations <= 70
    for n in (1_000_000, MAX_CUSTOMERS):
        half_w, half_h = plan_city(n).half_size_m
        d_lon = (half_w + 200) / (111_320 * math.cos(math.radians(ORIGIN[1])))
        d_lat = (half_h + 200) / 110_570
        assert 112.5 < ORIGIN[0] - d_lon and ORIGIN[0] + d_lon < 113.6
        assert 22.5 < ORIGIN[1] - d_lat and ORIGIN[1] + d_lat < 23.6
    w5k, h5k = plan_city(5000).half_size_m
    assert 1.5e6 < 4 * w5k * h5k < 6e6  # a few km²


def test_customer_fields(city):
    c = city.customers
    n = len(c)
    assert c["account_no"].str.startswith("03").all()
    assert c["phone"].str.fullmatch(MOBILE.pattern).all()
    assert c["phone"].nunique() >= 0.97 * n
    alt = c["phone_alt"]
    assert (alt.eq("") | alt.str.fullmatch(MOBILE.pattern) | alt.str.fullmatch(r"0757-8\d{7}")).all()
    assert 0.15 <= (alt != "").mean() <= 0.35
    wx = c["wechat_openid"]
    assert wx[wx != ""].str.fullmatch(r"o[A-Za-z0-9_-]{27}").all() and wx[wx != ""].is_unique
    assert 0.30 <= (wx != "").mean() <= 0.40
    assert c["name"].str.len().ge(2).all()
    assert c["address"].str.match(r"佛山市\S+区\S+(路|街|大道)\d+号").all()
    plot = c["address"].str.extract(r"^(.*?号)")[0]
    assert (plot.groupby(c["meter_box_id"]).nunique() == 1).all()  # same street and number per box
    verified = pd.to_datetime(c["contact_verified_at"], format="%Y-%m-%d")
    assert verified.max() <= pd.Timestamp("2026-10-31")
    assert 0.1 <= (verified < pd.Timestamp("2024-10-31")).mean() <= 0.5
    assert set(c["location_quality"]) == {"surveyed", "meter_box"}


def test_category_and_sensitivity_distribution(city):
    c = city.customers
    share = c["category"].value_counts(normalize=True)
    assert set(share.index) == {"居民", "非居民", "大工业", "农业", "商业"}
    assert 0.84 <= share["居民"] <= 0.92
    assert 0.06 <= share["非居民"] <= 0.12
    for small in ("大工业", "农业", "商业"):
        assert 0.002 <= share[small] <= 0.025
    kva = c["contract_kva"].astype(int)
    home = c["category"] == "居民"
    assert kva[home].between(4, 10).all() and (kva[~home] >= 10).all()
    sensitive = c[c["sensitivity"] != ""]
    assert 0.005 <= len(sensitive) / len(c) <= 0.02
    assert set(sensitive["sensitivity"]) <= {"医院", "生命支持", "政府", "重要客户", "大客户"}
    assert (sensitive.loc[sensitive["sensitivity"].isin(["医院", "政府"]), "category"] != "居民").all()
    assert (sensitive.loc[sensitive["sensitivity"] == "生命支持", "category"] == "居民").all()
    hospitals = sensitive[sensitive["sensitivity"] == "医院"]
    assert hospitals["name"].str.contains("医院|卫生|保健").all()


def test_interactions(city):
    i, c = city.interactions, city.customers
    assert 0.7 * 1.5 * len(c) <= len(i) <= 1.3 * 1.5 * len(c)
    assert set(i["channel"]) == {"95598电话", "微信", "微博", "掌上电力", "网上国网", "营业厅"}
    assert set(i["kind"]) == {"咨询", "投诉", "报修", "意见", "表扬"}
    assert i["occurred_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00").all()
    t = pd.to_datetime(i["occurred_at"])
    assert t.is_monotonic_increasing
    assert t.min() >= pd.Timestamp("2025-11-01T00:00:00+08:00")
    assert t.max() <= pd.Timestamp("2026-10-31T23:59:59+08:00")
    unknown = i["account_no"] == ""
    assert 0.01 <= unknown.mean() <= 0.06
    assert ((i["lon"] == "") == unknown).all() and ((i["lat"] == "") == unknown).all()
    assert i.loc[~unknown, "account_no"].isin(c["account_no"]).all()
    located = i[~unknown].merge(c[["account_no", "lon", "lat"]], on="account_no", suffixes=("", "_c"))
    assert (located["lon"] == located["lon_c"]).all() and (located["lat"] == located["lat_c"]).all()
    assert i["caller_phone"].str.fullmatch(MOBILE.pattern + r"|0757-8\d{7}").all()
    own = i[~unknown].merge(c[["account_no", "phone"]], on="account_no")
    assert (own["caller_phone"] == own["phone"]).mean() > 0.7
    assert i["text"].str.len().ge(4).all()
    assert i["text"].str.contains("12398|曝光|记者|12345|信访").any()


def test_complaints_concentrate_in_hotspots(city):
    i, c = city.interactions, city.customers
    complaints = i[(i["kind"] == "投诉") & (i["account_no"] != "")]
    per_tr = complaints.merge(c[["account_no", "transformer_id"]], on="account_no").groupby("transformer_id").size()
    customers = c.groupby("transformer_id").size()
    per_tr = per_tr.reindex(customers.index, fill_value=0)
    rate = (per_tr / customers).sort_values(ascending=False, kind="stable")
    top = rate.index[: max(1, math.ceil(0.05 * len(rate)))]
    complaint_share = per_tr[top].sum() / per_tr.sum()
    customer_share = customers[top].sum() / customers.sum()
    assert complaint_share >= 3 * customer_share
    assert rate.iloc[0] >= 5 * rate.median()


def test_rejects_out_of_range_sizes(tmp_path):
    with pytest.raises(ValueError):
        generate_city(tmp_path, customers=10)
    with pytest.raises(ValueError):
        generate_city(tmp_path, customers=MAX_CUSTOMERS + 1)


def test_default_interactions_are_the_bytes_of_before(tmp_path):
    """Without ``interactions`` the output is what every earlier version wrote (digests taken from
    the generator before the option existed, commit edb42d1): tests and the demo rely on it."""
    import hashlib

    generate_city(tmp_path, customers=3000, seed=5)
    digest = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in ("customers.csv", "interactions.csv")}
    assert digest == {"customers.csv": "f5e855367b528eb27d32905f6c8a52d069897aef3d86085b82c28c67e0e31ba1",
                      "interactions.csv": "cadf6ce4c8e2115d51450128acfc496fc28f8dd3e38f96e5530a9f9d14fc84b3"}


def test_a_given_number_of_interactions(tmp_path, monkeypatch):
    """``interactions=N`` writes exactly N contacts (in slices), the same network and customers as the
    default, deterministically; complaints still concentrate in the hotspots."""
    import loaders.sample_city as sc

    monkeypatch.setattr(sc, "INTERACTION_SLICE", 7_000)  # several slices, a short last one
    default = generate_city(tmp_path / "d", customers=2000, seed=7)
    a = generate_city(tmp_path / "a", customers=2000, seed=7, interactions=30_001)
    b = generate_city(tmp_path / "b", customers=2000, seed=7, interactions=30_001)
    assert a.interactions == 30_001 and a == b
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for name in ("grid.gpkg", "customers.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "d" / name).read_bytes(), name
    assert default.interactions != 30_001
    data = _read(tmp_path / "a")
    i, c = data.interactions, data.customers
    assert len(i) == 30_001 and list(i.columns) == list(INTERACTION_COLUMNS)
    assert i["id"].is_unique and i["id"].iloc[0] == "INT0000001" and i["id"].iloc[-1] == "INT0030001"
    assert pd.to_datetime(i["occurred_at"]).is_monotonic_increasing
    unknown = i["account_no"] == ""
    assert 0.02 <= unknown.mean() <= 0.04
    assert i.loc[~unknown, "account_no"].isin(c["account_no"]).all()
    assert set(i["kind"]) == {"咨询", "投诉", "报修", "意见", "表扬"}
    complaints = i[(i["kind"] == "投诉") & ~unknown].merge(c[["account_no", "transformer_id"]], on="account_no")
    per_tr = complaints.groupby("transformer_id").size().reindex(c["transformer_id"].unique(), fill_value=0)
    rate = per_tr / c.groupby("transformer_id").size().reindex(per_tr.index)
    assert rate.max() >= 5 * rate.median()
    generate_city(tmp_path / "z", customers=300, seed=3, interactions=0)
    assert pd.read_csv(tmp_path / "z" / "interactions.csv").empty

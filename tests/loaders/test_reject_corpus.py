"""A corpus of bad rows of every kind mixed with good rows, loaded into the sample city on both
stores: exactly these rows are rejected, for exactly these reasons, and every good row is stored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pyproj import Transformer

from loaders.gis_layers import import_layers
from loaders.rejects import REJECT_COLUMNS, write_rejects
from tests.conftest import SERVICE_AREA
from tests.loaders.foreign_export import store_frame

LON, LAT = 113.1106925, 23.005651  # meter box MB000001 of the sample city
GK = Transformer.from_crs(4326, 4547, always_xy=True)
X, Y = GK.transform(LON, LAT)
FAR_X = X + 500_000

MAPPING = """
[transformers]
source = "配变.csv"
crs = "EPSG:4547"
geometry = { x = "X", y = "Y" }
[transformers.columns]
id = "编号"
name = "名称"
hv_node = "高压"
lv_node = "低压"
rated_kva = "容量"
in_service = "状态"

[meter_boxes]
source = "表箱.csv"
crs = "EPSG:4490"
geometry = { wkt = "WKT" }
[meter_boxes.columns]
id = "表箱编号"
node = "接入点"
transformer_id = "台区"

[segments]
source = "线路.csv"
crs = "EPSG:4326"
geometry = { wkt = "WKT" }
[segments.columns]
id = "编号"
node_a = "起点"
node_b = "终点"
kind = "类型"
in_service = "状态"

[customers]
source = "客户.csv"
crs = "EPSG:4326"
geometry = { x = "经度", y = "纬度" }
[customers.columns]
account_no = "户号"
name = "户名"
category = "用电类别"
phone = "联系电话"
meter_box_id = "表箱编号"
transformer_id = "台区编号"
contact_verified_at = "核实日期"
contract_kva = "合同容量"
"""

TRANSFORMERS = [  # row 2 onwards (the header is row 1)
    ("TN1", "新台区1", "N000175", "N000233", "400kVA", "运行", X, Y),
    ("TN1", "重复台区", "N000175", "N000233", "400", "运行", X, Y),
    ("TN2", "", "N000175", "N000233", "400", "运行", X, Y),
    ("TN3", "新台区3", "N000175", "N000233", "四百", "运行", X, Y),
    ("TN4", "新台区4", "N_NOPE", "N000233", "400", "运行", X, Y),
    ("TN5", "新台区5", "N000175", "N000233", "400", "运行", Y, X),
    ("TN6", "新台区6", "N000175", "N000233", "400", "运行", FAR_X, Y),
    ("TN7", "新台区7", "N000175", "N000233", "400", "运行", "12x", Y),
    ("TN8", "新台区8", "N000175", "N000233", "400", "也许", X, Y),
    ("TN9", "新台区9", "N000175", "N000233", "630", "停运", X + 10, Y + 10),
]
METER_BOXES = [
    ("MBN1", "N000291", "TN1", f"POINT ({LON} {LAT})"),
    ("MBN2", "N000291", "TN4", f"POINT ({LON} {LAT})"),
    ("MBN3", "N000291", "TN1", "POINT (113.11"),
    ("MBN4", "N000291", "TN1", f"LINESTRING ({LON} {LAT}, {LON + 0.001} {LAT})"),
    ("MBN5", "N000291", "TN1", f"SRID=99999;POINT ({LON} {LAT})"),
    ("MBN6", "N000291", "TN1", "POINT EMPTY"),
    ("MBN7", "N000291", "TN1", f"SRID=4547;POINT ({X} {Y})"),
    ("MBN8", "", "TN1", f"POINT ({LON} {LAT})"),
]
SEGMENTS = [
    ("SN1", "N000291", "N000233", "电缆", "运行", f"LINESTRING ({LON} {LAT}, {LON + 0.001} {LAT})"),
    ("SN2", "N000291", "N000233", "电缆", "运行", f"LINESTRING ({LON} {LAT}, {LON} {LAT})"),
    ("SN3", "N000291", "N000233", "光纤", "运行", f"LINESTRING ({LON} {LAT}, {LON + 0.001} {LAT})"),
    ("SN4", "N000291", "N_GONE", "cable", "运行", f"LINESTRING ({LON} {LAT}, {LON + 0.001} {LAT})"),
]
CUSTOMERS = [
    ("C1", "张三", "居民", "+86 138-0013-8000", "", "", "2026-01-02", "8", LON, LAT),
    ("C2", "李四", "居民", "13900139000", "MBN1", "", "", "", "", ""),
    ("C3", "王五", "非居民", "0757-88469710", "", "TR00001", "2026/3/4", "30kVA", "", ""),
    ("C4", "赵六", "居民", "13700137000", "", "", "", "", "", ""),
    ("C5", "钱七", "居民", "12345", "", "", "", "", LON, LAT),
    ("C6", "孙八", "居民", "13600136000", "", "", "2026-13-45", "", LON, LAT),
    ("C7", "周九", "居民", "13500135000", "MBN2", "", "", "", "", ""),
    ("C8", "吴十", "居民", "13400134000", "", "", "", "", LAT, LON),
    ("C9", "郑一", "居民", "13300133000", "", "", "", "abc", LON, LAT),
    ("C1", "张三二", "居民", "13800138001", "", "", "", "", LON, LAT),
    ("C10", "冯二", "", "13200132000", "", "", "", "", LON, LAT),
]

# (file, row, id, field, reason prefix): the whole report, in load order (segments, transformers, meter boxes, customers).
EXPECTED = [
    ("线路.csv", 3, "SN2", "WKT", "invalid geometry: Too few points"),
    ("线路.csv", 4, "SN3", "类型 (kind)", "bad value: must be one of overhead, cable, lv_cable"),
    ("线路.csv", 5, "SN4", "终点 (node_b)", "unknown reference to nodes: no nodes 'N_GONE'"),
    ("配变.csv", 3, "TN1", "编号 (id)", "duplicate id: the same id is on row 2 of this file"),
    ("配变.csv", 4, "TN2", "名称 (name)", "required value is missing"),
    ("配变.csv", 5, "TN3", "容量 (rated_kva)", "not a number"),
    ("配变.csv", 6, "TN4", "高压 (hv_node)", "unknown reference to nodes: no nodes 'N_NOPE' in this load or in the store"),
    ("配变.csv", 7, "TN5", "X,Y", "coordinates look swapped"),
    ("配变.csv", 8, "TN6", "X,Y", "outside the service area"),
    ("配变.csv", 9, "TN7", "X,Y", "coordinate is not a number in X,Y"),
    ("配变.csv", 10, "TN8", "状态 (in_service)", "not a yes/no value"),
    ("表箱.csv", 3, "MBN2", "台区 (transformer_id)", "unknown reference to transformers: 'TN4' is rejected in this load ("),
    ("表箱.csv", 4, "MBN3", "WKT", "not valid WKT"),
    ("表箱.csv", 5, "MBN4", "WKT", "wrong geometry type: a LineString where meter_boxes needs a Point"),
    ("表箱.csv", 6, "MBN5", "WKT", "unknown CRS EPSG:99999"),
    ("表箱.csv", 7, "MBN6", "WKT", "empty geometry"),
    ("表箱.csv", 9, "MBN8", "接入点 (node)", "required value is missing"),
    ("客户.csv", 5, "C4", "经度,纬度", "no coordinates and no known meter box or transformer"),
    ("客户.csv", 6, "C5", "联系电话 (phone)", "not a phone number: '12345'"),
    ("客户.csv", 7, "C6", "核实日期 (contact_verified_at)", "not a date"),
    ("客户.csv", 8, "C7", "表箱编号 (meter_box_id)", "unknown reference to meter_boxes: 'MBN2' is rejected in this load ("),
    ("客户.csv", 9, "C8", "经度,纬度", "coordinates look swapped"),
    ("客户.csv", 10, "C9", "合同容量 (contract_kva)", "not a number"),
    ("客户.csv", 11, "C1", "户号 (account_no)", "duplicate id: the same account_no is on row 2 of this file"),
    ("客户.csv", 12, "C10", "用电类别 (category)", "required value is missing"),
]


def _write(path: Path, header: list[str], rows: list[tuple]) -> None:
    pd.DataFrame([[str(v) for v in r] for r in rows], columns=header).to_csv(path, index=False, encoding="utf-8")


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "配变.csv", ["编号", "名称", "高压", "低压", "容量", "状态", "X", "Y"], TRANSFORMERS)
    _write(folder / "表箱.csv", ["表箱编号", "接入点", "台区", "WKT"], METER_BOXES)
    _write(folder / "线路.csv", ["编号", "起点", "终点", "类型", "状态", "WKT"], SEGMENTS)
    _write(folder / "客户.csv", ["户号", "户名", "用电类别", "联系电话", "表箱编号", "台区编号", "核实日期", "合同容量", "经度", "纬度"], CUSTOMERS)
    mapping = folder / "corpus.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return mapping


def test_every_kind_of_bad_row_is_rejected_with_its_row_field_and_reason(tmp_path, city_store):
    before = {t: store_frame(city_store, t) for t in ("transformers", "meter_boxes", "segments", "customers")}
    result = import_layers(city_store, write_corpus(tmp_path), service_area=SERVICE_AREA)

    got = [(Path(r.source_file).name, r.row, r.id, r.field, r.reason) for r in result.rejects]
    assert len(got) == len(EXPECTED), "\n".join(map(str, result.rejects))
    for g, (file, row, ident, field, reason) in zip(got, EXPECTED):
        assert g[:4] == (file, row, ident, field), g
        assert g[4].startswith(reason), g
    cascade = next(r for r in result.rejects if r.id == "MBN2")
    assert "配变.csv row 6" in cascade.reason and "fixing that row fixes this one" in cascade.reason
    assert next(r for r in result.rejects if r.id == "C5").value == "12345"
    assert result.rejected_rows == len(EXPECTED) and result.exit_code == 3
    assert result.counts == {"segments": 1, "transformers": 2, "meter_boxes": 2, "customers": 3}

    # Every good row is stored, and nothing else changed.
    tr = store_frame(city_store, "transformers")
    new = tr[~tr["id"].isin(before["transformers"]["id"])].set_index("id")
    assert sorted(new.index) == ["TN1", "TN9"]
    assert new.loc["TN1", "rated_kva"] == 400 and bool(new.loc["TN1", "in_service"]) is True
    assert new.loc["TN9", "rated_kva"] == 630 and bool(new.loc["TN9", "in_service"]) is False
    p = new.loc["TN1", "geom"]
    assert abs(p.x - LON) < 1e-7 and abs(p.y - LAT) < 1e-7
    mb = store_frame(city_store, "meter_boxes").set_index("id")
    assert sorted(set(mb.index) - set(before["meter_boxes"]["id"])) == ["MBN1", "MBN7"]
    assert abs(mb.loc["MBN7", "geom"].x - LON) < 1e-7  # the EWKT row's own CRS (EPSG:4547) was used
    seg = store_frame(city_store, "segments").set_index("id")
    assert sorted(set(seg.index) - set(before["segments"]["id"])) == ["SN1"]
    assert seg.loc["SN1", "kind"] == "cable"
    cust = store_frame(city_store, "customers").set_index("account_no")
    assert sorted(set(cust.index) - set(before["customers"]["account_no"])) == ["C1", "C2", "C3"]
    assert cust.loc["C1", "phone"] == "13800138000" and cust.loc["C1", "location_quality"] == "surveyed"
    assert cust.loc["C1", "contact_verified_at"].isoformat() == "2026-01-02"
    # C2 has no coordinates: placed at its meter box (loaded in the same run), supplied from its node.
    assert (cust.loc["C2", "location_quality"], cust.loc["C2", "supply_node"], cust.loc["C2", "transformer_id"]) == (
        "meter_box", "N000291", "TN1")
    assert cust.loc["C2", "geom"].equals_exact(mb.loc["MBN1", "geom"], 1e-12)
    # C3: no coordinates and no meter box: placed at its (stored) transformer, fed from its LV node.
    stored_tr = before["transformers"].set_index("id").loc["TR00001"]
    assert (cust.loc["C3", "location_quality"], cust.loc["C3", "supply_node"]) == ("transformer", stored_tr["lv_node"])
    assert cust.loc["C3", "geom"].equals_exact(stored_tr["geom"], 1e-12)
    assert cust.loc["C3", "phone"] == "075788469710" and cust.loc["C3", "contract_kva"] == 30


def test_the_reject_report_opens_in_excel_and_keeps_every_column(tmp_path):
    from loaders.rejects import Reject

    path = tmp_path / "x.rejects.csv"
    rows = [Reject("客户.csv", "", 6, "C5", "联系电话 (phone)", "12,345", "not a phone number: '12,345'")]
    assert write_rejects(path, rows) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel opens Chinese text correctly
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert tuple(back.columns) == REJECT_COLUMNS
    assert pd.isna(back.iloc[0]["layer"])  # blank for CSV sources
    assert back.drop(columns="layer").iloc[0].tolist() == ["客户.csv", "6", "C5", "联系电话 (phone)", "12,345",
                                                           "not a phone number: '12,345'"]


def test_numbers_heights_and_control_characters(tmp_path, empty_store):
    """Negative or infinite capacities and NUL characters are rejected; Z coordinates are dropped."""
    import geopandas as gpd
    import shapely as shp

    gdf = gpd.GeoDataFrame(
        {"编号": ["N1", "N2", "N3", "N4"], "电压": ["10", "-10", "inf", "10"], "类型": ["母线", "杆塔", "杆塔", "杆塔"]},
        geometry=[shp.Point(LON, LAT, 12.5)] * 4, crs=4326)
    gdf.to_file(tmp_path / "n.gpkg", driver="GPKG")
    (tmp_path / "m.toml").write_text('[nodes]\nsource = "n.gpkg"\n[nodes.columns]\nid = "编号"\nvoltage_kv = "电压"\nkind = "类型"\n',
                                     encoding="utf-8")
    result = import_layers(empty_store, tmp_path / "m.toml", service_area=SERVICE_AREA)
    reasons = [(r.row, r.field, r.reason.split(" (")[0]) for r in result.rejects]
    assert reasons == [(2, "电压 (voltage_kv)", "must not be negative"), (3, "电压 (voltage_kv)", "not a finite number")]  # feature numbers
    stored = store_frame(empty_store, "nodes")
    assert stored["id"].tolist() == ["N1", "N4"] and not stored["geom"][0].has_z


def test_text_with_a_nul_character_is_rejected_not_sent_to_the_store():
    import numpy as np
    from sqlalchemy import String

    from loaders.checks import _convert

    out, errors = _convert("nodes", "id", String(64), np.array(["N1", "N\x002", None], dtype=object))
    assert errors == [(1, "contains a NUL character")] and out[0] == "N1" and out[2] is None

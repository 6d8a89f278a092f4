"""Builds, from the committed sample city, the GIS export that
``data/samples/mappings/foshan_gis_export.toml`` describes: Chinese column names, one
format per table (GeoJSON, GeoPackage, GBK CSV, Shapefile, FlatGeobuf, CSV with X/Y,
CSV with WKT) and several CRSs (EPSG:4490, EPSG:4547, EPSG:4526 with the zone prefix),
plus a customer archive with Chinese headers. Tests load it and compare with the sample.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "foshan"
MAPPING = ROOT / "data" / "samples" / "mappings" / "foshan_gis_export.toml"

NODE_KIND_ZH = {"bus": "母线", "junction": "连接点", "pole": "杆塔", "lv": "低压", "meter_box": "表箱"}
SEGMENT_KIND_ZH = {"overhead": "架空线", "cable": "电缆", "lv_cable": "低压电缆"}
SWITCH_KIND_ZH = {"breaker": "断路器", "load_switch": "负荷开关", "disconnector": "隔离开关", "fuse": "熔断器", "tie": "联络开关"}

ARCHIVE_HEADERS = {
    "account_no": "户号", "name": "户名", "address": "用电地址", "phone": "联系电话", "phone_alt": "备用电话",
    "wechat_openid": "微信openid", "category": "用电类别", "contract_kva": "合同容量", "sensitivity": "敏感等级",
    "meter_box_id": "表箱编号", "transformer_id": "台区编号", "lon": "经度", "lat": "纬度", "contact_verified_at": "核实日期",
}


def sample_layer(name: str) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(SAMPLE / "grid.gpkg", layer=name)


def sample_customers() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "customers.csv", dtype=str, keep_default_na=False, na_values=[""])


def _wkt(geoms) -> list[str]:
    return [shapely.to_wkt(g, rounding_precision=-1) for g in geoms]


def build_export(out: Path) -> Path:
    """Write the export into ``out`` with the committed mapping beside it; returns the mapping's path."""
    out.mkdir(parents=True, exist_ok=True)
    subs = sample_layer("substations")
    subs = subs.assign(voltage_kv=[f"{v:g}kV" for v in subs["voltage_kv"]])
    subs.rename(columns={"id": "站号", "name": "站名", "voltage_kv": "电压等级", "bus_node": "母线节点"}).to_crs(4490) \
        .to_file(out / "变电站.geojson", driver="GeoJSON")

    nodes = sample_layer("nodes")
    nodes = nodes.assign(kind=nodes["kind"].map(NODE_KIND_ZH))
    nodes.rename(columns={"id": "节点编号", "kind": "节点类型", "voltage_kv": "电压", "substation_id": "所属变电站"}) \
        .to_crs(4547).to_file(out / "配网设备.gpkg", layer="连接点", driver="GPKG")

    feeders = pd.DataFrame(sample_layer("feeders").drop(columns="geometry"))
    feeders.rename(columns={"id": "馈线编号", "name": "馈线名称", "substation_id": "变电站编号", "head_switch_id": "出线开关"}) \
        .to_csv(out / "馈线.csv", index=False, encoding="gbk")

    seg = sample_layer("segments")
    seg = seg.assign(kind=seg["kind"].map(SEGMENT_KIND_ZH), in_service=seg["in_service"].map({True: "运行", False: "停运"}))
    seg.rename(columns={"id": "编号", "node_a": "起点", "node_b": "终点", "kind": "类型", "length_m": "长度",
                        "in_service": "状态", "feeder_id": "馈线"}).to_crs(4547) \
        .to_file(out / "线路段.shp", driver="ESRI Shapefile", encoding="UTF-8")

    sw = sample_layer("switches")
    sw = sw.assign(kind=sw["kind"].map(SWITCH_KIND_ZH), normal_open=sw["normal_open"].map({True: "常开", False: "常闭"}))
    sw.rename(columns={"id": "设备编码", "name": "设备名称", "kind": "开关类型", "node_a": "端点A", "node_b": "端点B",
                       "normal_open": "运行方式", "feeder_id": "所属馈线"}).to_crs(4526) \
        .to_file(out / "开关.fgb", driver="FlatGeobuf")

    tr = sample_layer("transformers").to_crs(4547)
    table = pd.DataFrame({
        "台区编号": tr["id"], "台区名称": tr["name"], "高压节点": tr["hv_node"], "低压节点": tr["lv_node"],
        "额定容量": [f"{v}kVA" for v in tr["rated_kva"]], "运行状态": tr["in_service"].map({True: "运行", False: "停运"}),
        "馈线编号": tr["feeder_id"], "X坐标": [repr(x) for x in tr.geometry.x], "Y坐标": [repr(y) for y in tr.geometry.y],
    })
    table.to_csv(out / "配变台账.csv", index=False, encoding="utf-8")

    mb = sample_layer("meter_boxes").to_crs(4490)
    pd.DataFrame({"表箱编号": mb["id"], "接入点": mb["node"], "台区编号": mb["transformer_id"], "坐标WKT": _wkt(mb.geometry)}) \
        .to_csv(out / "表箱.csv", index=False, encoding="utf-8-sig")

    target = out / MAPPING.name
    shutil.copyfile(MAPPING, target)
    return target


def archive_frame(n: int | None = None) -> pd.DataFrame:
    """The sample customers as a marketing archive: Chinese headers, formatted phones, and no
    coordinates for customers the sample placed at their meter box."""
    c = sample_customers()
    if n is not None:
        c = c.head(n)
    c = c.copy()
    placed = c["location_quality"] == "meter_box"
    c.loc[placed, ["lon", "lat"]] = None
    phones = c["phone"].astype(object).copy()
    for i, k in enumerate(phones.index):
        p = phones[k]
        if isinstance(p, str) and len(p) == 11:
            phones[k] = (f"{p[:3]}-{p[3:7]}-{p[7:]}" if i % 3 == 1 else f"+86 {p}" if i % 3 == 2 else p)
    c["phone"] = phones
    return c[list(ARCHIVE_HEADERS)].rename(columns=ARCHIVE_HEADERS)


def write_archive(path: Path, frame: pd.DataFrame) -> Path:
    """``frame`` as .csv (encoding from the suffix: .gbk.csv → GBK) or .xlsx."""
    if path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    elif path.name.endswith(".gbk.csv"):
        frame.to_csv(path, index=False, encoding="gbk")
    else:
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def store_frame(engine, table: str) -> pd.DataFrame:
    """Every column of ``table`` in the store, ordered by id (geometry as shapely)."""
    from sqlalchemy import select

    from gis.models import Base

    tbl = Base.metadata.tables[table]
    with engine.connect() as conn:
        result = conn.execute(select(tbl).order_by(*tbl.primary_key.columns))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def assert_same_geoms(a, b, tol: float = 1e-7) -> None:
    """Same geometry types and coordinates within ``tol`` degrees (1e-7° ≈ 1 cm)."""
    import numpy as np

    a, b = np.asarray(list(a), dtype=object), np.asarray(list(b), dtype=object)
    assert list(shapely.get_type_id(a)) == list(shapely.get_type_id(b))
    ca, cb = shapely.get_coordinates(a), shapely.get_coordinates(b)
    assert ca.shape == cb.shape
    assert float(np.max(np.abs(ca - cb))) < tol if len(ca) else True


def assert_store_holds_sample_grid(engine, tol: float = 1e-7) -> None:
    """The store's grid tables equal the sample city's layers (values exactly, geometry within ``tol``)."""
    for table in ("substations", "nodes", "feeders", "segments", "switches", "transformers", "meter_boxes"):
        want = sample_layer(table).sort_values("id").reset_index(drop=True)
        got = store_frame(engine, table)
        assert list(got["id"]) == list(want["id"]), table
        for col in want.columns:
            if col == "geometry":
                continue
            w = [None if pd.isna(v) else (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for v in want[col]]
            g = [None if v is None or (isinstance(v, float) and pd.isna(v)) else (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for v in got[col]]
            assert g == w, (table, col)
        if "geometry" in want and table != "feeders":
            assert_same_geoms(got["geom"], want.geometry, tol)


def assert_store_holds_sample_customers(engine, accounts: list[str] | None = None, tol: float = 1e-7) -> None:
    """The store's customers equal the sample's (all of them, or ``accounts``)."""
    want = sample_customers().sort_values("account_no").reset_index(drop=True)
    if accounts is not None:
        want = want[want["account_no"].isin(accounts)].reset_index(drop=True)
    got = store_frame(engine, "customers")
    got = got[got["account_no"].isin(want["account_no"])].reset_index(drop=True)
    assert list(got["account_no"]) == list(want["account_no"])
    from loaders.checks import normalize_phone

    for col in ("phone", "phone_alt"):  # stored without separators: 0757-88469710 → 075788469710
        want[col] = [normalize_phone(v) for v in want[col]]
    for col in ("name", "address", "phone", "phone_alt", "wechat_openid", "category", "sensitivity", "meter_box_id",
                "transformer_id", "supply_node", "location_quality"):
        assert [None if pd.isna(v) else v for v in got[col]] == [None if pd.isna(v) else v for v in want[col]], col
    assert [None if v is None or pd.isna(v) else float(v) for v in got["contract_kva"]] == [
        None if pd.isna(v) else float(v) for v in want["contract_kva"]]
    assert [None if v is None else v.isoformat() for v in got["contact_verified_at"]] == [
        None if pd.isna(v) else v for v in want["contact_verified_at"]]
    assert_same_geoms(got["geom"], shapely.points(want["lon"].astype(float), want["lat"].astype(float)), tol)

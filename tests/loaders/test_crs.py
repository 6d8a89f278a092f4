"""CRS paths: the file's CRS, a declared CRS, none (refused, saying how to declare it), a
conflict (refused, naming both), zone-prefixed Gauss–Krüger eastings, and the top-level default."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gis.store import table_counts
from loaders.crs import resolve_crs
from loaders.gis_layers import import_layers
from loaders.mapping import MappingError
from tests.conftest import SERVICE_AREA
from tests.loaders.foreign_export import assert_same_geoms, sample_layer, store_frame

NODES = """
{top}
[nodes]
source = "{source}"
{crs}
[nodes.columns]
id = "编号"
kind = "kind"
voltage_kv = "voltage_kv"
"""


def _nodes(n: int = 40):
    return sample_layer("nodes").head(n).drop(columns="substation_id").rename(columns={"id": "编号"})


def _mapping(folder: Path, source: str, *, crs: str | None = None, top: str | None = None) -> Path:
    path = folder / "m.toml"
    path.write_text(NODES.format(source=source, crs=f'crs = "{crs}"' if crs else "", top=f'crs = "{top}"' if top else ""),
                    encoding="utf-8")
    return path


def _empty(engine) -> bool:
    with engine.connect() as conn:
        return table_counts(conn, ["nodes", "data_versions"]) == {"nodes": 0, "data_versions": 0}


def test_a_shapefile_without_prj_is_refused_with_the_line_to_add_then_loads_once_declared(tmp_path, empty_store):
    _nodes().to_crs(4547).to_file(tmp_path / "nodes.shp", encoding="UTF-8")
    (tmp_path / "nodes.prj").unlink()
    with pytest.raises(MappingError) as info:
        import_layers(empty_store, _mapping(tmp_path, "nodes.shp"), service_area=SERVICE_AREA)
    message = info.value.message
    assert "nodes.shp" in message and "has no CRS" in message
    assert 'crs = "EPSG:4547"' in message and "under [nodes]" in message
    assert _empty(empty_store)

    result = import_layers(empty_store, _mapping(tmp_path, "nodes.shp", crs="EPSG:4547"), service_area=SERVICE_AREA)
    assert result.rejects == [] and result.counts == {"nodes": 40}
    assert_same_geoms(store_frame(empty_store, "nodes")["geom"], _nodes().geometry)


def test_a_declared_crs_that_contradicts_the_file_is_refused_naming_both(tmp_path, empty_store):
    _nodes().to_crs(4547).to_file(tmp_path / "nodes.gpkg", driver="GPKG")
    with pytest.raises(MappingError) as info:
        import_layers(empty_store, _mapping(tmp_path, "nodes.gpkg", crs="EPSG:4490"), service_area=SERVICE_AREA)
    assert "EPSG:4547" in info.value.message and "EPSG:4490" in info.value.message
    assert info.value.field == "[nodes] crs"
    assert _empty(empty_store)


def test_the_top_level_crs_only_fills_in_for_layers_without_one(tmp_path, empty_store):
    _nodes().to_crs(4526).to_file(tmp_path / "nodes.fgb", driver="FlatGeobuf")  # zone 38, prefixed eastings
    result = import_layers(empty_store, _mapping(tmp_path, "nodes.fgb", top="EPSG:4547"), service_area=SERVICE_AREA)
    assert result.rejects == [] and any("EPSG:4526" in n for n in result.notes)
    assert_same_geoms(store_frame(empty_store, "nodes")["geom"], _nodes().geometry)


def test_zone_prefixed_eastings_under_a_cm_crs_are_rejected_with_the_zone_to_declare(tmp_path, empty_store):
    gk = _nodes(3).to_crs(4526)
    pd.DataFrame({"编号": gk["编号"], "kind": gk["kind"], "voltage_kv": gk["voltage_kv"], "X": gk.geometry.x, "Y": gk.geometry.y}) \
        .to_csv(tmp_path / "nodes.csv", index=False)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[nodes]\nsource = "nodes.csv"\ncrs = "EPSG:4547"\ngeometry = { x = "X", y = "Y" }\n'
                       '[nodes.columns]\nid = "编号"\nkind = "kind"\nvoltage_kv = "voltage_kv"\n', encoding="utf-8")
    result = import_layers(empty_store, mapping, service_area=SERVICE_AREA)
    assert [r.row for r in result.rejects] == [2, 3, 4]
    for r in result.rejects:
        assert r.field == "X,Y" and "EPSG:4526" in r.reason and "zone prefix" in r.reason, r
    assert result.data_version is None and _empty(empty_store)


def test_csv_coordinates_need_a_declared_crs(tmp_path, empty_store):
    pd.DataFrame({"编号": ["N1"], "kind": ["bus"], "voltage_kv": ["10"], "X": ["1"], "Y": ["2"]}).to_csv(tmp_path / "n.csv", index=False)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[nodes]\nsource = "n.csv"\ngeometry = { x = "X", y = "Y" }\n[nodes.columns]\nid = "编号"\nkind = "kind"\n'
                       'voltage_kv = "voltage_kv"\n', encoding="utf-8")
    with pytest.raises(MappingError, match=r'has no CRS .*crs = "EPSG:4547".* under \[nodes\]'):
        import_layers(empty_store, mapping, service_area=SERVICE_AREA)
    assert _empty(empty_store)


@pytest.mark.parametrize("text", ["EPSG:999999", "not a crs"])
def test_an_unknown_crs_string_names_its_key(text):
    with pytest.raises(MappingError) as info:
        resolve_crs(None, text, where="x.csv", key="[nodes]")
    assert info.value.field == "[nodes] crs" and text in info.value.message


@pytest.mark.parametrize("epsg", [4490, 4547, 4526, 4326, 32649])
def test_any_crs_pyproj_knows_round_trips_to_wgs84(epsg):
    from loaders.crs import to_wgs84

    geoms = _nodes(5).geometry
    there = geoms.to_crs(epsg)
    back = to_wgs84(there.to_numpy(), resolve_crs(there.crs, None, where="x", key="[nodes]"))
    assert_same_geoms(back, geoms.to_numpy(), 1e-8)


def test_a_gbk_shapefile_without_cpg_reads_with_the_declared_encoding(tmp_path, empty_store):
    nodes = _nodes(3).assign(名称=["一号杆", "二号杆", "三号杆"])
    nodes.to_file(tmp_path / "n.shp", encoding="GBK")
    (tmp_path / "n.cpg").unlink(missing_ok=True)
    (tmp_path / "m.toml").write_text(NODES.format(source="n.shp", crs="", top='crs = "EPSG:4326"'), encoding="utf-8")
    with pytest.raises(MappingError, match='look mis-decoded: if the file is GBK, add encoding = "gbk" under \\[nodes\\]'):
        import_layers(empty_store, tmp_path / "m.toml", service_area=SERVICE_AREA)
    text = NODES.format(source="n.shp", crs='encoding = "gbk"', top="")
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    result = import_layers(empty_store, tmp_path / "m.toml", service_area=SERVICE_AREA)
    assert result.rejects == [] and result.counts == {"nodes": 3}
    assert store_frame(empty_store, "nodes")["id"].tolist() == nodes["编号"].tolist()

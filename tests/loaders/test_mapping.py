"""The mapping file is checked before any data is read; each error names the TOML key to fix."""

from __future__ import annotations

import pytest

from loaders.mapping import MappingError, load_mapping, parse_mapping
from tests.loaders.foreign_export import MAPPING


@pytest.mark.parametrize("text, field, words", [
    ("[poles]\nsource = 'a.shp'\n", "[poles]", "unknown table [poles]"),
    ("[nodes]\nsource = 'a.shp'\nlayers = 'x'\n", "[nodes]", "unknown keys ['layers']"),
    ("[nodes]\nlayer = 'x'\n", "[nodes] source", "needs source"),
    ("[nodes]\nsource = 'a.shp'\n[nodes.columns]\nidd = '编号'\n", "[nodes.columns] idd", "not a column of nodes"),
    ("[nodes]\nsource = 'a.shp'\n[nodes.columns]\nid = 3\n", "[nodes.columns] id", "source column name"),
    ("[nodes]\nsource = 'a.shp'\ncrs = 'EPSG:0'\n", "[nodes] crs", "not a CRS pyproj knows"),
    ("crs = 'nowhere'\n[nodes]\nsource = 'a.shp'\n", "top-level crs", "not a CRS pyproj knows"),
    ("[nodes]\nsource = 'a.csv'\ngeometry = { x = 'X' }\n", "[nodes] geometry", "either x and y, or wkt"),
    ("[feeders]\nsource = 'a.csv'\ngeometry = { wkt = 'W' }\n", "[feeders] geometry", "no geometry"),
    ("[nodes\n", "m.toml", "not valid TOML"),
])
def test_a_bad_mapping_names_the_key(text, field, words):
    with pytest.raises(MappingError) as info:
        parse_mapping(text, base=None, name="m.toml")
    assert info.value.field == field and words in info.value.message


def test_the_committed_example_parses_with_its_sources_beside_it():
    mapping = load_mapping(MAPPING)
    assert list(mapping.targets) == ["substations", "feeders", "nodes", "segments", "switches", "transformers", "meter_boxes"]
    tr = mapping.targets["transformers"]
    assert (tr.crs, tr.geometry.kind, tr.geometry.x, tr.columns["rated_kva"]) == ("EPSG:4547", "xy", "X坐标", "额定容量")
    assert tr.source == MAPPING.parent / "配变台账.csv"
    assert mapping.targets["switches"].values["kind"] == {"柱上真空断路器": "breaker"}
    assert mapping.targets["nodes"].crs is None and mapping.targets["nodes"].default_crs == "EPSG:4547"


def test_a_missing_source_file_layer_or_column_fails_before_reading(tmp_path):
    from loaders.sources import preflight

    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame({"编号": ["N1"]}, geometry=[shapely.Point(113.1, 23.0)], crs=4326).to_file(tmp_path / "g.gpkg", layer="点")
    cases = [
        ("[nodes]\nsource = 'nope.gpkg'\n", "[nodes] source", "no such file"),
        ("[nodes]\nsource = 'g.gpkg'\nlayer = '线'\n", "[nodes] layer", "its layers: 点"),
        ("[nodes]\nsource = 'g.gpkg'\n[nodes.columns]\nid = '编码'\n", "[nodes.columns] id", "no column '编码'; its columns: 编号"),
        ("[nodes]\nsource = 'g.gpkg'\ngeometry = { x = 'X', y = 'Y' }\n", "[nodes] geometry.x", "no column 'X'"),
    ]
    for text, field, words in cases:
        spec = parse_mapping(text, base=tmp_path)["nodes"]
        with pytest.raises(MappingError) as info:
            preflight(spec)
        assert info.value.field == field and words in info.value.message, text

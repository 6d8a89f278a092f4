"""The committed example mapping over a foreign GIS export of the sample city: every format
(GeoJSON, GeoPackage, GBK CSV, Shapefile, FlatGeobuf, CSV with X/Y, CSV with WKT) and CRS
(EPSG:4490, EPSG:4547, EPSG:4526 zone-prefixed) loads into both stores as exactly the sample."""

from __future__ import annotations

from loaders.customer_archive import import_customers
from loaders.gis_layers import import_layers
from tests.conftest import SERVICE_AREA
from tests.loaders.foreign_export import (
    archive_frame,
    assert_store_holds_sample_customers,
    assert_store_holds_sample_grid,
    build_export,
    write_archive,
)

GRID_COUNTS = {"substations": 3, "nodes": 1045, "feeders": 7, "segments": 905, "switches": 87, "transformers": 58, "meter_boxes": 755}


def test_the_example_mapping_loads_the_foreign_export_as_the_sample_city(tmp_path, empty_store):
    mapping = build_export(tmp_path / "export")
    result = import_layers(empty_store, mapping, service_area=SERVICE_AREA)
    assert result.rejects == [] and result.exit_code == 0
    assert result.counts == GRID_COUNTS
    assert result.data_version == 1
    notes = "\n".join(result.notes)
    assert "馈线.csv: read as gb18030" in notes
    assert "开关.fgb layer 开关: CRS EPSG:4526" in notes and "线路段.shp layer 线路段: CRS EPSG:4547" in notes
    assert_store_holds_sample_grid(empty_store)

    archive = write_archive(tmp_path / "客户档案.gbk.csv", archive_frame())
    result = import_customers(empty_store, archive, service_area=SERVICE_AREA)
    assert result.rejects == [] and result.counts == {"customers": 5000}
    assert any("read as gb18030" in n for n in result.notes)
    # 1,496 customers had no coordinates in the archive: placed at their meter box again.
    assert_store_holds_sample_customers(empty_store)

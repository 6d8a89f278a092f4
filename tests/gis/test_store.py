"""The store on both backends: migrations, the sample's import path, bbox queries, atomicity."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import shapely
from sqlalchemy import inspect, text

from gis.db import current_revision, head_revision, make_engine, migrate
from gis.errors import InvalidInput, NotFound
from gis.models import SPATIAL_TABLES
from gis.store import query_layer, read_asset_tables, table_counts
from loaders.city import CityImportError, import_city
from tests.conftest import SAMPLE_DIR, SERVICE_AREA

MANIFEST_COUNTS = pd.read_json(SAMPLE_DIR / "manifest.json", typ="series")["counts"]
TABLES = ("substations", "nodes", "feeders", "segments", "switches", "transformers", "meter_boxes", "customers", "interactions")


def test_migrations_create_every_table_and_spatial_index(empty_store):
    assert current_revision(empty_store) == head_revision()
    names = set(inspect(empty_store).get_table_names())
    assert set(TABLES) | {"switching_plans", "plan_steps", "consultations", "notifications", "audit_events", "data_versions"} <= names
    with empty_store.connect() as conn:
        if empty_store.dialect.name == "postgresql":
            idx = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gist%'")).scalars())
            assert {f"ix_{t}_geom_gist" for t in SPATIAL_TABLES} <= idx
        else:
            rtrees = set(conn.execute(text("SELECT name FROM sqlite_master WHERE sql LIKE '%USING rtree%'")).scalars())
            assert {f"rtree_{t}_geom" for t in SPATIAL_TABLES} <= rtrees


def test_migrating_twice_is_a_no_op(empty_store):
    migrate(empty_store)
    assert current_revision(empty_store) == head_revision()


def test_sample_city_loads_every_row(city_store):
    with city_store.connect() as conn:
        counts = table_counts(conn, TABLES)
    assert counts == {t: int(MANIFEST_COUNTS[t]) for t in TABLES}


def test_reimport_is_idempotent(city_store):
    again = import_city(city_store, SAMPLE_DIR, service_area=SERVICE_AREA)
    assert again.unchanged
    with city_store.connect() as conn:
        assert table_counts(conn, ("customers", "data_versions")) == {"customers": 5000, "data_versions": 1}


def test_geometry_round_trips_exactly(city_store):
    customers = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype={"account_no": str})
    tables = read_asset_tables(city_store)
    got = tables["customers"].set_index("account_no").loc[customers["account_no"]]
    assert (got["lon"].to_numpy() == customers["lon"].to_numpy()).all()
    assert (got["lat"].to_numpy() == customers["lat"].to_numpy()).all()


def test_bbox_query_matches_a_brute_force_filter_exactly(city_store):
    bbox = (113.115, 23.005, 113.122, 23.012)
    customers = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype={"account_no": str})
    inside = customers[customers.lon.between(bbox[0], bbox[2]) & customers.lat.between(bbox[1], bbox[3])]
    with city_store.connect() as conn:
        page = query_layer(conn, "customers", bbox=bbox, limit=5000)
    assert page.number_matched == len(inside) > 0
    assert sorted(f["id"] for f in page.features) == sorted(inside.account_no)
    assert all("name" not in f["properties"] and "phone" not in f["properties"] for f in page.features)


def test_segments_bbox_catches_lines_crossing_the_box(city_store):
    with city_store.connect() as conn:
        every = query_layer(conn, "segments", bbox=None, limit=5000).features
        box = (113.118, 23.008, 113.119, 23.009)
        page = query_layer(conn, "segments", bbox=box, limit=5000)
    expected = {f["id"] for f in every if shapely.box(*box).intersects(shapely.geometry.shape(f["geometry"]))}
    assert {f["id"] for f in page.features} == expected


def test_layer_paging_is_stable_and_complete(city_store):
    seen = []
    offset = 0
    with city_store.connect() as conn:
        while True:
            page = query_layer(conn, "meter_boxes", bbox=None, limit=200, offset=offset)
            seen += [f["id"] for f in page.features]
            if page.next_offset is None:
                break
            offset = page.next_offset
    assert len(seen) == len(set(seen)) == int(MANIFEST_COUNTS["meter_boxes"])


def test_unknown_layer_and_bad_bbox_are_named(city_store):
    with city_store.connect() as conn:
        with pytest.raises(NotFound) as err:
            query_layer(conn, "poles", bbox=None, limit=10)
        assert err.value.field == "layer" and err.value.value == "poles"
        with pytest.raises(InvalidInput) as err:
            query_layer(conn, "nodes", bbox=(2, 2, 1, 1), limit=10)
        assert err.value.field == "bbox"


# -- bad input: a clear error naming the row, field and value; nothing stored is lost ------


def _corrupt(tmp_path: Path, edit) -> Path:
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    df = pd.read_csv(city / "customers.csv", dtype=str, keep_default_na=False)
    edit(df)
    df.to_csv(city / "customers.csv", index=False)
    return city


@pytest.mark.parametrize(
    ("edit", "field", "reason"),
    [
        (lambda df: df.loc.__setitem__((10, "lon"), "200.5"), "lon,lat", "not a WGS 84"),
        (lambda df: df.loc.__setitem__((11, ["lon", "lat"]), ["23.01", "113.12"]), "lon,lat", "swapped"),
        (lambda df: df.loc.__setitem__((12, "lon"), "116.4"), "lon,lat", "outside the service area"),
        (lambda df: df.loc.__setitem__((13, "account_no"), df.loc[14, "account_no"]), "account_no", "duplicate id"),
        (lambda df: df.loc.__setitem__((15, "meter_box_id"), "MB999999"), "meter_box_id", "unknown reference"),
        (lambda df: df.loc.__setitem__((16, "contract_kva"), "lots"), "contract_kva", "not a number"),
    ],
    ids=["out-of-range", "swapped", "outside-area", "duplicate", "unknown-reference", "bad-number"],
)
def test_bad_rows_are_refused_by_row_field_and_value_and_nothing_is_lost(city_store, tmp_path, edit, field, reason):
    city = _corrupt(tmp_path, edit)
    with city_store.connect() as conn:
        before = table_counts(conn, TABLES + ("data_versions",))
    with pytest.raises(CityImportError) as err:
        import_city(city_store, city, service_area=SERVICE_AREA)
    problems = err.value.problems
    assert any(p.field == field and reason in p.reason and p.table == "customers" for p in problems), problems
    bad = next(p for p in problems if p.field == field)
    assert bad.row >= 2 and f"row {bad.row}" in str(bad)
    with city_store.connect() as conn:
        assert table_counts(conn, TABLES + ("data_versions",)) == before


def test_a_failure_mid_write_rolls_back_the_whole_load(empty_store, tmp_path, monkeypatch):
    import gis.bulk

    real = gis.bulk.bulk_upsert
    calls = []

    def failing(conn, table, frame, **kwargs):
        calls.append(table)
        if table == "customers":
            raise RuntimeError("disk full (injected)")
        return real(conn, table, frame, **kwargs)

    monkeypatch.setattr(gis.bulk, "bulk_upsert", failing)  # what every loader writes with (loaders.core)
    with pytest.raises(RuntimeError):
        import_city(empty_store, SAMPLE_DIR, service_area=SERVICE_AREA)
    assert "nodes" in calls  # grid tables had been written inside the transaction …
    with empty_store.connect() as conn:  # … and are gone again
        assert set(table_counts(conn, TABLES + ("data_versions",)).values()) == {0}


def test_a_layer_without_crs_is_refused(tmp_path, empty_store):
    import pyogrio

    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    gdf = pyogrio.read_dataframe(city / "grid.gpkg", layer="nodes").set_crs(None, allow_override=True)
    pyogrio.write_dataframe(gdf, city / "grid.gpkg", layer="nodes", driver="GPKG")
    with pytest.raises(InvalidInput, match="no CRS"):
        import_city(empty_store, city, service_area=SERVICE_AREA)


def test_sqlite_store_is_created_with_its_folder(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/new/dir/store.sqlite")
    migrate(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()

"""Export → import with the identity mapping written beside the export → the same rows
(across stores too: every pair of source and target backend)."""

from __future__ import annotations

import shutil

import pytest

from gis.db import make_engine, migrate
from gis.errors import InvalidInput
from loaders.checks import normalize_phone
from loaders.export import export_store
from loaders.gis_layers import import_layers
from loaders.mapping import TABLE_ORDER
from tests.conftest import SERVICE_AREA
from tests.loaders.foreign_export import assert_same_geoms, store_frame


def _rows(engine, table: str) -> list:
    df = store_frame(engine, table)
    if "geom" in df:
        df = df.drop(columns="geom")
    if table == "customers":  # `import city` keeps 0757-88469710 as written; the loaders store 075788469710
        for col in ("phone", "phone_alt"):
            df[col] = [normalize_phone(v) for v in df[col]]
    return df.astype(object).where(df.notna(), None).values.tolist()


def _round_trip(tmp_path, source, target, suffix: str) -> None:
    out = tmp_path / f"atlas{suffix}"
    counts = export_store(source, out)
    assert counts["customers"] == 5000 and counts["nodes"] == 1045
    mapping = tmp_path / f"atlas{suffix}.mapping.toml"
    result = import_layers(target, mapping, service_area=SERVICE_AREA)
    assert result.rejects == [] and result.counts == counts
    for table in TABLE_ORDER:
        assert _rows(target, table) == _rows(source, table), table
        if table != "feeders":
            a, b = store_frame(target, table)["geom"], store_frame(source, table)["geom"]
            if suffix == ".gpkg":  # bit for bit
                assert a.map(lambda g: g.wkb).tolist() == b.map(lambda g: g.wkb).tolist(), table
            else:  # GeoJSON writes 15 significant digits
                assert_same_geoms(a, b, 1e-9)


@pytest.fixture
def fresh_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'target.sqlite'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_city(tmp_path, sqlite_templates):
    path = tmp_path / "source.sqlite"
    shutil.copyfile(sqlite_templates["city"], path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_export_from_each_store_then_import_gives_the_same_rows(tmp_path, city_store, fresh_sqlite, suffix):
    _round_trip(tmp_path, city_store, fresh_sqlite, suffix)


def test_export_then_import_into_each_store_gives_the_same_rows(tmp_path, sqlite_city, empty_store):
    _round_trip(tmp_path, sqlite_city, empty_store, ".gpkg")


def test_export_names_a_bad_format_or_layer(tmp_path, city_store):
    with pytest.raises(InvalidInput, match="gpkg or .geojson"):
        export_store(city_store, tmp_path / "x.shp")
    with pytest.raises(InvalidInput, match="unknown layer 'poles'"):
        export_store(city_store, tmp_path / "x.gpkg", ["poles"])

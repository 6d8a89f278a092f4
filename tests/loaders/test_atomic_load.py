"""Idempotent re-loads and all-or-nothing writes, on both stores."""

from __future__ import annotations

import pytest

import gis.bulk
from gis.store import table_counts
from loaders.customer_archive import import_customers
from loaders.gis_layers import import_layers
from loaders.mapping import TABLE_ORDER
from tests.conftest import SERVICE_AREA
from tests.loaders.foreign_export import archive_frame, build_export, store_frame, write_archive

TABLES = ["substations", "nodes", "feeders", "segments", "switches", "transformers", "meter_boxes", "customers", "data_versions"]


def _snapshot(engine) -> dict:
    out = {}
    for t in TABLES[:-1]:
        df = store_frame(engine, t)
        if "geom" in df:
            df["geom"] = [g.wkb_hex for g in df["geom"]]
        out[t] = df.astype(str).values.tolist()
    with engine.connect() as conn:
        out["counts"] = table_counts(conn, TABLES)
    return out


def test_reloading_the_same_files_changes_nothing_and_a_changed_file_updates_in_place(tmp_path, empty_store):
    mapping = build_export(tmp_path / "export")
    first = import_layers(empty_store, mapping, service_area=SERVICE_AREA)
    before = _snapshot(empty_store)
    again = import_layers(empty_store, mapping, service_area=SERVICE_AREA)
    assert again.unchanged and again.data_version == first.data_version and again.counts == first.counts
    assert _snapshot(empty_store) == before

    # One transformer renamed: a new data version, the row updated, no duplicates.
    csv = tmp_path / "export" / "配变台账.csv"
    csv.write_text(csv.read_text(encoding="utf-8").replace("纺织路1号台区", "纺织路一号台区"), encoding="utf-8")
    changed = import_layers(empty_store, mapping, service_area=SERVICE_AREA)
    assert not changed.unchanged and changed.data_version == first.data_version + 1
    after = _snapshot(empty_store)
    assert after["counts"] == {**before["counts"], "data_versions": 2}
    trafos = store_frame(empty_store, "transformers").set_index("id")
    assert trafos.loc["TR00001", "name"] == "纺织路一号台区"


def test_a_crash_in_the_middle_of_a_load_leaves_the_store_as_it_was(tmp_path, city_store, monkeypatch):
    mapping = build_export(tmp_path / "export")
    geo = tmp_path / "export" / "变电站.geojson"
    geo.write_text(geo.read_text(encoding="utf-8").replace("金澜变电站", "金澜站"), encoding="utf-8")
    before = _snapshot(city_store)
    real = gis.bulk.bulk_upsert
    calls = []

    def crash_on_third_table(conn, table, df, **kw):
        calls.append(table)
        if len(calls) == 3:
            raise RuntimeError(f"disk full while writing {table}")
        return real(conn, table, df, **kw)

    monkeypatch.setattr(gis.bulk, "bulk_upsert", crash_on_third_table)
    with pytest.raises(RuntimeError, match="disk full"):
        import_layers(city_store, mapping, service_area=SERVICE_AREA)
    assert calls == list(TABLE_ORDER[:3])  # two tables were written before the crash …
    assert _snapshot(city_store) == before               # … and rolled back with it

    monkeypatch.setattr(gis.bulk, "bulk_upsert", real)
    result = import_layers(city_store, mapping, service_area=SERVICE_AREA)
    after = _snapshot(city_store)
    assert result.rejects == [] and after["substations"] != before["substations"]  # the load does change the store
    assert store_frame(city_store, "substations").set_index("id").loc["SUB0001", "name"] == "金澜站"


def test_a_crash_while_writing_customers_leaves_them_as_they_were(tmp_path, city_store, monkeypatch):
    frame = archive_frame(50)
    frame["户名"] = "改名" + frame["户名"]
    before = _snapshot(city_store)

    def crash(conn, table, df, **kw):
        gis.bulk.__dict__["_real"](conn, table, df.head(10), **kw)  # part of the rows written …
        raise RuntimeError("connection lost")

    monkeypatch.setitem(gis.bulk.__dict__, "_real", gis.bulk.bulk_upsert)
    monkeypatch.setattr(gis.bulk, "bulk_upsert", crash)
    with pytest.raises(RuntimeError, match="connection lost"):
        import_customers(city_store, write_archive(tmp_path / "a.csv", frame), service_area=SERVICE_AREA)
    assert _snapshot(city_store) == before  # … and none of them kept

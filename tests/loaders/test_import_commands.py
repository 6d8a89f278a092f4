"""The import/export commands as a user runs them: exit 0 (all loaded), 3 (rows rejected,
report written, the rest loaded), 2 (input unusable, nothing loaded)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from api.cli import app
from gis.store import table_counts
from tests.loaders.foreign_export import archive_frame, build_export, store_frame, write_archive

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_layers_exit_0_then_unchanged(tmp_path, empty_store_url, empty_store):
    mapping = build_export(tmp_path / "export")
    r = _run("import", "layers", str(mapping), "--database-url", empty_store_url)
    assert r.exit_code == 0, r.output
    assert "loaded data version 1" in r.output and "nodes 1045" in r.output
    assert not (tmp_path / "export" / (mapping.name + ".rejects.csv")).exists()
    r = _run("import", "layers", str(mapping), "--database-url", empty_store_url)
    assert r.exit_code == 0 and "already loaded (data version 1)" in r.output


def test_layers_exit_3_writes_the_report_and_loads_the_rest(tmp_path, empty_store_url, empty_store):
    mapping = build_export(tmp_path / "export")
    csv = tmp_path / "export" / "配变台账.csv"
    table = pd.read_csv(csv, dtype=str)
    table.loc[4, "额定容量"] = "大约四百"
    table.to_csv(csv, index=False)
    report = tmp_path / "bad.csv"
    r = _run("import", "layers", str(mapping), "--rejects", str(report), "--database-url", empty_store_url)
    assert r.exit_code == 3, r.output
    tid = table.loc[4, "台区编号"]
    boxes = pd.read_csv(tmp_path / "export" / "表箱.csv", dtype=str)
    orphans = boxes[boxes["台区编号"] == tid]
    assert len(orphans) > 0
    assert f"{1 + len(orphans)} row(s) rejected" in r.output and report.name in r.output
    rows = pd.read_csv(report, encoding="utf-8-sig", dtype=str)
    assert rows[["row", "id", "field", "value", "reason"]].values.tolist()[0] == [
        "6", tid, "额定容量 (rated_kva)", "大约四百", "not a number"]
    # Its meter boxes are rejected too (the cascade), each naming the row to fix.
    cascade = rows.iloc[1:]
    assert cascade["id"].tolist() == orphans["表箱编号"].tolist()
    assert cascade["row"].tolist() == [str(i + 2) for i in orphans.index]
    assert all(f"'{tid}' is rejected in this load" in x and "配变台账.csv row 6" in x for x in cascade["reason"])
    with empty_store.connect() as conn:
        counts = table_counts(conn, ["transformers", "meter_boxes", "nodes"])
    assert counts == {"transformers": 57, "meter_boxes": 755 - len(orphans), "nodes": 1045}

    # Fixed: the whole export loads, and the report of the earlier run is removed.
    table.loc[4, "额定容量"] = "400"
    table.to_csv(csv, index=False)
    r = _run("import", "layers", str(mapping), "--rejects", str(report), "--database-url", empty_store_url)
    assert r.exit_code == 0, r.output
    assert not report.exists() and "removed the earlier reject report" in r.output
    with empty_store.connect() as conn:
        assert table_counts(conn, ["transformers", "meter_boxes"]) == {"transformers": 58, "meter_boxes": 755}


def test_layers_exit_2_when_the_mapping_is_unusable(tmp_path, empty_store_url, empty_store):
    mapping = build_export(tmp_path / "export")
    text = mapping.read_text(encoding="utf-8")
    no_crs = text.replace('crs = "EPSG:4547"\ngeometry = { x = "X坐标", y = "Y坐标" }', 'geometry = { x = "X坐标", y = "Y坐标" }')
    mapping.write_text(no_crs.replace('\ncrs = "EPSG:4547"\n', "\n", 1), encoding="utf-8")
    r = _run("import", "layers", str(mapping), "--database-url", empty_store_url)
    assert r.exit_code == 2, r.output
    assert "nothing was loaded" in r.output and "配变台账.csv has no CRS" in r.output
    assert '[transformers]' in r.output
    mapping.write_text(text.replace('kind = "开关类型"', 'kind = "开关种类"'), encoding="utf-8")
    r = _run("import", "layers", str(mapping), "--database-url", empty_store_url)
    assert r.exit_code == 2 and "[switches.columns] kind = '开关种类'" in r.output
    r = _run("import", "layers", str(tmp_path / "missing.toml"), "--database-url", empty_store_url)
    assert r.exit_code == 2 and "cannot read the mapping file" in r.output
    with empty_store.connect() as conn:
        assert set(table_counts(conn, ["nodes", "switches", "data_versions"]).values()) == {0}


def test_customers_command_and_export(tmp_path, city_store_url, city_store):
    frame = archive_frame(20)
    frame.loc[3, "联系电话"] = "110"
    path = write_archive(tmp_path / "客户.gbk.csv", frame)
    r = _run("import", "customers", str(path), "--database-url", city_store_url)
    assert r.exit_code == 3, r.output
    assert "read as gb18030" in r.output
    report = pd.read_csv(tmp_path / "客户.gbk.csv.rejects.csv", encoding="utf-8-sig", dtype=str)
    assert report[["row", "field", "value"]].values.tolist() == [["5", "联系电话 (phone)", "110"]]

    r = _run("import", "customers", str(tmp_path / "nope.xlsx"), "--database-url", city_store_url)
    assert r.exit_code == 2 and "no such file" in r.output

    out = tmp_path / "out.geojson"
    r = _run("export", str(out), "--layers", "transformers,meter_boxes", "--database-url", city_store_url)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out.transformers.geojson").exists() and (tmp_path / "out.meter_boxes.geojson").exists()
    assert (tmp_path / "out.geojson.mapping.toml").exists()
    r = _run("export", str(tmp_path / "x.gpkg"), "--layers", "poles", "--database-url", city_store_url)
    assert r.exit_code == 2 and "unknown layer 'poles'" in r.output
    assert len(store_frame(city_store, "customers")) == 5000

"""Customer archives: UTF-8 (BOM or not), GBK and XLSX with Chinese headers, joined to the grid
already in the store; header overrides from a mapping; phone normalization."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from loaders.checks import normalize_phone
from loaders.customer_archive import DEFAULT_HEADERS, customer_spec, import_customers
from loaders.mapping import MappingError
from tests.conftest import SERVICE_AREA
from tests.loaders.foreign_export import archive_frame, assert_store_holds_sample_customers, store_frame, write_archive

NEW = 300  # accounts re-keyed so the archive adds customers to the sample city


def _rekeyed(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    frame = frame.copy()
    frame["户号"] = ["9" + a[1:] for a in frame["户号"]]
    return frame, list(frame["户号"])


@pytest.mark.parametrize("name, encoding", [("a.gbk.csv", "gb18030"), ("a.csv", "utf-8"), ("a.xlsx", None)])
def test_an_archive_in_each_encoding_joins_the_stored_grid(tmp_path, city_store, name, encoding):
    frame = archive_frame(NEW)
    path = write_archive(tmp_path / name, frame)
    result = import_customers(city_store, path, service_area=SERVICE_AREA)
    assert result.rejects == [] and result.counts == {"customers": NEW}
    if encoding:
        assert any(f"read as {encoding}" in n for n in result.notes)
    # Same accounts as the sample: an upsert that leaves the stored rows as they were.
    assert_store_holds_sample_customers(city_store, accounts=list(frame["户号"]))


def test_customers_without_coordinates_are_placed_at_meter_box_else_transformer(tmp_path, city_store):
    frame, accounts = _rekeyed(archive_frame(6))
    frame.loc[:, ["经度", "纬度"]] = None
    frame.loc[frame.index[3:], "表箱编号"] = None          # rows 5–7: only a 台区
    frame.loc[frame.index[5], "台区编号"] = None           # row 7: nothing to place it by
    path = write_archive(tmp_path / "a.csv", frame)
    result = import_customers(city_store, path, service_area=SERVICE_AREA)
    assert [(r.row, r.id, r.field) for r in result.rejects] == [(7, accounts[5], "经度,纬度")]
    assert "no coordinates and no known meter box or transformer" in result.rejects[0].reason
    got = store_frame(city_store, "customers").set_index("account_no").loc[accounts[:5]]
    boxes = store_frame(city_store, "meter_boxes").set_index("id")
    trafos = store_frame(city_store, "transformers").set_index("id")
    for acc, row in got.iterrows():
        src = frame.set_index("户号").loc[acc]
        if isinstance(src["表箱编号"], str):
            box = boxes.loc[src["表箱编号"]]
            assert (row["location_quality"], row["supply_node"]) == ("meter_box", box["node"])
            assert row["geom"].equals_exact(box["geom"], 0)
        else:
            tr = trafos.loc[src["台区编号"]]
            assert (row["location_quality"], row["supply_node"]) == ("transformer", tr["lv_node"])
            assert row["geom"].equals_exact(tr["geom"], 0)


def test_a_mapping_overrides_headers_and_values(tmp_path, city_store):
    frame, accounts = _rekeyed(archive_frame(4))
    frame = frame.rename(columns={"户号": "客户号码", "用电类别": "类别"})
    frame["类别"] = ["城乡居民", "城乡居民", "一般工商业", "城乡居民"]
    frame["证件号码"] = ["440601199001011234", None, "91440600MA4UXXXX0X", None]
    path = write_archive(tmp_path / "a.csv", frame)
    with pytest.raises(MappingError, match=r"\[customers.columns\] does not map account_no"):
        import_customers(city_store, path, service_area=SERVICE_AREA)
    mapping = ('[customers]\n[customers.columns]\naccount_no = "客户号码"\ncategory = "类别"\n'
               '[customers.values.category]\n"城乡居民" = "居民"\n"一般工商业" = "非居民"\n')
    result = import_customers(city_store, path, service_area=SERVICE_AREA, mapping_text=mapping)
    assert result.rejects == []
    got = store_frame(city_store, "customers").set_index("account_no").loc[accounts, "category"].tolist()
    assert got == ["居民", "居民", "非居民", "居民"]
    ids = [None if pd.isna(v) else v for v in store_frame(city_store, "customers").set_index("account_no").loc[accounts, "id_number"]]
    assert ids == ["440601199001011234", None, "91440600MA4UXXXX0X", None]


def test_a_mapping_naming_a_missing_column_fails_before_reading(tmp_path, city_store):
    path = write_archive(tmp_path / "a.csv", archive_frame(2))
    with pytest.raises(MappingError) as info:
        import_customers(city_store, path, service_area=SERVICE_AREA,
                         mapping_text='[customers.columns]\nphone = "手机"\n')
    assert info.value.field == "[customers.columns] phone" and "手机" in info.value.message


def test_undecodable_text_is_refused_saying_how_to_declare_the_encoding(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("户号,户名\n".encode("utf-16"))
    with pytest.raises(MappingError, match="encoding"):
        customer_spec(path)


def test_default_headers_cover_the_common_archive_names():
    for header in ("户号", "户名", "用电地址", "联系电话", "台区编号", "表箱编号", "合同容量", "用电类别", "证件号码", "经度", "纬度"):
        assert any(header in names for names in DEFAULT_HEADERS.values()), header


@pytest.mark.parametrize("raw, expected", [
    ("138-0013-8000", "13800138000"), ("+86 138 0013 8000", "13800138000"), ("0086-13800138000", "13800138000"),
    ("8613800138000", "13800138000"), ("(0757) 8846-9710", "075788469710"), (13800138000.0, "13800138000"),
    ("", None), (None, None),
])
def test_phone_numbers_are_normalized(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "138001380001", "phone", "1380013800x"])
def test_invalid_phone_numbers_keep_the_raw_value_in_the_reason(raw):
    kind, reason = normalize_phone(raw)
    assert kind == "error" and repr(raw) in reason


def test_row_numbers_are_the_spreadsheet_rows_even_after_blank_lines(tmp_path, city_store):
    frame, accounts = _rekeyed(archive_frame(3))
    frame.loc[frame.index[2], "联系电话"] = "999"
    lines = _csv_lines(frame)
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines[:2] + ["", ""] + lines[2:]) + "\n", encoding="utf-8")  # two blank lines
    result = import_customers(city_store, path, service_area=SERVICE_AREA)
    assert [(r.row, r.id) for r in result.rejects] == [(6, accounts[2])]  # header 1, rows 2–3, blanks 4–5
    assert result.counts == {"customers": 2}


def _csv_lines(frame: pd.DataFrame) -> list[str]:
    return frame.to_csv(index=False).splitlines()


def test_a_layers_mapping_uses_the_archive_headers_and_coordinates_it_does_not_map(tmp_path, city_store):
    from loaders.gis_layers import import_layers

    frame, accounts = _rekeyed(archive_frame(5))
    write_archive(tmp_path / "客户.csv", frame)
    (tmp_path / "m.toml").write_text('crs = "EPSG:4547"\n[customers]\nsource = "客户.csv"\n', encoding="utf-8")
    result = import_layers(city_store, tmp_path / "m.toml", service_area=SERVICE_AREA)
    assert result.rejects == [] and result.counts == {"customers": 5}
    got = store_frame(city_store, "customers").set_index("account_no").loc[accounts]
    has_xy = frame["经度"].notna().to_numpy()
    assert (got["location_quality"].to_numpy()[has_xy] == "surveyed").all()
    xs = [g.x for g in got["geom"]]
    assert all(abs(x - float(lon)) < 1e-9 for x, lon, h in zip(xs, frame["经度"], has_xy) if h)


def test_the_reject_report_neutralizes_formula_values(tmp_path):
    from loaders.rejects import Reject, write_rejects

    path = tmp_path / "r.csv"
    write_rejects(path, [Reject("a.csv", "", 2, "=1+1", "户名 (name)", '=HYPERLINK("http://x","y")', "too long"),
                         Reject("a.csv", "", 3, "0001", "联系电话 (phone)", "-12", "not a phone number")])
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows[1] == ["a.csv", "", "2", "'=1+1", "户名 (name)", "'=HYPERLINK(\"http://x\",\"y\")", "too long"]
    assert rows[2][5] == "'-12"


def test_a_nul_inside_a_name_rejects_the_row(tmp_path, city_store):
    frame, accounts = _rekeyed(archive_frame(3))
    frame.loc[frame.index[1], "户名"] = "郑\x00十一"
    path = write_archive(tmp_path / "a.csv", frame)
    result = import_customers(city_store, path, service_area=SERVICE_AREA)
    assert [(r.row, r.id, r.field) for r in result.rejects] == [(3, accounts[1], "户名 (name)")]
    assert "NUL" in result.rejects[0].reason and result.counts == {"customers": 2}


def test_a_row_with_an_extra_column_is_rejected_alone(tmp_path, city_store):
    frame, accounts = _rekeyed(archive_frame(4))
    lines = _csv_lines(frame)
    lines[2] += ",多出来的一列"  # the second data row (spreadsheet row 3) has one cell too many
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n", encoding="utf-8")  # and a blank line after it
    result = import_customers(city_store, path, service_area=SERVICE_AREA)
    assert [(r.row, r.id) for r in result.rejects] == [(3, accounts[1])]
    assert "多出来的一列" in result.rejects[0].value and "columns" in result.rejects[0].reason
    assert result.counts == {"customers": 3} and result.exit_code == 3


def test_a_meter_box_of_another_transformer_rejects_the_row(tmp_path, city_store):
    frame, accounts = _rekeyed(archive_frame(3))
    frame["表箱编号"] = "MB000001"  # a box of 台区 TR00001
    frame.loc[frame.index[1], "台区编号"] = "TR00002"
    frame.loc[frame.index[[0, 2]], "台区编号"] = "TR00001"
    result = import_customers(city_store, write_archive(tmp_path / "a.csv", frame), service_area=SERVICE_AREA)
    assert [(r.row, r.id, r.field) for r in result.rejects] == [(3, accounts[1], "台区编号 (transformer_id)")]
    assert "MB000001" in result.rejects[0].reason and "TR00001" in result.rejects[0].reason
    assert result.counts == {"customers": 2}


def test_an_unchanged_file_reloaded_after_another_load_makes_no_new_version(tmp_path, city_store):
    frame, _ = _rekeyed(archive_frame(6))
    a = write_archive(tmp_path / "a.csv", frame.iloc[:3])  # with and without coordinates
    b = write_archive(tmp_path / "b.csv", frame.iloc[3:])
    first = import_customers(city_store, a, service_area=SERVICE_AREA)
    other = import_customers(city_store, b, service_area=SERVICE_AREA)
    assert other.data_version == first.data_version + 1
    again = import_customers(city_store, a, service_area=SERVICE_AREA)
    assert again.unchanged and again.data_version == other.data_version
    # a file that would change stored rows is not "unchanged", even if it was loaded before
    changed = frame.iloc[:3].copy()
    changed.loc[changed.index[0], "户名"] = "改了名"
    import_customers(city_store, write_archive(tmp_path / "a2.csv", changed), service_area=SERVICE_AREA)
    back = import_customers(city_store, a, service_area=SERVICE_AREA)
    assert not back.unchanged and back.data_version == other.data_version + 2

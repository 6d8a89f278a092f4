"""`import city` refuses the rows the mapped loaders refuse (issue 17), on both stores."""

from __future__ import annotations

import shutil

import pytest

from gis.store import table_counts
from loaders.city import CityImportError, import_city
from tests.conftest import SAMPLE_DIR, SERVICE_AREA


def _city(tmp_path, edit) -> object:
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    path = city / "customers.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[2] = edit(lines[2])
    path.write_text("\n".join(lines), encoding="utf-8")
    return city


def test_a_nul_inside_a_name_is_a_problem_and_nothing_is_written(tmp_path, empty_store):
    city = _city(tmp_path, lambda line: line.replace(",蔡锦国,", ",蔡\x00锦国,"))
    with pytest.raises(CityImportError) as err:
        import_city(empty_store, city, service_area=SERVICE_AREA)
    problems = [(p.row, p.id, p.field) for p in err.value.problems]
    assert problems == [(3, "0300100017", "name")] and "NUL" in err.value.problems[0].reason
    with empty_store.connect() as conn:
        assert table_counts(conn, ["customers"]) == {"customers": 0}


def test_a_meter_box_of_another_transformer_is_a_problem(tmp_path, empty_store):
    # 0300100017 is in box MB000001 of 台区 TR00001; say 台区 TR00002 instead
    city = _city(tmp_path, lambda line: line.replace(",MB000001,TR00001,", ",MB000001,TR00002,"))
    with pytest.raises(CityImportError) as err:
        import_city(empty_store, city, service_area=SERVICE_AREA)
    assert [(p.row, p.id, p.field) for p in err.value.problems] == [(3, "0300100017", "transformer_id")]
    assert "MB000001" in err.value.problems[0].reason


def test_a_phone_that_is_not_one_is_a_problem_named_like_the_other_rows(tmp_path, empty_store):
    city = _city(tmp_path, lambda line: line.replace(",13526138187,", ",12,"))
    with pytest.raises(CityImportError) as err:
        import_city(empty_store, city, service_area=SERVICE_AREA)
    assert [(p.row, p.id, p.field, p.value) for p in err.value.problems] == [(3, "0300100017", "phone", "12")]
    assert str(err.value.problems[0]).startswith("customers row 3 (0300100017): phone='12': not a phone number (expected")
    with empty_store.connect() as conn:
        assert table_counts(conn, ["customers"]) == {"customers": 0}


def test_phones_are_stored_as_every_path_stores_them_and_found_as_written(tmp_path, empty_store):
    """`import city` parses phones like the archive import and the contact API (gis.phones): the
    stored value is the normal form, and caller search finds the customer by the number as the file
    wrote it, by its normal form and by its 尾号."""
    from gis.search import build_caller_index, search_customers
    from loaders.checks import normalize_phone

    written = {"phone": "+86 135-2613-8187", "phone_alt": "（0757）8123 4567"}
    city = _city(tmp_path, lambda line: line.replace(",13526138187,,", ',"+86 135-2613-8187",（0757）8123 4567,'))
    import_city(empty_store, city, service_area=SERVICE_AREA)
    with empty_store.connect() as conn:
        from sqlalchemy import text

        stored = conn.execute(text("SELECT phone, phone_alt FROM customers WHERE account_no = '0300100017'")).one()
        assert tuple(stored) == ("13526138187", "075781234567")
        assert tuple(stored) == tuple(normalize_phone(v) for v in written.values())  # the archive import's form
        index = build_caller_index(conn)
        for q in ("+86 135-2613-8187", "13526138187", "8187", "（0757）8123 4567", "0757-81234567", "4567"):
            for idx in (None, index):
                found = [m["account_no"] for m in search_customers(conn, q, limit=50, index=idx).data]
                assert "0300100017" in found, (q, idx is not None, found)


def test_a_model_column_the_city_file_gives_is_written(tmp_path, empty_store):
    """The city load writes the model's columns (gis.tables), not a hand-kept list: ``id_number``,
    which the sample files do not carry, is stored when a customers.csv has it."""
    from sqlalchemy import text

    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    path = city / "customers.csv"
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    lines = [lines[0] + ",id_number"] + [line + ("," + "44060219800101001X" if i == 1 else ",") for i, line in enumerate(lines[1:], 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_city(empty_store, city, service_area=SERVICE_AREA)
    with empty_store.connect() as conn:
        rows = conn.execute(text("SELECT account_no, id_number FROM customers WHERE id_number IS NOT NULL")).all()
    assert [tuple(r) for r in rows] == [("0300100001", "44060219800101001X")]

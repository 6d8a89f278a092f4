"""`import city` refuses the rows the mapped loaders refuse (issue 17), on both stores."""

from __future__ import annotations

import shutil

import pytest

from gis.store import table_counts
from loaders.city import CityImportError, import_city
from tests.rollup_views import AREAS
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


def test_interactions_in_slices_are_placed_as_in_one_read(tmp_path, empty_store, monkeypatch):
    """A large interactions.csv is checked, placed and written a slice at a time (10M contacts do not fit in
    memory at once): the stored rows and rollups equal those of the whole-file read."""
    import numpy as np
    import pandas as pd
    from sqlalchemy import text

    import loaders.city as city_mod
    from loaders.city import InteractionSlices, read_city

    whole = read_city(SAMPLE_DIR, service_area=SERVICE_AREA)["interactions"]
    assert isinstance(whole, pd.DataFrame)
    monkeypatch.setattr(city_mod, "INTERACTION_CHUNK", 1000)
    sliced = read_city(SAMPLE_DIR, service_area=SERVICE_AREA)["interactions"]
    assert isinstance(sliced, InteractionSlices) and len(sliced) == len(whole) > 3000
    import gis.bulk as bulk

    monkeypatch.setattr(bulk, "_LARGE", 100)  # a load that dominates: indexes suspended over all slices, rebuilt once
    result = import_city(empty_store, SAMPLE_DIR, service_area=SERVICE_AREA)
    assert result.counts["interactions"] == len(whole)
    with empty_store.connect() as conn:
        stored = pd.DataFrame([tuple(r) for r in conn.execute(text(
            "SELECT id, account_no, matched_by, cell, day, transformer_id, feeder_id FROM interactions ORDER BY id"))],
            columns=["id", "account_no", "matched_by", "cell", "day", "transformer_id", "feeder_id"], dtype=object)
        per_tr = dict(conn.execute(text(f"SELECT area_id, sum(n) FROM {AREAS} a "
                                        "WHERE area_kind = 'transformer' GROUP BY area_id")).all())
    expect = whole.sort_values("id").reset_index(drop=True)
    assert stored["id"].tolist() == expect["id"].tolist()
    for col in ("account_no", "matched_by", "transformer_id", "feeder_id"):
        assert stored[col].fillna("").tolist() == expect[col].fillna("").tolist(), col
    assert [int(c or 0) for c in stored["cell"]] == [int(c or 0) for c in expect["cell"]]
    assert np.array_equal(stored["day"].astype(np.int64), expect["day"].astype(np.int64))
    assert per_tr == expect["transformer_id"].dropna().value_counts().to_dict()
    with empty_store.connect() as conn:  # the indexes are back, and used
        if empty_store.dialect.name == "postgresql":
            names = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'interactions'")).scalars())
        else:
            names = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'interactions'")).scalars())
        assert {"ix_interactions_cell9", "ix_interactions_transformer_id", "ix_interactions_account",
                "ix_interactions_repairs_time"} <= names


def test_a_duplicate_id_in_another_slice_is_a_problem_and_nothing_is_written(tmp_path, empty_store, monkeypatch):
    import loaders.city as city_mod

    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    path = city / "interactions.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    first_id = lines[1].split(",", 1)[0]
    lines[2500] = first_id + "," + lines[2500].split(",", 1)[1]   # line 2,501: the id of line 2, two slices later
    path.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setattr(city_mod, "INTERACTION_CHUNK", 1000)
    with pytest.raises(CityImportError) as err:
        import_city(empty_store, city, service_area=SERVICE_AREA)
    assert [(p.row, p.id, p.field, p.reason) for p in err.value.problems] == [(2501, first_id, "id", "duplicate id")]
    with empty_store.connect() as conn:
        assert table_counts(conn, ["customers", "interactions"]) == {"customers": 0, "interactions": 0}

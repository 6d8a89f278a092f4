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

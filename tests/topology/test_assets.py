"""GridAssets.from_tables: the input contract is checked with errors that name table and column."""

from __future__ import annotations

import pandas as pd
import pytest

from gis.errors import InvalidInput
from topology import GridAssets
from topology.assets import first_rows
from topology.testing import demo_grid


def _tables():
    return {k: v.copy() for k, v in demo_grid().tables().items()}


def test_demo_tables_round_trip():
    assets = GridAssets.from_tables(_tables(), "v1")
    assert assets.version == "v1"
    assert len(assets.customers) == 10


def test_missing_table_is_named():
    tables = _tables()
    del tables["switches"]
    with pytest.raises(InvalidInput) as exc:
        GridAssets.from_tables(tables, "v1")
    assert exc.value.field == "switches"


def test_missing_column_is_named():
    tables = _tables()
    tables["segments"] = tables["segments"].drop(columns=["in_service"])
    with pytest.raises(InvalidInput) as exc:
        GridAssets.from_tables(tables, "v1")
    assert exc.value.field == "segments.in_service"
    assert "segments" in exc.value.message and "in_service" in exc.value.message


def test_boolean_state_columns_are_checked_and_coerced():
    tables = _tables()
    tables["switches"]["normal_open"] = tables["switches"]["normal_open"].astype(int).astype(object)
    assets = GridAssets.from_tables(tables, "v1")
    assert assets.switches["normal_open"].dtype == bool
    tables["switches"].loc[2, "normal_open"] = "yes"
    with pytest.raises(InvalidInput) as exc:
        GridAssets.from_tables(tables, "v1")
    assert exc.value.field == "switches.normal_open" and exc.value.row == 2


def test_null_primary_id_is_refused():
    tables = _tables()
    tables["customers"].loc[0, "account_no"] = None
    with pytest.raises(InvalidInput) as exc:
        GridAssets.from_tables(tables, "v1")
    assert exc.value.field == "customers.account_no" and exc.value.row == 0
    assert exc.value.to_dict()["row"] == 0


def test_empty_version_is_refused():
    with pytest.raises(InvalidInput):
        GridAssets.from_tables(_tables(), "")


def test_first_rows_keeps_the_first_duplicate():
    df = pd.DataFrame({"id": ["a", "b", "a"], "x": [1, 2, 3]})
    assert first_rows(df, "id")["x"].tolist() == [1, 2]
    assert first_rows(df.iloc[:2], "id") is not None

"""`import city` checks its interactions with the ingest's own check (one core, issue 17), on both stores."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from sqlalchemy import text

from gis.interaction_checks import check_records
from gis.interaction_rollups import day_number
from gis.store import table_counts
from loaders.city import CityImportError, import_city
from tests.conftest import SAMPLE_DIR, SERVICE_AREA


def _city(tmp_path, edits: dict[int, dict[str, str]]):
    """A copy of the sample city with some interactions.csv rows (0-based data rows) edited."""
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    path = city / "interactions.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for i, values in edits.items():
        for column, value in values.items():
            df.loc[i, column] = value
    df.to_csv(path, index=False, encoding="utf-8")
    return city, df


def test_bad_interactions_are_the_problems_the_ingest_reports_and_nothing_is_written(tmp_path, empty_store):
    city, df = _city(tmp_path, {1: {"channel": "抖音"}, 3: {"occurred_at": "2026-13-45 25:00"},
                                4: {"lon": "23.0", "lat": "113.1"}, 6: {"id": "INT0000001"}})
    with pytest.raises(CityImportError) as err:
        import_city(empty_store, city, service_area=SERVICE_AREA)
    records = df.replace("", None).to_dict("records")
    expected = check_records(records, list(range(2, len(df) + 2)), SERVICE_AREA).problems
    assert [(p.row, p.id, p.field, p.reason) for p in err.value.problems] == \
        [(p.row, p.id, p.field, p.reason) for p in expected]
    assert [(p.row, p.field) for p in expected] == [(3, "channel"), (5, "occurred_at"), (6, "lon,lat"), (8, "id")]
    with empty_store.connect() as conn:
        assert table_counts(conn, ["interactions", "customers"]) == {"interactions": 0, "customers": 0}


def test_channel_aliases_and_local_times_load_as_an_ingest_stores_them(tmp_path, empty_store):
    city, df = _city(tmp_path, {0: {"channel": "95598", "occurred_at": "2026-03-01 23:30:00"},
                                1: {"caller_phone": "+86 " + "13018583989"}})
    import_city(empty_store, city, service_area=SERVICE_AREA)
    with empty_store.connect() as conn:
        first = conn.execute(text("SELECT channel, day, occurred_at FROM interactions WHERE id = :i"),
                             {"i": df.loc[0, "id"]}).one()
        phone = conn.execute(text("SELECT caller_phone FROM interactions WHERE id = :i"), {"i": df.loc[1, "id"]}).scalar_one()
    assert first.channel == "95598电话"
    assert first.day == day_number(pd.Timestamp("2026-03-01").date())  # 23:30 in China, not 23:30 UTC (the next day there)
    when = pd.Timestamp(first.occurred_at)
    assert (when if when.tzinfo else when.tz_localize("UTC")) == pd.Timestamp("2026-03-01T15:30:00Z")
    assert phone == "13018583989"

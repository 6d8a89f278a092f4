"""The three load pipelines decide the same way (issue 17, one core: loaders/core.py), on both stores.

Each test here pins a behaviour one pipeline had and another lacked before they shared the core.
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlalchemy import text

from gis.contacts import change_contact, read_contact
from loaders.city import CityImportError, import_city
from loaders.customer_archive import import_customers
from tests.conftest import SAMPLE_DIR, SERVICE_AREA
from tests.loaders.foreign_export import archive_frame, write_archive


def _versions(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM data_versions")).scalar_one()


def _other_load(engine, tmp_path) -> int:
    """Another load that touches none of the sample's rows: one new customer from an archive."""
    frame = archive_frame(1)
    frame["户号"] = ["9900000001"]
    result = import_customers(engine, write_archive(tmp_path / "other.csv", frame), service_area=SERVICE_AREA)
    assert result.rejects == [] and not result.unchanged
    return result.data_version


def test_city_reloaded_unchanged_after_another_load_makes_no_new_version(tmp_path, city_store):
    """`import city` compared its hash with the newest version only: after any other load, the
    same folder made a new data version (the mapped loaders already did not)."""
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    other = _other_load(city_store, tmp_path)
    before = _versions(city_store)
    again = import_city(city_store, city, service_area=SERVICE_AREA)
    assert again.unchanged and again.data_version == other
    assert _versions(city_store) == before
    assert again.counts["customers"] == 5000

    # one customer renamed in the folder: a real load, a new version
    path = city / "customers.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",蔡锦国,", ",蔡锦国（更名）,"), encoding="utf-8")
    changed = import_city(city_store, city, service_area=SERVICE_AREA)
    assert not changed.unchanged and changed.data_version == other + 1


def test_city_under_another_service_area_is_checked_again(tmp_path, city_store):
    """The service area decides what is refused; the city's hash left it out, so a folder loaded
    before was "already loaded" under an area that no longer holds it (the mapped loaders hash it)."""
    small = (112.5, 22.5, 113.0, 23.6)  # the sample lies east of 113.0
    with pytest.raises(CityImportError, match="outside the service area"):
        import_city(city_store, SAMPLE_DIR, service_area=small)


def test_an_archive_never_moves_a_confirmation_date_back(tmp_path, city_store):
    """`import city` kept a touchpoint confirmation newer than the file's 核实日期; the archive
    import wrote the older date from the file over it."""
    frame = archive_frame(3)
    acct = frame["户号"].iloc[0]
    now = dt.datetime.now(dt.timezone.utc)
    with city_store.begin() as conn:
        state = read_contact(conn, acct)
        change_contact(conn, acct, if_match=state.etag, changes={}, confirm=True, touchpoint="call_centre",
                       actor="test", role="agent", now=now)
    frame["户名"] = frame["户名"] + "（更名）"  # a real load
    frame["核实日期"] = "2020-01-01"
    result = import_customers(city_store, write_archive(tmp_path / "a.csv", frame), service_area=SERVICE_AREA)
    assert not result.unchanged and result.rejects == []
    with city_store.connect() as conn:
        days = dict(conn.execute(text("SELECT account_no, contact_verified_at FROM customers WHERE account_no IN "
                                      "(:a, :b)"), {"a": acct, "b": frame["户号"].iloc[1]}).all())
    assert str(days[acct])[:10] == now.date().isoformat()
    assert str(days[frame["户号"].iloc[1]])[:10] == "2020-01-01"  # no confirmation: the file's date

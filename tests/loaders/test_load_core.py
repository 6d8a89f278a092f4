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


def _city(tmp_path, old: str, new: str):
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    path = city / "customers.csv"
    content = path.read_text(encoding="utf-8")
    assert content.count(old) == 1
    path.write_text(content.replace(old, new), encoding="utf-8")
    return city


def test_city_refuses_text_longer_than_its_column(tmp_path, empty_store):
    """The mapped loaders refused a name longer than the model's column; `import city` stored it
    (SQLite) or failed in the database with no row named (PostgreSQL)."""
    city = _city(tmp_path, ",蔡锦国,", "," + "蔡" * 201 + ",")
    with pytest.raises(CityImportError) as err:
        import_city(empty_store, city, service_area=SERVICE_AREA)
    assert [(p.row, p.id, p.field, p.reason) for p in err.value.problems] == [
        (3, "0300100017", "name", "longer than 200 characters")]
    assert _versions(empty_store) == 0


def test_city_splits_a_cell_with_two_phones_as_the_archive_import_does(tmp_path, empty_store):
    """"135…/139…" in 联系电话 filled phone and phone_alt in the mapped loaders; `import city`
    refused it as not a phone number."""
    city = _city(tmp_path, ",13526138187,,", ",13526138187/0757-81234567,,")
    import_city(empty_store, city, service_area=SERVICE_AREA)
    with empty_store.connect() as conn:
        row = conn.execute(text("SELECT phone, phone_alt FROM customers WHERE account_no = '0300100017'")).one()
    assert tuple(row) == ("13526138187", "075781234567")


def test_city_refuses_a_negative_capacity_as_the_mapped_loaders_do(tmp_path, empty_store):
    """The mapped loaders refused a negative contract capacity (and infinite numbers); `import city`
    stored it."""
    city = _city(tmp_path, ",居民,8,,MB000001,TR00001,N000291,113.1107158", ",居民,-8,,MB000001,TR00001,N000291,113.1107158")
    with pytest.raises(CityImportError) as err:
        import_city(empty_store, city, service_area=SERVICE_AREA)
    assert [(p.row, p.id, p.field, p.value, p.reason) for p in err.value.problems] == [
        (3, "0300100017", "contract_kva", "-8", "must not be negative")]

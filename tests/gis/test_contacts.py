"""Customer contacts kept true (issue 18), on both stores over the sample city.

Confirm, change, a concurrent change (412, nothing written), history, the store's search and
the in-memory caller index after a change, and an import that would revert a newer manual
correction.
"""

from __future__ import annotations

import csv
import datetime as dt
import threading

import pytest
from sqlalchemy import select

from api.state import TopologyHolder
from gis.contacts import (
    StaleRules,
    change_contact,
    guard_manual_corrections,
    read_contact,
    read_history,
    stale_fields,
)
from gis.errors import InvalidInput, NotFound, PreconditionFailed
from gis.models import Base
from gis.search import search_customers, search_in_memory
from loaders.customer_archive import import_customers
from tests.conftest import SAMPLE_DIR, SERVICE_AREA

NOW = dt.datetime(2026, 12, 6, 6, 0, tzinfo=dt.timezone.utc)
NEW_PHONE = "13987650001"


@pytest.fixture(scope="module")
def customer() -> dict[str, str]:
    with (SAMPLE_DIR / "customers.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return next(c for c in rows if c["phone"] and not c["phone_alt"] and c["contact_verified_at"] < "2025-01-01")


def _change(engine, account, etag, **kw):
    defaults = dict(changes={}, confirm=False, touchpoint="call_centre", actor="agent-7 (ga_x)", role="agent", now=NOW)
    defaults.update(kw)
    with engine.begin() as conn:
        return change_contact(conn, account, if_match=etag, **defaults)


def _phones_in_store(engine, account):
    t = Base.metadata.tables["customers"]
    with engine.connect() as conn:
        return conn.execute(select(t.c.phone, t.c.contact_verified_at).where(t.c.account_no == account)).one()


def test_confirm_sets_the_verification_date_and_is_kept_in_history(city_store, customer):
    acct = customer["account_no"]
    with city_store.connect() as conn:
        before = read_contact(conn, acct)
    rules = StaleRules(default_days=365)
    assert {f["field"] for f in stale_fields(before, rules, NOW)} == {"name", "address", "phone", "phone_alt", "wechat_openid"}
    state, entry = _change(city_store, acct, before.etag, confirm=True, note="客户确认")
    assert state.etag != before.etag and state.version == before.version + 1
    assert _phones_in_store(city_store, acct) == (customer["phone"], NOW.date())
    assert stale_fields(state, rules, NOW) == []
    assert entry["confirmed"] and entry["changes"] == {} and entry["touchpoint"] == "call_centre"
    with city_store.connect() as conn:
        again = read_contact(conn, acct)
        history = read_history(conn, acct)
    assert again.etag == state.etag and again.sources()["phone"]["verified_at"] == NOW.isoformat()
    assert [(h["actor"], h["role"], h["confirmed"], h["note"], h["version"]) for h in history] == [
        ("agent-7 (ga_x)", "agent", True, "客户确认", state.version)]


def test_a_changed_phone_is_searched_at_once_in_the_store_and_the_memory_index(city_store, customer):
    acct, old = customer["account_no"], customer["phone"]
    holder = TopologyHolder(city_store)
    snapshot = holder.refresh()
    assert [i["account_no"] for i in search_in_memory(old, snapshot.caller_index).data] == [acct]
    with city_store.connect() as conn:
        etag = read_contact(conn, acct).etag
    state, entry = _change(city_store, acct, etag, changes={"phone": NEW_PHONE}, touchpoint="counter")
    assert entry["changes"] == {"phone": {"old": old, "new": NEW_PHONE}}
    assert state.sources()["phone"]["source"] == "counter"
    assert _phones_in_store(city_store, acct)[0] == NEW_PHONE
    with city_store.connect() as conn:  # the store's search rows changed in the same transaction
        assert [i["account_no"] for i in search_customers(conn, NEW_PHONE).data] == [acct]
        assert acct not in [i["account_no"] for i in search_customers(conn, old).data]
        assert acct in [i["account_no"] for i in search_customers(conn, NEW_PHONE[-4:]).data]
    # the memory index of this data version still has the old number until the overlay follows
    assert holder.follow_contacts() == 1
    index = holder.snapshot.caller_index
    found = search_in_memory(NEW_PHONE, index)
    assert [(i["account_no"], i["phone"]) for i in found.data] == [(acct, NEW_PHONE)]
    assert acct in [i["account_no"] for i in search_in_memory(NEW_PHONE[-4:], index, limit=100).data]
    with city_store.connect() as conn:  # the old number: no exact hit left (the store is asked for partial ones)
        assert acct not in [i["account_no"] for i in search_customers(conn, old, index=index).data]
        assert search_customers(conn, NEW_PHONE, index=index).data == found.data
    assert holder.follow_contacts() == 0


def test_a_concurrent_change_gets_412_and_writes_nothing(city_store, customer):
    acct = customer["account_no"]
    with city_store.connect() as conn:
        etag = read_contact(conn, acct).etag
    _change(city_store, acct, etag, changes={"phone": NEW_PHONE})
    with pytest.raises(PreconditionFailed) as err:
        _change(city_store, acct, etag, changes={"phone": "13700000002"})
    assert err.value.field == "If-Match"
    assert _phones_in_store(city_store, acct)[0] == NEW_PHONE
    with city_store.connect() as conn:
        assert len(read_history(conn, acct)) == 1


def test_two_racing_changes_of_one_version_one_wins(city_store, customer):
    acct = customer["account_no"]
    with city_store.connect() as conn:
        etag = read_contact(conn, acct).etag
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def worker(phone: str) -> None:
        barrier.wait()
        try:
            _change(city_store, acct, etag, changes={"phone": phone})
            outcomes.append("ok")
        except PreconditionFailed:
            outcomes.append("412")

    threads = [threading.Thread(target=worker, args=(p,)) for p in ("13700000011", "13700000022")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["412", "ok"]
    with city_store.connect() as conn:
        assert len(read_history(conn, acct)) == 1


def test_bad_input_is_named(city_store, customer):
    acct = customer["account_no"]
    with city_store.connect() as conn:
        etag = read_contact(conn, acct).etag
    with pytest.raises(NotFound) as err:
        _change(city_store, "9999999999", etag, confirm=True)
    assert err.value.field == "account_no" and err.value.value == "9999999999"
    with pytest.raises(InvalidInput) as err:
        _change(city_store, acct, etag, changes={"wechat_openid": "x y"})
    assert err.value.field == "wechat_openid"
    with pytest.raises(InvalidInput) as err:
        _change(city_store, acct, etag, changes={"name": "  "})
    assert err.value.field == "name"
    with pytest.raises(InvalidInput) as err:
        _change(city_store, acct, etag)
    assert err.value.field == "confirm"
    with city_store.connect() as conn:
        assert read_history(conn, acct) == [] and read_contact(conn, acct).etag == etag


def _archive(tmp_path, customer, phone, verified):
    path = tmp_path / "archive.csv"
    row = {**customer, "phone": phone, "contact_verified_at": verified}
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(customer))
        writer.writeheader()
        writer.writerow(row)
    return path


def test_an_import_does_not_revert_a_newer_manual_correction(tmp_path, city_store, customer):
    acct, old = customer["account_no"], customer["phone"]
    with city_store.connect() as conn:
        etag = read_contact(conn, acct).etag
    _change(city_store, acct, etag, changes={"phone": NEW_PHONE}, touchpoint="field")
    # the marketing system still has the old number, verified before the correction: kept, and said so
    result = import_customers(city_store, _archive(tmp_path, customer, old, "2026-01-05"), service_area=SERVICE_AREA)
    assert result.rejected_rows == 1
    [line] = result.rejects
    assert (line.row, line.id, line.field, line.value) == (2, acct, "phone", old)
    assert "field touchpoint on 2026-12-06" in line.reason and "2026-01-05" in line.reason
    assert _phones_in_store(city_store, acct)[0] == NEW_PHONE
    with city_store.connect() as conn:
        assert [i["account_no"] for i in search_customers(conn, NEW_PHONE).data] == [acct]
        assert read_contact(conn, acct).sources()["phone"]["source"] == "field"
    # a row verified after the correction is newer news: imported, and the value is the import's again
    result = import_customers(city_store, _archive(tmp_path, customer, "13600000033", "2026-12-07"),
                              service_area=SERVICE_AREA)
    assert result.rejects == [] and result.rejected_rows == 0
    assert _phones_in_store(city_store, acct)[0] == "13600000033"
    with city_store.connect() as conn:
        assert read_contact(conn, acct).sources()["phone"]["source"] == "import"


def test_guard_ignores_rows_without_a_correction(city_store, customer):
    with city_store.begin() as conn:
        assert guard_manual_corrections(conn, [{"_pos": 0, "account_no": customer["account_no"], "phone": "13600000000",
                                                 "contact_verified_at": None}]) == []


def test_stale_rules_per_field_and_category(city_store, customer):
    with city_store.connect() as conn:
        state = read_contact(conn, customer["account_no"])
    age = (NOW.date() - dt.date.fromisoformat(customer["contact_verified_at"])).days
    rules = StaleRules(default_days=age + 10, max_age_days={"*": {"phone": age - 1}, customer["category"]: {"address": 1}})
    assert [(f["field"], f["days"], f["max_days"]) for f in stale_fields(state, rules, NOW)] == [
        ("address", age, 1), ("phone", age, age - 1)]


def test_a_new_data_version_takes_the_changes_into_its_index(city_store, customer):
    from gis.store import record_data_version

    acct = customer["account_no"]
    holder = TopologyHolder(city_store)
    holder.refresh()
    with city_store.connect() as conn:
        etag = read_contact(conn, acct).etag
    _change(city_store, acct, etag, changes={"phone": NEW_PHONE})
    holder.follow_contacts()
    assert len(holder.snapshot.overlay) == 1
    with city_store.begin() as conn:
        record_data_version(conn, "test: a new load", {})
    fresh = holder.refresh()
    assert len(fresh.overlay) == 0 and fresh.overlay.mark >= 1  # the new index holds the change itself
    assert [i["account_no"] for i in search_in_memory(NEW_PHONE, fresh.callers).data] == [acct]
    assert holder.follow_contacts() == 0

"""Properties of the ingest (hypothesis): the column-wise check agrees with the record check, and the
rollups kept by any sequence of ingests (new, unchanged, changed and rejected rows) equal a rebuild from
the raw table, on both stores."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gis.interaction_rollups import rebuild_rollups
from gis.models import CHANNELS, INTERACTION_KINDS
from gis.interaction_checks import check_record as _check
from gis.interaction_checks import check_records
import interactions.ingest as ingest_module
from interactions.ingest import ingest
from tests.rollup_views import AREAS, CELLS
from tests.conftest import SAMPLE_DIR, SERVICE_AREA

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str).head(6)
ACCOUNTS = CUSTOMERS["account_no"].tolist()
PHONES = CUSTOMERS["phone"].tolist()

_blank = st.sampled_from([None, "", "  ", float("nan")])
_ids = st.one_of(st.sampled_from([f"H{i}" for i in range(8)]), st.sampled_from([" H1 ", "x" * 65, 7, 7.0]), _blank)
_channels = st.one_of(st.sampled_from([*CHANNELS, "95598", "掌厅", " 微信 ", "抖音"]), _blank)
_kinds = st.one_of(st.sampled_from([*INTERACTION_KINDS, "催费"]), _blank)
_times = st.one_of(
    st.sampled_from(["2026-03-01T09:30:00+08:00", "2026-03-01 23:30:00", "2026/03/02 00:10", "2026-02-28T20:00:00Z",
                     "2026-13-45 25:00", "yesterday"]),
    st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 1, 1),
                 timezones=st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=8))])),
    _blank)
_accounts = st.one_of(st.sampled_from([*ACCOUNTS, "9999999999", "1" * 33]), _blank)
_phones = st.one_of(st.sampled_from([*PHONES, "+86 " + PHONES[0], "13900000000", "电话", "1" * 40]), _blank)
_openids = st.one_of(st.sampled_from(["oWX-1", "oWX-2", "o" * 65]), _blank)
_coords = st.sampled_from([(None, None), (113.1, 23.0), (113.05, 23.02), ("113.1", "23.0"), (113.1, None), (23.0, 113.1),
                           (100.0, 30.0), ("east", 23.0), (float("inf"), 23.0), (200.0, 95.0)])


@st.composite
def _records(draw) -> dict:
    lon, lat = draw(_coords)
    record = {"id": draw(_ids), "channel": draw(_channels), "kind": draw(_kinds), "occurred_at": draw(_times),
              "text": draw(st.sampled_from([None, "停电了", "电压低", " "])), "account_no": draw(_accounts),
              "caller_phone": draw(_phones), "wechat_openid": draw(_openids), "lon": lon, "lat": lat}
    return {k: v for k, v in record.items() if v is not None or draw(st.booleans())}  # absent or None


@settings(max_examples=300, deadline=None)
@given(st.lists(_records(), max_size=12))
def test_the_column_wise_check_agrees_with_the_record_check(records):
    rows = list(range(2, len(records) + 2))
    checked = check_records(records, rows, SERVICE_AREA)
    seen: set[str] = set()
    expected_problems, expected_rows = [], []
    for record, row in zip(records, rows):
        good, problems = _check(record, row, SERVICE_AREA, seen)
        expected_problems += problems
        if good is not None:
            expected_rows.append(good)
    assert checked.problems == expected_problems
    frame = checked.frame
    assert frame["id"].tolist() == [r["id"] for r in expected_rows]
    for name in ("caller_account_no", "channel", "kind", "text", "caller_phone", "wechat_openid"):
        assert frame[name].tolist() == [r[name] for r in expected_rows], name
    assert [t.to_pydatetime() for t in frame["occurred_at"]] == [r["occurred_at"] for r in expected_rows]
    for name in ("lon", "lat"):
        want = np.array([np.nan if r[name] is None else r[name] for r in expected_rows], dtype=float)
        np.testing.assert_array_equal(frame[name].to_numpy(float), want)


def _rollups(conn) -> tuple[list, list]:
    cells = conn.execute(text(f"SELECT cell, day, channel, kind, n FROM {CELLS} c WHERE n <> 0 "
                              "ORDER BY 1,2,3,4")).all()
    areas = conn.execute(text(f"SELECT area_kind, area_id, day, channel, kind, n FROM {AREAS} a WHERE n <> 0 "
                              "ORDER BY 1,2,3,4,5")).all()
    return [tuple(r) for r in cells], [tuple(r) for r in areas]


_serial = itertools.count()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_records(), min_size=1, max_size=6), min_size=1, max_size=3))
def test_rollups_after_any_ingests_equal_a_rebuild(city_store, batches):
    """New, unchanged, changed and rejected rows in any order; the store carries over between examples,
    so later examples also change what earlier ones wrote (ids come from a pool of eight)."""
    for batch in batches:
        result = ingest(city_store, batch, service_area=SERVICE_AREA)
        assert result.inserted + result.updated + result.unchanged + result.rejected_rows == len(batch)
        with city_store.connect() as conn:
            trans = conn.begin()
            kept = _rollups(conn)
            rebuild_rollups(conn)
            rebuilt = _rollups(conn)
            trans.rollback()
        assert kept == rebuilt, next(_serial)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_records(), min_size=1, max_size=6), min_size=1, max_size=3))
def test_rollups_after_any_ingests_in_parts_equal_a_rebuild(city_store, batches):
    """The same, each ingest written in parts of two records (the writer thread: one part written
    while the next is prepared; an id given again in a later part is that record's problem)."""
    chunk = ingest_module._CHUNK
    ingest_module._CHUNK = 2
    try:
        test_rollups_after_any_ingests_equal_a_rebuild.hypothesis.inner_test(city_store, batches)
    finally:
        ingest_module._CHUNK = chunk


# -- matching: the column-wise match equals a caller-by-caller reference ---------------------------------
_stored_phones = st.sampled_from([None, "", "13800000001", "13800000002", "075781234567", "+86 138 0000 0003",
                                  "138-0000-0001", "无", "8613800000002"])
_caller_phones = st.sampled_from([None, "13800000001", "13800000002", "13800000003", "075781234567", "13999999999"])


@st.composite
def _matching_case(draw):
    n = draw(st.integers(0, 6))
    customers = pd.DataFrame({
        "account_no": [f"A{i}" for i in range(n)],
        "phone": draw(st.lists(_stored_phones, min_size=n, max_size=n)),
        "phone_alt": draw(st.lists(_stored_phones, min_size=n, max_size=n)),
        "wechat_openid": draw(st.lists(st.sampled_from([None, "o1", "o2"]), min_size=n, max_size=n)),
    }, dtype=object)
    m = draw(st.integers(1, 8))
    accounts = draw(st.lists(st.sampled_from([None, "A0", "A1", "A5", "Z9"]), min_size=m, max_size=m))
    phones = draw(st.lists(_caller_phones, min_size=m, max_size=m))
    openids = draw(st.lists(st.sampled_from([None, "o1", "o2", "o3"]), min_size=m, max_size=m))
    return accounts, phones, openids, customers


def _match_reference(accounts, phones, openids, customers) -> list[tuple]:
    """Caller by caller: account, else the one customer holding the phone (either number, normalized),
    else the one holding the openid; several holders make an unmatched caller ambiguous."""
    from gis.search.normalize import normalize_phone

    rows = customers.to_dict("records")
    known = {r["account_no"] for r in rows}
    out = []
    for account, phone, openid in zip(accounts, phones, openids):
        if account in known:
            out.append((account, "account"))
            continue
        key = normalize_phone(phone) if phone else None
        by_phone = {r["account_no"] for r in rows if key and key in {normalize_phone(v) for v in (r["phone"], r["phone_alt"]) if v}}
        by_oid = {r["account_no"] for r in rows if openid and r["wechat_openid"] == openid}
        if len(by_phone) == 1:
            out.append((next(iter(by_phone)), "phone"))
        elif len(by_oid) == 1:
            out.append((next(iter(by_oid)), "wechat"))
        else:
            out.append((None, "ambiguous" if len(by_phone) > 1 or len(by_oid) > 1 else "unknown"))
    return out


@settings(max_examples=300, deadline=None)
@given(case=_matching_case())
def test_match_callers_equals_the_caller_by_caller_reference(case):
    from gis.interaction_rollups import match_callers

    accounts, phones, openids, customers = case
    matched, how = match_callers(accounts, phones, openids, customers)
    assert list(zip(matched.tolist(), how.tolist())) == _match_reference(accounts, phones, openids, customers)

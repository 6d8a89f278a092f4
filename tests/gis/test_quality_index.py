"""The data-quality index on a hand-built set of customers with exact answers (issue 18)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gis.errors import InvalidInput
from gis.quality_index import NEVER, QualityFilter, QualityIndex

SINCE = dt.date(2026, 1, 1)


def _index() -> QualityIndex:
    contacts = pd.DataFrame([
        # account, name,   address, phone,          phone_alt,       openid,         verified
        ("A1", "王一", "路1号", "13800000001", None, None, dt.date(2026, 6, 1)),
        ("A2", "李二", "路2号", "138 0000 0001", None, None, dt.date(2025, 6, 1)),   # same number as A1, another name
        ("A3", "王一", "路3号", "13800000003", "0757-8888888", None, None),          # never verified
        ("A4", "张四", None, None, None, "bad openid!", dt.date(2026, 2, 1)),        # no phone, no address, bad openid
        ("A5", "赵五", "路5号", "12345", None, "oAbCdEf_123", dt.date(2024, 1, 1)),    # invalid phone
    ], columns=["account_no", "name", "address", "phone", "phone_alt", "wechat_openid", "contact_verified_at"])
    accounts = contacts["account_no"].to_numpy(object)
    transformers = np.array(["T1", "T1", "T2", None, "T2"], dtype=object)
    return QualityIndex(accounts, transformers, {"T1": "F1", "T2": "F1"}, contacts, mark=0)


def _flagged(q: QualityIndex, rule: str | None, field: str | None = None) -> list[str]:
    return q.account_no[q.mask(QualityFilter.of(rule, field, SINCE))].tolist()


def test_findings_per_rule_and_field():
    q = _index()
    assert _flagged(q, "stale") == ["A2", "A3", "A5"]
    assert _flagged(q, "conflicting", "phone") == ["A1", "A2"]
    assert _flagged(q, "missing", "phone") == ["A4"]
    assert _flagged(q, "missing", "address") == ["A4"]
    assert _flagged(q, "invalid") == ["A4", "A5"]
    assert _flagged(q, "invalid", "phone") == ["A5"]
    assert _flagged(q, None, "wechat_openid") == ["A2", "A3", "A4", "A5"]     # stale applies to any field
    day = QualityFilter.of(None, None, SINCE).since_day
    assert q.rules_of([0, 3], day) == [["conflicting:phone"], ["missing:phone", "missing:address", "invalid:wechat_openid"]]


def test_areas_totals_and_stalest():
    q = _index()
    day = QualityFilter.of(None, None, SINCE).since_day
    assert q.totals(day) == {"customers": 5, "verified": 2, "never_verified": 1, "share": 0.4}
    areas = q.by_area("transformer", day, limit=10)
    assert [(a["id"], a["customers"], a["verified"], a["never_verified"], a["oldest_verification"]) for a in areas] == [
        ("T2", 2, 0, 1, "2024-01-01"), ("T1", 2, 1, 0, "2025-06-01"), (None, 1, 1, 0, "2026-02-01")]
    feeders = q.by_area("feeder", day, limit=10, flt=QualityFilter.of("stale", None, SINCE))
    assert [(a["id"], a["customers"], a["flagged"]) for a in feeders] == [("F1", 4, 3), (None, 1, 0)]
    assert [a for a, _ in q.stalest(3)] == ["A3", "A5", "A2"]
    assert [a for a, _ in q.stalest(5, rows=q.area_rows("transformer", "T1"))] == ["A2", "A1"]


def test_a_change_updates_findings_and_the_conflict_of_both_holders():
    q = _index()
    day = QualityFilter.of(None, None, SINCE).since_day
    assert q.by_area("transformer", day, limit=5)[0]["id"] == "T2"            # the period's counts are now kept
    # A2 gets its own number and is confirmed today: no longer stale, and A1's conflict goes too
    q.apply({"A2": {"name": "李二", "address": "路2号", "phone": "13900000002", "phone_alt": None,
                    "wechat_openid": None, "contact_verified_at": dt.date(2026, 7, 1)}}, upto=1)
    assert _flagged(q, "conflicting") == [] and "A2" not in _flagged(q, "stale") and q.mark == 1
    assert [a for a, _ in q.stalest(5)] == ["A3", "A5", "A4", "A1", "A2"]      # the build's order merged with A2's change
    assert [(a["id"], a["verified"], a["oldest_verification"]) for a in q.by_area("transformer", day, limit=5)] == [
        ("T2", 0, "2024-01-01"), ("T1", 2, "2026-06-01"), (None, 1, "2026-02-01")]   # T1 now all verified; ties: id, null last
    # A5 takes A3's number under another name: both conflict
    q.apply({"A5": {"name": "赵五", "address": "路5号", "phone": "13800000003", "phone_alt": None,
                    "wechat_openid": "oAbCdEf_123", "contact_verified_at": dt.date(2024, 1, 1)}}, upto=2)
    assert _flagged(q, "conflicting") == ["A3", "A5"] and _flagged(q, "invalid", "phone") == []


def test_a_rule_on_a_field_it_does_not_apply_to_is_named():
    with pytest.raises(InvalidInput) as e:
        QualityFilter.of("conflicting", "address", SINCE)
    assert e.value.field == "field"
    with pytest.raises(InvalidInput) as e:
        QualityFilter.of("dirty", None, SINCE)
    assert e.value.field == "rule"
    assert NEVER < QualityFilter.of(None, None, dt.date(1900, 1, 1)).since_day

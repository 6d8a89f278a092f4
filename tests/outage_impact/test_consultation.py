"""Consultation domain rules on hand-built data: links, templates, replies per window, retry policy."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gis.errors import InvalidInput
from outage_impact.consultation import (
    Contact, LinkExpired, LinkTampered, Reply, Window, area_names, check_reply, notice, sign_link, tally, verify_link,
)
from outage_impact.outbox import RetryPolicy

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
CST = ZoneInfo("Asia/Shanghai")
W = [Window(0, dt.datetime(2026, 12, 1, 1, 0, tzinfo=UTC), dt.datetime(2026, 12, 1, 7, 0, tzinfo=UTC)),
     Window(1, dt.datetime(2026, 12, 2, 1, 0, tzinfo=UTC), dt.datetime(2026, 12, 2, 7, 0, tzinfo=UTC))]


def test_links_verify_and_refuse_tampering_other_secrets_and_expiry():
    token = sign_link("s3cret", 42, NOW + dt.timedelta(hours=1))
    assert verify_link("s3cret", token, now=NOW) == 42
    body, sig = token.split(".")
    forged = sign_link("s3cret", 43, NOW + dt.timedelta(hours=1)).split(".")[0] + "." + sig  # another id, old signature
    for bad in (forged, body + "." + sig[:-1], token + "x", "", "a.b.c", body):
        with pytest.raises(LinkTampered):
            verify_link("s3cret", bad, now=NOW)
    with pytest.raises(LinkTampered):
        verify_link("other", token, now=NOW)
    with pytest.raises(LinkExpired) as err:
        verify_link("s3cret", token, now=NOW + dt.timedelta(hours=1))
    assert err.value.status == 410
    assert "42" not in token  # nothing readable at a glance; certainly nothing personal


def test_notices_use_wechat_when_the_record_has_an_openid_else_sms():
    kw = dict(plan_id=7, title="季华路 10kV 线路计划检修停电通知", windows=W, area=["纺织路台区", "季华台区"],
              reason="线路检修", link="https://x/c/t", template_id="TPL", sms_signature="【供电】", tz=CST)
    wechat = notice(Contact("A1", "13800000001", None, "oOpen1"), **kw)
    assert wechat.channel == "wechat" and wechat.recipient == "oOpen1" and wechat.idempotency_key == "consult-7-A1"
    p = wechat.payload
    assert (p["touser"], p["template_id"], p["url"], p["client_msg_id"]) == ("oOpen1", "TPL", "https://x/c/t", "consult-7-A1")
    assert p["data"]["time2"]["value"] == "2026-12-01 09:00~15:00"         # shown in the customer's time zone
    assert all(len(v["value"]) <= 20 for k, v in p["data"].items() if k.startswith("thing"))
    sms = notice(Contact("A2", None, "13900000002", None), **kw)
    assert sms.channel == "sms" and sms.recipient == "13900000002" and sms.payload["to"] == "13900000002"
    assert "https://x/c/t" in sms.payload["text"] and sms.payload["text"].startswith("【供电】")
    assert "另有1个备选时段" in sms.payload["text"]
    with pytest.raises(InvalidInput):
        notice(Contact("A3", None, None, None), **kw)


def test_replies_are_checked_and_tallied_per_window():
    check_reply("accept", None, None, W)
    check_reply("prefer_window", 1, None, W)
    for args, field in ((("prefer_window", 2, None), "window"), (("accept", 1, None), "window"),
                        (("object", None, "  "), "reason"), (("maybe", None, None), "reply")):
        with pytest.raises(InvalidInput) as err:
            check_reply(*args, W)
        assert err.value.field == field
    replies = [Reply("a", "accept", None), Reply("b", "prefer_window", 1), Reply("c", "prefer_window", 1),
               Reply("d", "object", None), Reply("e", None, None)]
    assert tally(W, replies) == {0: {"accept": 1, "prefer_other": 2, "object": 1},
                                 1: {"accept": 2, "prefer_other": 0, "object": 1}}


def test_area_names_are_the_most_affected_transformer_areas():
    assert area_names({"T1": 3, "T2": 9, None: 1, "T3": 3}, {"T1": "一号台区", "T2": "二号台区"}, limit=2) == ["二号台区", "一号台区"]


def test_backoff_is_exponential_with_full_jitter_and_ends():
    top = RetryPolicy(max_attempts=5, base_s=2, cap_s=10, rng=lambda lo, hi: hi)
    waits = [(top.next_try(n, NOW) - NOW).total_seconds() for n in range(1, 5)]
    assert waits == [2, 4, 8, 10]
    assert top.next_try(5, NOW) is None
    low = RetryPolicy(max_attempts=5, base_s=2, cap_s=10, rng=lambda lo, hi: lo)
    assert low.next_try(3, NOW) == NOW

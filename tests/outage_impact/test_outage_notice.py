"""The approved-outage notice: WeChat template without a link, else SMS to a mobile number, stable key."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from outage_impact.consultation import Contact, Window, idempotency_key, notice_key, outage_notice, sms_number

TZ = ZoneInfo("Asia/Shanghai")
W = Window(0, dt.datetime(2026, 12, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 12, 1, 7, tzinfo=dt.timezone.utc))


def _notice(contact: Contact):
    return outage_notice(contact, plan_id=7, title="季华路 10kV 检修", window=W, area=["季华一台区"], reason="线路检修",
                         template_id="OUTAGE_NOTICE", sms_signature="【供电公司】", tz=TZ)


def test_wechat_notice_has_no_link_and_the_stable_key():
    m = _notice(Contact("0300100001", "13800000001", None, "oX1"))
    assert m.channel == "wechat" and m.recipient == "oX1" and m.template == "outage_notice.wechat"
    assert "url" not in m.payload and m.payload["client_msg_id"] == m.idempotency_key == "notice-7-0300100001"
    assert m.payload["data"]["time2"]["value"] == "2026-12-01 09:00~15:00"
    assert _notice(Contact("0300100001", "13800000001", None, "oX1")).idempotency_key == m.idempotency_key
    assert notice_key(7, "0300100001") != idempotency_key(7, "0300100001")    # not the consultation's key


def test_sms_goes_to_a_mobile_number_only():
    m = _notice(Contact("0300100002", "0757-83331234", "13900000002", None))
    assert m.channel == "sms" and m.recipient == "13900000002" == m.payload["to"]
    assert "http" not in m.payload["text"] and "2026-12-01 09:00~15:00" in m.payload["text"]
    assert _notice(Contact("0300100003", "0757-83330000", None, None)) is None       # a landline takes no SMS
    assert sms_number(None, None) is None and sms_number("12345678901", "13800000000") == "13800000000"

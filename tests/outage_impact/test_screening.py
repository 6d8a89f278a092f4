"""Screening rules on a hand-built customer set: every list, every rule, explained per customer."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from gis.errors import InvalidInput
from outage_impact.screening import ScreeningRules, screen, screen_accounts

NOW = dt.datetime(2026, 12, 6, 8, tzinfo=dt.timezone.utc)


def customers() -> pd.DataFrame:
    rows = [  # account, sensitivity, kva, phone, phone_alt, openid, interruptions, complaints
        ("A-hospital", "医院", 200, "13800000001", None, "oX1", 0, 0),
        ("B-big-wechat", None, 630, "0757-83331234", None, "oX2", 0, 0),
        ("C-big-sms", None, 400, "13900000003", None, None, 0, 0),
        ("D-big-landline", None, 800, "0757-83330000", None, None, 0, 0),
        ("E-repeat", None, 8, None, "13700000005", None, 2, 0),
        ("F-complained", None, 6, "13600000006", None, "oX6", 0, 1),
        ("G-plain-wechat", None, 6, "13500000007", None, "oX7", 1, 0),
        ("H-plain-none", "", None, None, None, None, 0, 0),
        ("I-government", "政府", 100, "13300000009", None, "oX9", 0, 0),
        ("J-life-support-big", "生命支持", 500, "13200000010", None, "oX10", 3, 2),
    ]
    return pd.DataFrame(rows, columns=["account_no", "sensitivity", "contract_kva", "phone", "phone_alt",
                                       "wechat_openid", "interruptions", "complaints"])


def _by_account(result):
    return {c.account_no: (name, c.channel, [r["rule"] for r in c.rules])
            for name in ("consult", "notify", "phone") for c in getattr(result, name)}


def test_lists_and_reasons_with_default_rules():
    result = screen(customers(), ScreeningRules(), as_of=NOW)
    got = _by_account(result)
    assert got["A-hospital"] == ("phone", "wechat", ["sensitive_phone"])
    assert got["B-big-wechat"] == ("consult", "wechat", ["big_customer", "wechat"])
    assert got["C-big-sms"] == ("consult", "sms", ["big_customer", "sms"])
    assert got["D-big-landline"] == ("phone", None, ["big_customer", "no_channel"])  # a landline takes no SMS
    assert got["E-repeat"] == ("consult", "sms", ["repeat_interrupted", "sms"])    # the mobile is the alternate
    assert got["F-complained"] == ("consult", "wechat", ["complained", "wechat"])
    assert got["G-plain-wechat"] == ("notify", "wechat", ["affected", "wechat"])   # 1 interruption < 2
    assert got["H-plain-none"] == ("notify", None, ["affected"])
    assert got["I-government"] == ("consult", "wechat", ["sensitive_consult", "wechat"])
    assert got["J-life-support-big"] == ("phone", "wechat",
                                         ["sensitive_phone", "big_customer", "repeat_interrupted", "complained"])
    assert [c.account_no for c in result.consult] == sorted(c.account_no for c in result.consult)
    reasons = {r["rule"]: r["reason"] for r in next(c for c in result.phone if c.account_no == "J-life-support-big").rules}
    assert reasons["big_customer"] == "contract 500 kVA ≥ 315 kVA"
    assert reasons["repeat_interrupted"] == "interrupted 3 times in the last 90 days (≥ 2)"
    body = result.to_dict()
    assert body["counts"] == {"consult": 5, "notify": 2, "phone": 3}
    assert "13800000001" not in str(body) and "oX1" not in str(body)  # channels, never the contacts


def test_rules_are_configurable():
    rules = ScreeningRules(big_kva=700, repeat_count=1, actions={"complained": "phone", "sensitive_consult": "notify"})
    got = _by_account(screen(customers(), rules, as_of=NOW))
    assert got["B-big-wechat"][0] == "notify" and got["C-big-sms"][0] == "notify"   # below 700 kVA now
    assert got["D-big-landline"][0] == "phone"
    assert got["G-plain-wechat"] == ("consult", "wechat", ["repeat_interrupted", "wechat"])
    assert got["F-complained"] == ("phone", "wechat", ["complained"])
    assert got["I-government"] == ("notify", "wechat", ["sensitive_consult", "affected", "wechat"])
    with pytest.raises(InvalidInput) as err:
        ScreeningRules(actions={"complained": "email"})
    assert err.value.field == "complained"


def test_screen_accounts_reads_facts_for_the_windows():
    seen = {}

    class Facts:
        def facts(self, accounts, *, interrupted_since, complaints_since):
            seen.update(accounts=list(accounts), interrupted=interrupted_since, complaints=complaints_since)
            return customers()[customers()["account_no"].isin(accounts)]

    result = screen_accounts(["A-hospital", "H-plain-none"], Facts(), ScreeningRules(repeat_days=30), now=NOW)
    assert seen["interrupted"] == NOW - dt.timedelta(days=30) and seen["complaints"] == NOW - dt.timedelta(days=90)
    assert [c.account_no for c in result.phone] == ["A-hospital"] and len(result.notify) == 1

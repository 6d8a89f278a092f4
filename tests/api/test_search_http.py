"""GET /api/v1/search over real HTTP on both stores: shapes, masking per role, errors, unknown callers."""

from __future__ import annotations

import pytest

FIELDS = {"account_no", "name", "address", "phone", "category", "sensitivity", "transformer_id", "meter_box_id",
          "lon", "lat", "location_quality", "matched", "score"}
ZHOU = {"account_no": "0300100001", "name": "周家帆", "category": "居民", "sensitivity": None,
        "transformer_id": "TR00001", "meter_box_id": "MB000001", "lon": 113.1106925, "lat": 23.005651,
        "location_quality": "meter_box"}


@pytest.mark.parametrize("q, shape, matched", [
    ("131-2628-2696", "phone", "phone"),
    ("+86 13126282696", "phone", "phone"),
    ("0300100001", "account", "account"),
    ("周家帆", "name", "name"),
    ("zhoujiafan", "pinyin", "pinyin"),
    ("zjf", "pinyin", "pinyin_initials"),
    ("纺织路4号1栋701", "mixed", "address"),
])
def test_each_shape_lands_on_the_caller_first(client, q, shape, matched):
    r = client.get("/api/v1/search", params={"q": q})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["query"], body["shape"]) == (q, shape)
    assert body["count"] == len(body["data"]) >= 1 and body["suggestions"] == []
    first = body["data"][0]
    assert set(first) == FIELDS
    assert {k: first[k] for k in ZHOU} == ZHOU
    assert first["matched"] == matched
    assert first["phone"] == "13126282696" and first["address"] == "佛山市禅城区纺织路4号1栋701"


def test_last_four_digits_and_ranking(client):
    body = client.get("/api/v1/search", params={"q": "2696", "limit": 50}).json()
    assert "0300100001" in [d["account_no"] for d in body["data"]]
    assert all(d["matched"] == "phone_last4" and d["phone"].endswith("2696") for d in body["data"])
    scores = [d["score"] for d in body["data"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("role, phone, address", [
    ("dispatcher", "13126282696", "佛山市禅城区纺织路4号1栋701"),
    ("agent", "13126282696", "佛山市禅城区纺织路4号1栋701"),
    ("admin", "13126282696", "佛山市禅城区纺织路4号1栋701"),
    ("planner", "131****2696", "佛山市禅城区纺织路*号*栋***"),
    ("analyst", "131****2696", "佛山市禅城区纺织路*号*栋***"),
])
def test_personal_data_is_masked_by_role(client_as, role, phone, address):
    body = client_as(role).get("/api/v1/search", params={"q": "13126282696"}).json()
    assert [(d["account_no"], d["phone"], d["address"]) for d in body["data"]] == [("0300100001", phone, address)]


def test_an_unknown_caller_gets_no_match_and_address_suggestions(client):
    body = client.get("/api/v1/search", params={"q": "纺织路4号9栋9999"}).json()
    assert body["count"] == 0 and body["data"] == []
    assert body["suggestions"] and all(set(s) == FIELDS and "纺织路4号" in s["address"] for s in body["suggestions"])
    body = client.get("/api/v1/search", params={"q": "19999999999"}).json()
    assert (body["count"], body["data"], body["suggestions"]) == (0, [], [])


@pytest.mark.parametrize("params, field", [
    ({"q": ""}, "q"), ({"q": "   "}, "q"), ({"q": "周\x07家帆"}, "q"), ({"q": "x" * 101}, "q"), ({}, "q"),
    ({"q": "周", "limit": 0}, "limit"), ({"q": "周", "limit": 100000}, "limit"),
])
def test_absurd_queries_are_422_naming_the_field(client, params, field):
    r = client.get("/api/v1/search", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field


def test_search_needs_a_key(anonymous):
    assert anonymous.get("/api/v1/search", params={"q": "周家帆"}).status_code == 401


# -- masked roles learn nothing hidden by searching (issue 17) ----------------------------------


def _accounts(client, q: str) -> list[tuple[str, str]]:
    body = client.get("/api/v1/search", params={"q": q, "limit": 50}).json()
    return [(d["account_no"], d["matched"]) for d in body["data"]] + [(s["account_no"], "suggested") for s in body["suggestions"]]


@pytest.mark.parametrize("role", ["planner", "analyst"])
def test_a_masked_role_cannot_recover_a_phone_by_substrings(client_as, role):
    c = client_as(role)
    # 131****2696: the hidden middle digits must not be testable one guess at a time
    for q in ("1312628269", "12628", "3126282"):
        assert not [a for a, m in _accounts(c, q) if m == "phone"], q
    assert _accounts(c, "1312628269") == _accounts(c, "1319999269")


def test_a_pii_role_still_finds_phone_substrings(client):
    assert ("0300100001", "phone") in _accounts(client, "1312628269")


@pytest.mark.parametrize("role", ["planner", "analyst"])
def test_a_masked_role_matches_addresses_only_on_what_it_sees(client_as, role):
    c = client_as(role)
    seen = _accounts(c, "纺织路4号1栋701")
    # the same masked text 纺织路*号*栋*** gives the same answer whatever the hidden digits
    assert seen == _accounts(c, "纺织路9号3栋888") and len(seen) > 1
    assert {"0300100001", "0300100017"} <= {a for a, _ in seen}
    suggested = _accounts(c, "纺织路4号9栋9999")
    assert suggested and suggested == _accounts(c, "纺织路1号2栋3456")  # suggestions too


def test_a_masked_lookup_by_a_complete_value_is_audited(client_as):
    planner = client_as("planner")
    body = planner.get("/api/v1/search", params={"q": "13126282696"}).json()
    assert [(d["account_no"], d["matched"]) for d in body["data"]] == [("0300100001", "phone")]
    events = client_as("admin").get("/api/v1/audit", params={"action": "customer.pii_lookup", "limit": 50}).json()["data"]
    mine = [e for e in events if e["role"] == "planner" and e["object_kind"] == "search"]
    assert mine and mine[0]["details"]["matched"] == ["phone"] and "0300100001" in mine[0]["details"]["accounts"]
    assert "13126282696" not in str(mine[0])

"""Confirm and correct a contact over real HTTP on both stores (issue 18): If-Match, 412/428,
bad input in problem+json, search following at once, history and view per role, audit."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import time
import uuid

import httpx
import pytest

from api.masking import mask_phone
from api.settings import Settings
from tests.api.conftest import serve
from tests.conftest import SAMPLE_DIR, STORES

AT = "2026-10-31T12:00:00+08:00"


def _customers() -> list[dict[str, str]]:
    with (SAMPLE_DIR / "customers.csv").open(encoding="utf-8", newline="") as fh:
        return [c for c in csv.DictReader(fh) if c["phone"] and not c["phone_alt"]
                and c["contact_verified_at"] and c["contact_verified_at"] < "2025-06-01"]


CUSTOMERS = _customers()


def _problem(r: httpx.Response, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    if field is not None:
        assert body["field"] == field, body
    return body


def _etag(c: httpx.Client, acct: str) -> str:
    r = c.get(f"/api/v1/customers/{acct}/contact")
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == r.json()["etag"]
    return r.headers["etag"]


def test_correct_a_phone_then_search_finds_the_new_number_only(client_as):
    agent = client_as("agent")
    c = CUSTOMERS[0]
    acct, old = c["account_no"], c["phone"]
    assert [i["account_no"] for i in agent.get("/api/v1/search", params={"q": old}).json()["data"]] == [acct]
    etag = _etag(agent, acct)
    r = agent.patch(f"/api/v1/customers/{acct}/contact", headers={"If-Match": etag},
                    json={"touchpoint": "call_centre", "phone": "+86 139-8765-0042", "note": "客户来电更正"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["etag"] == body["etag"] != etag
    assert body["contact"]["phone"] == "13987650042" and body["sources"]["phone"]["source"] == "call_centre"
    assert body["change"]["changes"] == {"phone": {"old": old, "new": "13987650042"}}
    # the worker's memory index answers the new number at once, and no longer the old one
    found = agent.get("/api/v1/search", params={"q": "13987650042"}).json()["data"]
    assert [(i["account_no"], i["phone"]) for i in found] == [(acct, "13987650042")]
    assert acct not in [i["account_no"] for i in agent.get("/api/v1/search", params={"q": old}).json()["data"]]
    # the same ETag again: the record changed since, 412, nothing written
    r = agent.patch(f"/api/v1/customers/{acct}/contact", headers={"If-Match": etag},
                    json={"touchpoint": "call_centre", "phone": "13900000000"})
    _problem(r, 412, "If-Match")
    assert agent.get(f"/api/v1/customers/{acct}/contact").json()["contact"]["phone"] == "13987650042"
    # the view shows the correction in its timeline and the new ETag to send next
    view = agent.get(f"/api/v1/customers/{acct}").json()
    assert view["contact"]["phone"] == "13987650042" and view["contact_record"]["etag"] == body["etag"]
    assert [h["changes"] for h in view["contact_history"]] == [{"phone": {"old": old, "new": "13987650042"}}]


def test_confirm_clears_the_stale_prompt_and_the_audit_names_no_personal_data(client_as):
    agent, admin = client_as("agent"), client_as("admin")
    acct = CUSTOMERS[1]["account_no"]
    view = agent.get(f"/api/v1/customers/{acct}").json()
    [prompt] = [p for p in view["stale"] if p["code"] == "contact_unverified"]
    assert {f["field"] for f in prompt["fields"]} == {"name", "address", "phone", "phone_alt", "wechat_openid"}
    r = agent.patch(f"/api/v1/customers/{acct}/contact", headers={"If-Match": view["contact_record"]["etag"]},
                    json={"touchpoint": "counter", "confirm": True})
    assert r.status_code == 200, r.text
    assert r.json()["stale"] == [] and r.json()["verified_on"] == dt.date.today().isoformat()
    view = agent.get(f"/api/v1/customers/{acct}").json()
    assert not [p for p in view["stale"] if p["code"] == "contact_unverified"]
    events = admin.get("/api/v1/audit", params={"action": "customer.contact_change", "object_id": acct}).json()["data"]
    assert [(e["role"], e["details"]["touchpoint"], e["details"]["confirmed"], e["details"]["fields"]) for e in events] == [
        ("agent", "counter", True, [])]


def test_history_is_masked_per_role(client_as):
    agent = client_as("agent")
    c = CUSTOMERS[2]
    acct, old = c["account_no"], c["phone"]
    r = agent.patch(f"/api/v1/customers/{acct}/contact", headers={"If-Match": _etag(agent, acct)},
                    json={"touchpoint": "field", "phone": "13987650043", "address": c["address"] + "之二", "note": "上门核实 13987650043"})
    assert r.status_code == 200, r.text
    full = agent.get(f"/api/v1/customers/{acct}/contact/history").json()["data"]
    assert full[0]["changes"]["phone"] == {"old": old, "new": "13987650043"} and full[0]["note"].startswith("上门核实")
    planner = client_as("planner").get(f"/api/v1/customers/{acct}/contact/history").json()["data"]
    assert planner[0]["changes"]["phone"] == {"old": mask_phone(old), "new": mask_phone("13987650043")}
    assert "*" in planner[0]["changes"]["address"]["new"] and planner[0]["note"] is None
    analyst = client_as("analyst").get(f"/api/v1/customers/{acct}/contact/history").json()["data"]
    assert analyst[0]["changes"] == {"phone": {}, "address": {}} and analyst[0]["note"] is None
    assert analyst[0]["touchpoint"] == "field" and analyst[0]["role"] == "agent"
    assert client_as("analyst").get(f"/api/v1/customers/{acct}/contact").json()["contact"] is None
    view = client_as("analyst").get(f"/api/v1/customers/{acct}").json()
    assert view["contact_history"][0]["changes"] == {"phone": {}, "address": {}}


def test_bad_input_is_named_in_problem_json(client_as):
    agent = client_as("agent")
    acct = CUSTOMERS[3]["account_no"]
    url = f"/api/v1/customers/{acct}/contact"
    etag = _etag(agent, acct)
    _problem(agent.patch(url, json={"touchpoint": "counter", "confirm": True}), 428, "If-Match")
    _problem(agent.patch(url, headers={"If-Match": "*"}, json={"touchpoint": "counter", "confirm": True}), 428, "If-Match")
    body = _problem(agent.patch(url, headers={"If-Match": etag}, json={"touchpoint": "counter", "phone": "12345"}), 422, "phone")
    assert body["value"] == "12345" and "not a phone number" in body["detail"]
    _problem(agent.patch(url, headers={"If-Match": etag}, json={"touchpoint": "counter", "email": "a@b.c"}), 422, "email")
    _problem(agent.patch(url, headers={"If-Match": etag}, json={"touchpoint": "phone", "confirm": True}), 422, "touchpoint")
    _problem(agent.patch(url, headers={"If-Match": etag}, json={"touchpoint": "counter"}), 422, "confirm")
    body = _problem(agent.patch("/api/v1/customers/9999999999/contact", headers={"If-Match": etag},
                                json={"touchpoint": "counter", "confirm": True}), 404, "account_no")
    assert body["value"] == "9999999999"
    _problem(client_as("planner").patch(url, headers={"If-Match": etag}, json={"touchpoint": "counter", "confirm": True}), 403)
    assert agent.get(f"{url}/history").json()["data"] == [] and _etag(agent, acct) == etag


@pytest.mark.parametrize("role", ["dispatcher", "admin"])
def test_editor_roles_may_change(client_as, role):
    c = client_as(role)
    acct = CUSTOMERS[4 if role == "dispatcher" else 5]["account_no"]
    r = c.patch(f"/api/v1/customers/{acct}/contact", headers={"If-Match": _etag(c, acct)},
                json={"touchpoint": "wechat", "wechat_openid": "oAbCdEfGh123456_-x"})
    assert r.status_code == 200, r.text
    assert r.json()["contact"]["wechat_openid"] == "oAbCdEfGh123456_-x"


@pytest.fixture(params=STORES)
def two_servers(request, tmp_path):
    """Two API servers (as two workers) over one store; their overlays follow contact changes by
    events only (``contact_follow_interval_s=0``), so the bus is what makes the other one answer."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_templates")["city"], path)
        url, cleanup = f"sqlite:///{path}", None
    else:
        cluster = request.getfixturevalue("pg_cluster")
        name = cluster.create(f"{cluster.prefix}{uuid.uuid4().hex[:10]}", template=cluster.template("city"))
        url = cluster.url(name)

        def cleanup() -> None:
            cluster.drop(name)
            cluster.created.remove(name)

    servers = [serve(url, Settings(database_url=url, contact_follow_interval_s=0)) for _ in range(2)]
    try:
        yield [next(s) for s in servers]
    finally:
        for s in servers:
            s.close()
        if cleanup is not None:
            cleanup()


def test_another_worker_answers_the_new_number_within_a_second(two_servers):
    a, b = two_servers
    c = CUSTOMERS[6]
    acct, old = c["account_no"], c["phone"]
    with httpx.Client(base_url=a, headers=a.headers("agent"), timeout=30) as on_a, \
            httpx.Client(base_url=b, headers=b.headers("agent"), timeout=30) as on_b:
        assert [i["account_no"] for i in on_b.get("/api/v1/search", params={"q": old}).json()["data"]] == [acct]
        r = on_a.patch(f"/api/v1/customers/{acct}/contact", headers={"If-Match": _etag(on_a, acct)},
                       json={"touchpoint": "counter", "phone": "13987650066"})
        assert r.status_code == 200, r.text
        changed = time.monotonic()
        while True:  # B answers the new number with the new record, and the old number no more
            new = on_b.get("/api/v1/search", params={"q": "13987650066"}).json()["data"]
            gone = acct not in [i["account_no"] for i in on_b.get("/api/v1/search", params={"q": old}).json()["data"]]
            if [(i["account_no"], i["phone"]) for i in new] == [(acct, "13987650066")] and gone:
                break
            assert time.monotonic() - changed < 1.0, f"the other worker still answers the old contact: {new}"
            time.sleep(0.02)

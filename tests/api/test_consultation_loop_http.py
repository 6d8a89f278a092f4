"""The planner's loop over real HTTP on both stores (issue 16): the screening's consult list consulted in one
call (with a dry run that writes nothing), the approved outage's notices to everyone else reachable, a reply
published live on the `consultations` channel, the screening paged."""

from __future__ import annotations

import time

import httpx

from tests.api.test_consultation_http import CUSTOMERS, W0, W1, consulting_plan
from tests.api.test_events_http import Stream


def _outbox(admin: httpx.Client, plan_id: int) -> list[dict]:
    out, offset = [], 0
    while True:
        page = admin.get("/api/v1/outbox", params={"plan_id": plan_id, "limit": 500, "offset": offset}).json()
        out += page["data"]
        if len(out) >= page["count"] or not page["data"]:
            return out
        offset = len(out)


def test_one_call_consults_the_screening_list_and_the_dry_run_writes_nothing(api_url, client_as):
    planner, admin = client_as("planner"), client_as("admin")
    plan_id, affected = consulting_plan(planner, "一次调用")
    screening = planner.get(f"/api/v1/plans/{plan_id}/screening").json()
    consult = {c["account_no"]: c["channel"] for c in screening["consult"]}
    assert consult, "the sample plan has customers to consult"
    body = {"from_screening": True, "windows": [W0, W1], "reason": "10kV 线路检修"}

    dry = planner.post(f"/api/v1/plans/{plan_id}/consultation", params={"dry_run": "true"}, json=body)
    assert dry.status_code == 200, dry.text
    counted = dry.json()
    assert counted["dry_run"] is True and counted["consulted"] == len(consult)
    assert counted["screening"] == screening["counts"]
    assert counted["messages"] == {"wechat": sum(c == "wechat" for c in consult.values()),
                                   "sms": sum(c == "sms" for c in consult.values())}
    assert _outbox(admin, plan_id) == []                                          # nothing written
    assert planner.get(f"/api/v1/plans/{plan_id}/consultation").json()["consulted"] == 0
    assert planner.get(f"/api/v1/plans/{plan_id}/alternatives").json()["windows"] == []

    sent = planner.post(f"/api/v1/plans/{plan_id}/consultation", json=body).json()
    assert sent["dry_run"] is False and sent["messages"] == counted["messages"] and sent["consulted"] == len(consult)
    messages = _outbox(admin, plan_id)
    assert sorted(m["account_no"] for m in messages) == sorted(consult)         # exactly the consult list
    assert {m["account_no"]: m["channel"] for m in messages} == consult
    assert all(m["idempotency_key"] == f"consult-{plan_id}-{m['account_no']}" for m in messages)

    # no list given at all: the same default; everyone is consulted already, nothing more is written
    again = planner.post(f"/api/v1/plans/{plan_id}/consultation", json={"reason": "x"}).json()
    assert again["consulted"] == 0 and sorted(again["already_consulted"]) == sorted(consult)
    assert len(_outbox(admin, plan_id)) == len(consult)

    both = planner.post(f"/api/v1/plans/{plan_id}/consultation",
                        json={"accounts": affected[:1], "from_screening": True, "reason": "x"})
    assert both.status_code == 422 and both.json()["field"] == "from_screening"
    assert planner.post(f"/api/v1/plans/{plan_id}/consultation",
                        json={"reason": "x", "channel": "fax"}).status_code == 422


def test_sms_to_all_uses_the_record_phone_even_with_an_openid(api_url, client_as):
    planner, admin = client_as("planner"), client_as("admin")
    plan_id, affected = consulting_plan(planner, "短信")
    with_openid = [a for a in affected if isinstance(CUSTOMERS.loc[a, "wechat_openid"], str)
                   and isinstance(CUSTOMERS.loc[a, "phone"], str)][:2]
    assert with_openid
    r = planner.post(f"/api/v1/plans/{plan_id}/consultation",
                     json={"accounts": with_openid, "reason": "检修", "channel": "sms"})
    assert r.status_code == 200 and r.json()["messages"] == {"wechat": 0, "sms": len(with_openid)}, r.text
    for m in _outbox(admin, plan_id):
        assert m["channel"] == "sms" and m["recipient"] == CUSTOMERS.loc[m["account_no"], "phone"]


def test_approval_notifies_every_reachable_affected_customer_not_called_by_phone(api_url, client_as):
    planner, admin = client_as("planner"), client_as("admin")
    plan_id, affected = consulting_plan(planner, "停电通知")
    screening = planner.get(f"/api/v1/plans/{plan_id}/screening").json()
    planner.post(f"/api/v1/plans/{plan_id}/consultation", json={"windows": [W0, W1], "reason": "10kV 线路检修"})
    consult_messages = len(_outbox(admin, plan_id))
    expected = {c["account_no"]: c["channel"] for name in ("consult", "notify") for c in screening[name] if c["channel"]}
    phone_list = {c["account_no"] for c in screening["phone"]}
    assert screening["notify"], "the sample plan has notify-only customers"

    assert admin.post(f"/api/v1/plans/{plan_id}/status", json={"status": "approved"}).status_code == 200
    notices = [m for m in _outbox(admin, plan_id) if m["idempotency_key"].startswith("notice-")]
    assert len(_outbox(admin, plan_id)) == consult_messages + len(notices)
    assert {m["account_no"]: m["channel"] for m in notices} == expected
    assert not phone_list & {m["account_no"] for m in notices}
    for m in notices:
        c = CUSTOMERS.loc[m["account_no"]]
        assert m["idempotency_key"] == f"notice-{plan_id}-{m['account_no']}"
        assert m["template"] == f"outage_notice.{m['channel']}"
        if m["channel"] == "wechat":                 # nothing to answer: no link
            p = m["payload"]
            assert p["touser"] == c["wechat_openid"] == m["recipient"] and "url" not in p
            assert p["client_msg_id"] == m["idempotency_key"] and p["template_id"] == "OUTAGE_NOTICE"
            assert p["data"]["time2"]["value"] == "2026-12-01 09:00~15:00"       # the approved (plan's) window
        else:
            mobile = [x for x in (c["phone"], c["phone_alt"]) if isinstance(x, str) and x.startswith("1") and len(x) == 11]
            assert m["recipient"] == mobile[0] == m["payload"]["to"]
            assert "停电通知" in m["payload"]["text"] and "10kV 线路检修" in m["payload"]["text"]
            assert "http" not in m["payload"]["text"]
    audit = admin.get("/api/v1/audit", params={"action": "plan.status", "object_id": str(plan_id)}).json()["data"]
    approved = next(e for e in audit if e["details"]["to"] == "approved")
    assert approved["details"]["notices"]["queued"] == len(notices)
    assert approved["details"]["notices"]["unreachable"] == len(affected) - len(phone_list) - len(notices)
    # executing the plan sends nothing more
    assert planner.post(f"/api/v1/plans/{plan_id}/status", json={"status": "executed"}).status_code == 200
    assert len(_outbox(admin, plan_id)) == consult_messages + len(notices)


def test_a_plan_approved_without_any_window_sends_no_notice_and_says_why(api_url, client_as):
    planner, admin = client_as("planner"), client_as("admin")
    r = planner.post("/api/v1/plans", json={"title": "无窗口", "steps": [{"action": "open", "element": "SW000030"}]})
    plan_id = r.json()["id"]
    assert planner.post(f"/api/v1/plans/{plan_id}/status", json={"status": "consulting"}).status_code == 200
    assert admin.post(f"/api/v1/plans/{plan_id}/status", json={"status": "approved"}).status_code == 200
    assert _outbox(admin, plan_id) == []
    audit = admin.get("/api/v1/audit", params={"action": "plan.status", "object_id": str(plan_id)}).json()["data"]
    approved = next(e for e in audit if e["details"]["to"] == "approved")
    assert approved["details"]["notices"] == {"queued": 0, "skipped": "the plan has neither a window nor candidate "
                                                                      "windows: no time to announce"}


def test_a_reply_is_published_live_to_the_roles_that_read_consultations(api_url, client_as):
    planner, gateway = client_as("planner"), client_as("gateway")
    plan_id, affected = consulting_plan(planner, "实时回复")
    assert planner.post(f"/api/v1/plans/{plan_id}/consultation",
                        json={"accounts": affected[:2], "windows": [W0, W1], "reason": "检修"}).status_code == 200
    refused = httpx.get(f"{api_url}/api/v1/events", params={"channels": "consultations"},
                        headers=api_url.headers("agent"), timeout=10)
    assert refused.status_code == 403 and refused.json()["field"] == "channels"
    stream = Stream(api_url, api_url.keys["planner"], "consultations")
    try:
        assert stream.status.get(timeout=10)[0] == 200
        assert stream.next(timeout=10)[0] == "ready"
        t0 = time.monotonic()
        r = gateway.post("/api/v1/consultation/replies",
                         json={"key": f"consult-{plan_id}-{affected[1]}", "reply": "prefer_window", "window": 1})
        assert r.status_code == 200, r.text
        event, data, _ = stream.next(timeout=5)
        assert time.monotonic() - t0 < 1.0
        assert event == "consultations" and data["payload"] == {
            "type": "consultation.reply", "plan_id": plan_id, "consultation": r.json()["consultation"],
            "reply": "prefer_window", "window": 1, "replaced": False}
        assert affected[1] not in str(data)                    # references only, no account or contact
    finally:
        stream.close()


def test_the_screening_is_paged_per_list_with_whole_counts(api_url, client_as):
    planner = client_as("planner")
    plan_id, _ = consulting_plan(planner, "分页")
    whole = planner.get(f"/api/v1/plans/{plan_id}/screening").json()
    page = planner.get(f"/api/v1/plans/{plan_id}/screening", params={"limit": 2, "offset": 1}).json()
    assert page["counts"] == whole["counts"] and page["page"] == {"offset": 1, "limit": 2}
    for name in ("consult", "notify", "phone"):
        assert page[name] == whole[name][1:3]
    too_big = planner.get(f"/api/v1/plans/{plan_id}/screening", params={"limit": 10**6})
    assert too_big.status_code == 422 and too_big.json()["field"] == "limit"

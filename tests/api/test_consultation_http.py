"""Consultation over real HTTP on both stores: notices into the outbox from the customer records,
the customer's page and the gateway callback, replies per window, refused links."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import httpx
import pandas as pd

from outage_impact.consultation import sign_link
from tests.conftest import SAMPLE_DIR

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str).set_index("account_no")
FUSE = "SW000030"  # 24 customers downstream in the sample city
W0 = {"start": "2026-12-01T09:00:00+08:00", "end": "2026-12-01T15:00:00+08:00"}
W1 = {"start": "2026-12-02T09:00:00+08:00", "end": "2026-12-02T15:00:00+08:00"}
SECRET = "change-me"  # the test server's (development) secret_key


def consulting_plan(planner: httpx.Client, title: str = "征询测试") -> tuple[int, list[str]]:
    r = planner.post("/api/v1/plans", json={"title": title, "window_start": W0["start"], "window_end": W0["end"],
                                            "steps": [{"action": "open", "element": FUSE}]})
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    assert planner.post(f"/api/v1/plans/{plan_id}/status", json={"status": "consulting"}).status_code == 200
    affected = planner.get(f"/api/v1/plans/{plan_id}/impact", params={"limit": 100, "area": "false"}).json()["customers"]
    return plan_id, affected


def test_consultation_round_trip_through_the_page_and_the_gateway(api_url, client_as):
    planner, admin, gateway = client_as("planner"), client_as("admin"), client_as("gateway")
    plan_id, affected = consulting_plan(planner)
    accounts = affected[:8]
    r = planner.post(f"/api/v1/plans/{plan_id}/consultation",
                     json={"accounts": accounts, "windows": [W0, W1], "reason": "10kV 线路检修"})
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["consulted"] == 8 and sent["already_consulted"] == []
    with_openid = [a for a in accounts if isinstance(CUSTOMERS.loc[a, "wechat_openid"], str)]
    assert sent["messages"] == {"wechat": len(with_openid), "sms": 8 - len(with_openid)}
    assert [w["seq"] for w in sent["windows"]] == [0, 1]

    outbox = admin.get("/api/v1/outbox", params={"plan_id": plan_id, "limit": 50}).json()
    assert outbox["count"] == 8
    links = {}
    for m in outbox["data"]:
        c = CUSTOMERS.loc[m["account_no"]]
        assert m["state"] == "pending" and m["idempotency_key"] == f"consult-{plan_id}-{m['account_no']}"
        if m["channel"] == "wechat":   # the template message body, contacts from the customer record
            p = m["payload"]
            assert p["touser"] == c["wechat_openid"] == m["recipient"]
            assert p["client_msg_id"] == m["idempotency_key"] and p["template_id"]
            assert set(p["data"]) >= {"thing1", "time2", "thing3", "thing4"}
            assert p["data"]["time2"]["value"] == "2026-12-01 09:00~15:00"
            links[m["account_no"]] = p["url"]
        else:
            assert m["payload"]["to"] == c["phone"] == m["recipient"]
            assert "10kV 线路检修" in m["payload"]["text"]
            links[m["account_no"]] = next(w for w in m["payload"]["text"].split() if w.startswith("http"))
    assert all(urlsplit(u).path.startswith("/c/") for u in links.values())

    # sending again consults nobody twice and writes no message
    again = planner.post(f"/api/v1/plans/{plan_id}/consultation", json={"accounts": accounts[:3], "reason": "x"})
    assert again.json()["consulted"] == 0 and sorted(again.json()["already_consulted"]) == sorted(accounts[:3])
    assert admin.get("/api/v1/outbox", params={"plan_id": plan_id}).json()["count"] == 8

    # three customers answer on their page (no API key), one through the gateway
    with httpx.Client(base_url=api_url, timeout=30) as phone:
        path = {a: urlsplit(u).path for a, u in links.items()}
        page = phone.get(path[accounts[0]])
        assert page.status_code == 200 and "停电时段征询" in page.text
        data = phone.get(path[accounts[0]] + "/plan").json()
        assert data["title"] == "征询测试" and data["open"] and len(data["windows"]) == 2 and data["reply"] is None
        assert data["area_names"] and data["reason"] == "10kV 线路检修"
        assert phone.post(path[accounts[0]] + "/reply", json={"reply": "accept"}).status_code == 200
        assert phone.post(path[accounts[1]] + "/reply", json={"reply": "prefer_window", "window": 1}).status_code == 200
        assert phone.post(path[accounts[2]] + "/reply", json={"reply": "object", "reason": "家里有病人 13912345678"}).status_code == 200
        bad = phone.post(path[accounts[3]] + "/reply", json={"reply": "prefer_window", "window": 5})
        assert bad.status_code == 422 and bad.json()["field"] == "window"
        bad = phone.post(path[accounts[3]] + "/reply", json={"reply": "object"})
        assert bad.status_code == 422 and bad.json()["field"] == "reason"
    key = f"consult-{plan_id}-{accounts[3]}"
    assert planner.post("/api/v1/consultation/replies", json={"key": key, "reply": "accept"}).status_code == 403
    r = gateway.post("/api/v1/consultation/replies", json={"key": key, "reply": "prefer_window", "window": 1})
    assert r.status_code == 200, r.text
    assert gateway.get(f"/api/v1/plans/{plan_id}/consultation").status_code == 403  # the gateway reads nothing
    unknown = gateway.post("/api/v1/consultation/replies", json={"key": "consult-0-x", "reply": "accept"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "key"

    state = planner.get(f"/api/v1/plans/{plan_id}/consultation").json()
    assert state["consulted"] == 8 and state["replied"] == 4
    assert state["by_reply"] == {"accept": 1, "prefer_window": 2, "object": 1}
    w0, w1 = state["windows"]
    assert (w0["accept"], w0["prefer_other"], w0["object"]) == (1, 2, 1)
    assert (w1["accept"], w1["prefer_other"], w1["object"]) == (2, 0, 1)
    assert state["objections"][0]["reason"] == "家里有病人 13*********"          # planner: digits masked
    admin_view = admin.get(f"/api/v1/plans/{plan_id}/consultation").json()
    assert admin_view["objections"][0]["reason"] == "家里有病人 13912345678"
    assert state["messages"] == {"pending": 8, "sent": 0, "dead": 0}

    # the consultation closes with the plan's status
    assert admin.post(f"/api/v1/plans/{plan_id}/status", json={"status": "approved"}).status_code == 200
    with httpx.Client(base_url=api_url, timeout=30) as phone:
        closed = phone.post(urlsplit(links[accounts[4]]).path + "/reply", json={"reply": "accept"})
        assert closed.status_code == 409
        assert phone.get(urlsplit(links[accounts[4]]).path + "/plan").json()["open"] is False


def test_expired_and_tampered_links_are_refused_with_a_clear_page_and_no_data(api_url, client_as):
    planner = client_as("planner")
    plan_id, affected = consulting_plan(planner, "过期测试")
    assert planner.post(f"/api/v1/plans/{plan_id}/consultation",
                        json={"accounts": affected[:1], "reason": "检修"}).status_code == 200
    link = client_as("admin").get("/api/v1/outbox", params={"plan_id": plan_id}).json()["data"][0]["payload"]
    url = link.get("url") or next(w for w in link["text"].split() if w.startswith("http"))
    token = urlsplit(url).path.split("/")[2]
    body, sig = token.split(".")
    consultation_id = int(__import__("base64").urlsafe_b64decode(body + "==").decode().split(".")[0])
    expired = sign_link(SECRET, consultation_id, dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1))
    tampered = [body + "." + sig[:-2] + ("AA" if not sig.endswith("AA") else "BB"),
                sign_link("another-secret", consultation_id, dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)),
                "not-a-token", body]
    with httpx.Client(base_url=api_url, timeout=30) as phone:
        assert phone.get(f"/c/{token}").status_code == 200
        r = phone.get(f"/c/{expired}")
        assert r.status_code == 410 and "链接已过期" in r.text and "过期测试" not in r.text and "检修" not in r.text
        assert phone.get(f"/c/{expired}/plan").status_code == 410
        assert phone.post(f"/c/{expired}/reply", json={"reply": "accept"}).status_code == 410
        for bad in tampered:
            r = phone.get(f"/c/{bad}")
            assert r.status_code == 403 and "链接无效" in r.text and "过期测试" not in r.text, bad
            assert phone.get(f"/c/{bad}/plan").status_code == 403
            assert phone.post(f"/c/{bad}/reply", json={"reply": "accept"}).status_code == 403
    state = planner.get(f"/api/v1/plans/{plan_id}/consultation").json()
    assert state["replied"] == 0


def test_consultation_refuses_bad_requests_and_writes_nothing(api_url, client_as):
    planner, admin = client_as("planner"), client_as("admin")
    draft = planner.post("/api/v1/plans", json={"title": "草稿", "steps": [{"action": "open", "element": FUSE}]}).json()
    r = planner.post(f"/api/v1/plans/{draft['id']}/consultation", json={"accounts": ["0300100001"], "reason": "x"})
    assert r.status_code == 409 and r.json()["field"] == "status"
    plan_id, affected = consulting_plan(planner, "坏请求")
    r = planner.post(f"/api/v1/plans/{plan_id}/consultation",
                     json={"accounts": [affected[0], "9999999999"], "reason": "x"})
    assert r.status_code == 422 and r.json()["field"] == "accounts[1]" and r.json()["value"] == "9999999999"
    r = planner.post(f"/api/v1/plans/{plan_id}/consultation",
                     json={"accounts": [affected[0], affected[0]], "reason": "x"})
    assert r.status_code == 422 and r.json()["field"] == "accounts[1]"
    r = planner.post(f"/api/v1/plans/{plan_id}/consultation",
                     json={"accounts": affected[:1], "reason": "x", "windows": [{"start": W0["end"], "end": W0["start"]}]})
    assert r.status_code == 422 and r.json()["field"] == "windows[0].end"
    assert admin.get("/api/v1/outbox", params={"plan_id": plan_id}).json()["count"] == 0
    assert planner.get(f"/api/v1/plans/{plan_id}/consultation").json()["consulted"] == 0
    # once consulted, the candidate windows are fixed
    assert planner.post(f"/api/v1/plans/{plan_id}/consultation",
                        json={"accounts": affected[:1], "reason": "x", "windows": [W0]}).status_code == 200
    r = planner.post(f"/api/v1/plans/{plan_id}/consultation",
                     json={"accounts": affected[1:2], "reason": "x", "windows": [W0, W1]})
    assert r.status_code == 409 and r.json()["field"] == "windows"


def test_a_scalar_query_parameter_given_twice_is_refused(client_as):
    r = client_as("admin").get("/api/v1/outbox", params=[("state", "dead"), ("state", "sent")])
    assert r.status_code == 422 and r.json()["field"] == "state" and r.json()["value"] == 2


def test_a_write_committed_elsewhere_during_a_consultation_does_not_fail_it(api_url, client_as, monkeypatch):
    """Another connection writes just after the consultation has read the plan (the outbox worker, an
    audit row or an ingest committing at that moment). On SQLite a deferred transaction that has read
    fails at its first write once another one committed ("database is locked", at once): the
    consultation takes the write lock at BEGIN, so the other writer waits instead, and the planner's
    request succeeds. PostgreSQL: both commit."""
    import gis.consultations as consultations
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from gis.db import make_engine

    planner = client_as("planner")
    plan_id, affected = consulting_plan(planner, "并发写入")
    original, other = consultations._plan_status, {}

    def then_another_writer(conn, pid):
        out = original(conn, pid)
        engine = make_engine(api_url.database_url, busy_timeout_s=0.2)
        try:
            with engine.begin() as c:
                c.execute(text("CREATE TABLE IF NOT EXISTS ga_test_other_writer (x integer)"))
                c.execute(text("INSERT INTO ga_test_other_writer VALUES (1)"))
            other["committed"] = True
        except OperationalError:
            other["committed"] = False
        finally:
            engine.dispose()
        return out

    monkeypatch.setattr(consultations, "_plan_status", then_another_writer)
    r = planner.post(f"/api/v1/plans/{plan_id}/consultation", json={"accounts": affected[:2], "reason": "检修"})
    assert r.status_code == 200, r.text
    assert r.json()["consulted"] == 2
    assert other["committed"] is (not api_url.database_url.startswith("sqlite"))

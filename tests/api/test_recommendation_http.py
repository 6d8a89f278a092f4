"""Alternatives and candidate windows (先算后停) over real HTTP on both stores: every pair is
ranked with why, and the customers' replies change the recommendation."""

from __future__ import annotations


FUSE = "SW000030"    # 24 customers downstream in the sample city
OTHER = "SW000044"   # 38 other customers (disjoint from FUSE's)
W0 = {"start": "2026-12-01T09:00:00+08:00", "end": "2026-12-01T15:00:00+08:00"}   # 360 min
W1 = {"start": "2026-12-03T13:00:00+08:00", "end": "2026-12-03T18:00:00+08:00"}   # 300 min


def _pairs(body):
    return [(r["alternative"], r["window"]["seq"]) for r in body["ranking"]]


def test_replies_change_the_recommendation(client_as):
    planner, admin, gateway = client_as("planner"), client_as("admin"), client_as("gateway")
    plan = planner.post("/api/v1/plans", json={"title": "先算后停", "window_start": W0["start"], "window_end": W0["end"],
                                               "steps": [{"action": "open", "element": FUSE}]}).json()
    pid = plan["id"]
    r = planner.put(f"/api/v1/plans/{pid}/windows", json={"windows": [W0, W1]})
    assert r.status_code == 200 and [w["seq"] for w in r.json()["windows"]] == [0, 1]
    r = planner.put(f"/api/v1/plans/{pid}/alternatives",
                    json={"alternatives": [{"title": "改停 SW000044", "steps": [{"action": "open", "element": OTHER}]}]})
    assert r.status_code == 200, r.text
    assert [a["alternative"] for a in r.json()["alternatives"]] == [0, 1]
    bad = planner.put(f"/api/v1/plans/{pid}/alternatives",
                      json={"alternatives": [{"title": "x", "steps": [{"action": "open", "element": "NOPE"}]}]})
    assert bad.status_code == 422 and bad.json()["field"].startswith("alternatives[0].")

    rec = planner.get(f"/api/v1/plans/{pid}/recommendation").json()
    assert len(rec["ranking"]) == 4
    by = {(r["alternative"], r["window"]["seq"]): r for r in rec["ranking"]}
    assert by[(0, 0)]["customers"] == 24 and by[(1, 0)]["customers"] == 38
    assert by[(0, 0)]["customer_minutes"] == 24 * 360 and by[(0, 1)]["customer_minutes"] == 24 * 300
    sens0, sens1 = by[(0, 0)]["sensitive_customers"], by[(1, 0)]["sensitive_customers"]
    assert sens0 == sens1 == 0
    assert _pairs(rec) == [(0, 1), (0, 0), (1, 1), (1, 0)]
    assert "customer-minutes" in rec["recommended"]["why"] and "7,200 vs 8,640" in rec["recommended"]["why"]

    # consult customers of both alternatives; the gateway relays their replies
    assert planner.post(f"/api/v1/plans/{pid}/status", json={"status": "consulting"}).status_code == 200
    cut0 = planner.get(f"/api/v1/plans/{pid}/impact", params={"limit": 100, "area": "false"}).json()["customers"]
    cut1 = planner.post("/api/v1/impact", params={"limit": 100, "steps": "false"}, json={"open": [OTHER]}).json()["customers"]
    assert not set(cut0) & set(cut1)
    r = planner.post(f"/api/v1/plans/{pid}/consultation", json={"accounts": cut0[:4] + cut1[:3], "reason": "检修"})
    assert r.status_code == 200 and r.json()["consulted"] == 7

    def reply(account, **body):
        resp = gateway.post("/api/v1/consultation/replies", json={"key": f"consult-{pid}-{account}", **body})
        assert resp.status_code == 200, resp.text

    for account in cut0[:3]:                      # alternative 0's customers object
        reply(account, reply="object", reason="店铺营业")
    rec = planner.get(f"/api/v1/plans/{pid}/recommendation").json()
    assert _pairs(rec)[0] == (1, 1)
    assert rec["recommended"]["objections"] == 0
    assert "objections" in rec["recommended"]["why"] and "(0 vs 3)" in rec["recommended"]["why"]

    for account in cut1[:2]:                      # alternative 1's customers want window 0
        reply(account, reply="prefer_window", window=0)
    rec = planner.get(f"/api/v1/plans/{pid}/recommendation").json()
    assert _pairs(rec)[0] == (1, 0)
    best = rec["recommended"]
    assert (best["accepts"], best["prefer_other"]) == (2, 0)
    assert "another window" in best["why"] and "(0 vs 2)" in best["why"]
    assert rec["ranking"][1]["why"].startswith("more ")
    got = admin.get(f"/api/v1/plans/{pid}/alternatives").json()
    assert got["alternatives"][1]["steps"] == [{"action": "open", "element": OTHER}]
    # consulted windows are fixed
    assert planner.put(f"/api/v1/plans/{pid}/windows", json={"windows": [W1]}).status_code == 409


def test_deleting_a_draft_takes_its_windows_and_alternatives_with_it(client_as):
    planner = client_as("planner")
    plan = planner.post("/api/v1/plans", json={"title": "删草稿", "steps": [{"action": "open", "element": FUSE}]}).json()
    pid = plan["id"]
    r = planner.get(f"/api/v1/plans/{pid}/recommendation")
    assert r.status_code == 422 and r.json()["field"] == "windows"
    assert planner.put(f"/api/v1/plans/{pid}/windows", json={"windows": [W0]}).status_code == 200
    assert planner.put(f"/api/v1/plans/{pid}/alternatives", json={"alternatives": [
        {"title": "b", "steps": [{"action": "open", "element": OTHER}]}]}).status_code == 200
    assert planner.get(f"/api/v1/plans/{pid}/recommendation").json()["recommended"]["window"]["seq"] == 0
    assert planner.delete(f"/api/v1/plans/{pid}").status_code == 204
    assert planner.get(f"/api/v1/plans/{pid}/alternatives").status_code == 404

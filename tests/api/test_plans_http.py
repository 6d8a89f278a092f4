"""Switching plans over real HTTP on both stores: CRUD, If-Match, roles, ownership, impact, concurrency."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from api.settings import PLAN_STEPS_HARD_CAP
from gis.api_keys import create_key
from gis.db import make_engine

FUSE = "SW000030"        # 24 customers downstream in the sample city
BREAKER = "SW000007"     # 1,115 customers downstream
WINDOW = {"window_start": "2026-12-01T09:00:00+08:00", "window_end": "2026-12-01T15:00:00+08:00"}


def _plan(title="季华路检修", element=FUSE, **extra):
    return {"title": title, **WINDOW, "steps": [{"action": "open", "element": element}], **extra}


def _create(c: httpx.Client, **kw) -> httpx.Response:
    r = c.post("/api/v1/plans", json=_plan(**kw))
    assert r.status_code == 201, r.text
    return r


def _extra_planner(api_url) -> httpx.Client:
    engine = make_engine(api_url.database_url)
    try:
        token = create_key(engine, name="second-planner", role="planner")[1]
    finally:
        engine.dispose()
    return httpx.Client(base_url=api_url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def test_create_read_list_with_etag(client_as):
    planner = client_as("planner")
    r = _create(planner)
    plan = r.json()
    assert r.headers["etag"] == '"1"' and r.headers["location"] == f"/api/v1/plans/{plan['id']}"
    assert plan["status"] == "draft" and plan["version"] == 1
    assert plan["created_by"].startswith("test-planner (")
    assert plan["steps"] == [{"action": "open", "element": FUSE}]
    assert plan["window_start"] == "2026-12-01T01:00:00+00:00"  # the same instant, in UTC
    got = client_as("dispatcher").get(f"/api/v1/plans/{plan['id']}")
    # the same plan; what may be done with it is the caller's own (a dispatcher moves no plan)
    assert plan["next_statuses"] == ["consulting", "cancelled"]
    assert got.status_code == 200 and got.headers["etag"] == '"1"' and got.json() == {**plan, "next_statuses": []}
    listed = client_as("analyst").get("/api/v1/plans", params={"created_by": plan["created_by"], "limit": 1})
    assert listed.status_code == 200 and listed.json()["data"][0]["created_by"] == plan["created_by"]
    body = listed.json()
    if body["count"] > 1:
        assert any(link["rel"] == "next" for link in body["links"])
    assert client_as("planner").get("/api/v1/plans/999999").status_code == 404


def test_bad_plans_are_refused_naming_field_and_value(client_as):
    planner = client_as("planner")
    r = planner.post("/api/v1/plans", json=_plan(colour="red"))
    assert r.status_code == 422 and r.json()["field"] == "colour"
    r = planner.post("/api/v1/plans", json={**_plan(), "steps": [{"action": "open", "element": FUSE},
                                                                    {"action": "open", "element": "SW999999"}]})
    assert r.status_code == 422 and r.json()["field"] == "steps[1].element" and r.json()["value"] == "SW999999"
    assert "step 1" in r.json()["detail"] or "steps[1]" in r.json()["detail"]
    r = planner.post("/api/v1/plans", json={**_plan(), "steps": [{"action": "open", "element": FUSE}] * (PLAN_STEPS_HARD_CAP + 1)})
    assert r.status_code == 422 and r.json()["field"] == "steps"
    r = planner.post("/api/v1/plans", json={**_plan(), "window_start": "2026-12-01T09:00:00"})
    assert r.status_code == 422 and r.json()["field"] == "window_start"
    r = planner.post("/api/v1/plans", json={**_plan(), "window_end": "2026-11-30T09:00:00+08:00"})
    assert r.status_code == 422 and r.json()["field"] == "window_end"
    r = planner.post("/api/v1/plans", json={**_plan(), "steps": [{"action": "out_of_service", "element": FUSE}]})
    assert r.status_code == 422 and r.json()["field"] == "steps[0].element"
    # steps that cannot be carried out in order are refused when stored, not when evaluated later
    r = planner.post("/api/v1/plans", json={**_plan(), "steps": [{"action": "close", "element": FUSE}]})
    assert r.status_code == 422 and r.json()["field"] == "steps[0]" and r.json()["value"] == FUSE


def test_put_needs_if_match_and_refuses_a_stale_version(client_as):
    planner = client_as("planner")
    plan = _create(planner).json()
    url = f"/api/v1/plans/{plan['id']}"
    r = planner.put(url, json=_plan(title="no tag"))
    assert r.status_code == 428 and r.json()["field"] == "If-Match"
    r = planner.put(url, json=_plan(title="v2"), headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"' and r.json()["title"] == "v2"
    r = planner.put(url, json=_plan(title="stale"), headers={"If-Match": '"1"'})
    assert r.status_code == 412 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "If-Match" and "version 2" in r.json()["detail"]
    r = planner.put(url, json=_plan(title="star"), headers={"If-Match": "*"})
    assert r.status_code == 428
    assert planner.get(url).json()["title"] == "v2"


def test_only_the_creator_or_an_admin_changes_a_plan(api_url, client_as):
    plan = _create(client_as("planner")).json()
    url = f"/api/v1/plans/{plan['id']}"
    with _extra_planner(api_url) as other:
        r = other.put(url, json=_plan(title="not mine"), headers={"If-Match": '"1"'})
        assert r.status_code == 403 and r.json()["value"] == plan["id"] and str(plan["id"]) in r.json()["detail"]
        assert other.post(url + "/status", json={"status": "cancelled"}).status_code == 403
        assert other.get(url).status_code == 200  # reading is fine
    for role in ("dispatcher", "analyst", "agent"):
        assert client_as(role).put(url, json=_plan(), headers={"If-Match": '"1"'}).status_code == 403
    r = client_as("admin").put(url, json=_plan(title="admin fix"), headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["created_by"] == plan["created_by"]


def test_status_workflow_with_four_eyes_approval(client_as):
    planner, admin = client_as("planner"), client_as("admin")
    plan = _create(planner).json()
    url = f"/api/v1/plans/{plan['id']}/status"
    r = planner.post(url, json={"status": "executed"})
    assert r.status_code == 409 and "'draft' to 'executed'" in r.json()["detail"]
    r = planner.post(url, json={"status": "consulting"})
    assert r.status_code == 200 and r.json()["status"] == "consulting" and r.headers["etag"] == '"2"'
    r = planner.post(url, json={"status": "approved"})
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    r = admin.post(url, json={"status": "approved"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    r = admin.post(url, json={"status": "approved"}, headers={"If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = planner.put(f"/api/v1/plans/{plan['id']}", json=_plan(), headers={"If-Match": '"3"'})
    assert r.status_code == 409 and "approved" in r.json()["detail"]
    assert planner.post(url, json={"status": "executed"}).json()["status"] == "executed"
    r = planner.post(url, json={"status": "pending"})
    assert r.status_code == 422 and r.json()["field"] == "status"
    own = _create(admin).json()
    admin.post(f"/api/v1/plans/{own['id']}/status", json={"status": "consulting"})
    r = admin.post(f"/api/v1/plans/{own['id']}/status", json={"status": "approved"})
    assert r.status_code == 403 and "another person" in r.json()["detail"]


def test_only_drafts_are_deleted(client_as):
    planner = client_as("planner")
    plan = _create(planner).json()
    other = _create(planner).json()
    planner.post(f"/api/v1/plans/{other['id']}/status", json={"status": "consulting"})
    assert planner.delete(f"/api/v1/plans/{other['id']}").status_code == 409
    assert planner.delete(f"/api/v1/plans/{plan['id']}").status_code == 204
    assert planner.get(f"/api/v1/plans/{plan['id']}").status_code == 404


@pytest.mark.parametrize("role, allowed", [("planner", True), ("dispatcher", True), ("analyst", True),
                                           ("admin", True), ("agent", False)])
def test_role_matrix_of_plan_reads(api_url, client_as, anonymous, role, allowed):
    plan = _create(client_as("planner")).json()
    c = client_as(role)
    for path in ("/api/v1/plans", f"/api/v1/plans/{plan['id']}", f"/api/v1/plans/{plan['id']}/impact",
                 f"/api/v1/plans/{plan['id']}/impact/customers.csv"):
        assert c.get(path).status_code == (200 if allowed else 403), (role, path)
        assert anonymous.get(path).status_code == 401
    create = c.post("/api/v1/plans", json=_plan())
    assert create.status_code == (201 if role in ("planner", "admin") else 403)


def test_plan_impact_names_both_versions_and_pages(client_as):
    planner = client_as("planner")
    plan = _create(planner, element=BREAKER).json()
    url = f"/api/v1/plans/{plan['id']}/impact"
    down = planner.get(f"/api/v1/trace/switch/{BREAKER}/downstream").json()["customers"]
    first = planner.get(url, params={"limit": 500})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["plan_id"], body["plan_version"], body["data_version"]) == (plan["id"], 1, 1)
    assert body["count"] == len(down) == 1115 and body["customer_minutes"] == 1115 * 360
    assert body["page"] == {"offset": 0, "limit": 500, "returned": 500, "total": 1115}
    seen = list(body["customers"])
    while nxt := next((link["href"] for link in body["links"] if link["rel"] == "next"), None):
        body = planner.get(nxt).json()
        seen += body["customers"]
    assert seen == sorted(down)
    assert planner.get(url, params={"limit": 10**6}).status_code == 422
    # a new plan version is a new impact (the cache is keyed by the version)
    r = planner.put(f"/api/v1/plans/{plan['id']}", json=_plan(element=FUSE), headers={"If-Match": '"1"'})
    again = planner.get(url).json()
    assert r.status_code == 200 and (again["plan_version"], again["count"]) == (2, 24)


def test_adhoc_impact_pages_and_stays_backward_compatible(client_as):
    c = client_as("dispatcher")
    whole = c.post("/api/v1/impact", json={"open": [BREAKER]}).json()
    assert len(whole["customers"]) == 1115 and "page" not in whole
    r = c.post("/api/v1/impact", params={"limit": 1000}, json={"open": [BREAKER]})
    page = r.json()
    assert page["customers"] == whole["customers"][:1000] and page["count"] == 1115
    nxt = next(link for link in page["links"] if link["rel"] == "next")
    assert nxt["method"] == "POST"
    rest = c.post(nxt["href"], json={"open": [BREAKER]}).json()
    assert rest["customers"] == whole["customers"][1000:] and rest["data_version"] == 1


def test_two_clients_same_etag_exactly_one_wins(client_as):
    planner = client_as("planner")
    plan = _create(planner).json()
    url = f"/api/v1/plans/{plan['id']}"
    etag = planner.get(url).headers["etag"]
    barrier = threading.Barrier(2)
    codes: dict[str, int] = {}

    def put(name: str) -> None:
        with httpx.Client(base_url=planner.base_url, headers=planner.headers, timeout=30) as c:
            barrier.wait()
            codes[name] = c.put(url, json=_plan(title=name), headers={"If-Match": etag}).status_code

    threads = [threading.Thread(target=put, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) == [200, 412]
    winner = next(n for n, code in codes.items() if code == 200)
    final = planner.get(url).json()
    assert (final["title"], final["version"]) == (winner, 2)


def test_concurrent_updates_with_retries_all_land_exactly_once(client_as):
    planner = client_as("planner")
    plan = _create(planner, title="log:").json()
    url = f"/api/v1/plans/{plan['id']}"
    writers, per_writer = 6, 3
    retries = [0]
    lock = threading.Lock()

    def work(w: int) -> None:
        with httpx.Client(base_url=planner.base_url, headers=planner.headers, timeout=60) as c:
            for k in range(per_writer):
                while True:
                    got = c.get(url)
                    body = got.json()
                    r = c.put(url, json=_plan(title=body["title"] + f"{w}.{k};"), headers={"If-Match": got.headers["etag"]})
                    if r.status_code == 200:
                        break
                    assert r.status_code == 412, r.text
                    with lock:
                        retries[0] += 1

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = planner.get(url).json()
    tokens = final["title"].removeprefix("log:").rstrip(";").split(";")
    assert sorted(tokens) == sorted(f"{w}.{k}" for w in range(writers) for k in range(per_writer))
    assert final["version"] == 1 + writers * per_writer


def test_plan_impact_during_a_data_reload_names_the_version(city_store_url, tmp_path):
    """A load while plan-impact requests are served: none fails, data_version moves from 1 to 2."""
    from api.settings import Settings
    from loaders.city import import_city
    from loaders.sample_city import generate_city
    from tests.api.conftest import serve
    from tests.conftest import SERVICE_AREA

    url = city_store_url
    server = serve(url, Settings(database_url=url, reload_interval_s=0.2))
    base = next(server)
    try:
        planner = httpx.Client(base_url=base, headers=base.headers("planner"), timeout=30)
        plan = _create(planner, element=BREAKER).json()
        seen: list[int] = []
        failures: list[str] = []
        stop = threading.Event()

        def hammer() -> None:
            with httpx.Client(base_url=base, headers=base.headers("dispatcher"), timeout=30) as c:
                while not stop.is_set():
                    r = c.get(f"/api/v1/plans/{plan['id']}/impact", params={"limit": 10})
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        body = r.json()
                        seen.append(body["data_version"])
                        assert body["version"] == str(body["data_version"])

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        city = tmp_path / "more"
        generate_city(city, customers=300, seed=99)
        engine = make_engine(url)
        import_city(engine, city, service_area=SERVICE_AREA)
        engine.dispose()
        deadline = time.monotonic() + 30
        while 2 not in seen[-5:]:
            assert time.monotonic() < deadline, "the server never served data version 2"
            time.sleep(0.1)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        planner.close()
        assert not failures
        assert seen[0] == 1 and seen[-1] == 2 and set(seen) == {1, 2}
    finally:
        server.close()

"""The outbox worker inside `gridatlas serve` and the dead letters over HTTP (both stores):
a gateway that refuses makes a consultation notice dead, the admin sees it and retries it
once the gateway is back, and it is delivered once."""

from __future__ import annotations

import shutil
import time
import uuid

import httpx
import pytest

from api.settings import Settings
from tests.api.conftest import serve
from tests.api.test_consultation_http import consulting_plan
from tests.outbox.gateway import running_gateway


@pytest.fixture(params=["sqlite", "postgis"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_templates")["city"], path)
        yield f"sqlite:///{path}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create(f"{cluster.prefix}{uuid.uuid4().hex[:10]}", template=cluster.template("city"))
    try:
        yield cluster.url(name)
    finally:
        cluster.drop(name)
        cluster.created.remove(name)


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_dead_letters_are_visible_and_retryable_through_the_api(store_url):
    with running_gateway() as gw:
        gw.default = "reject"                               # the gateway refuses: a permanent failure
        settings = Settings(database_url=store_url, outbox_worker_in_serve=True, outbox_sender="webhook",
                            outbox_webhook_url=gw.url, outbox_poll_interval_s=0.1, outbox_backoff_base_s=0.05)
        server = serve(store_url, settings)
        base = next(server)
        try:
            with httpx.Client(base_url=base, headers=base.headers("planner"), timeout=30) as planner, \
                    httpx.Client(base_url=base, headers=base.headers("admin"), timeout=30) as admin:
                plan_id, affected = consulting_plan(planner, "死信测试")
                assert planner.post(f"/api/v1/plans/{plan_id}/consultation",
                                    json={"accounts": affected[:2], "reason": "检修"}).status_code == 200
                dead = lambda: admin.get("/api/v1/outbox", params={"state": "dead", "plan_id": plan_id}).json()
                _wait(lambda: dead()["count"] == 2)
                messages = dead()["data"]
                assert all("400" in m["last_error"] and m["attempts"] == 1 for m in messages)
                assert not gw.delivered
                assert planner.get("/api/v1/outbox").status_code == 403
                gw.default = "ok"                           # the gateway is fixed; the admin retries
                for m in messages:
                    r = admin.post(f"/api/v1/outbox/{m['id']}/retry")
                    assert r.status_code == 200 and r.json()["state"] == "pending" and r.json()["attempts"] == 0
                _wait(lambda: admin.get("/api/v1/outbox", params={"state": "sent", "plan_id": plan_id}).json()["count"] == 2)
                assert sorted(gw.delivered) == sorted(m["idempotency_key"] for m in messages)
                assert max(gw.delivered.values()) == 1
                again = admin.post(f"/api/v1/outbox/{messages[0]['id']}/retry")
                assert again.status_code == 409 and again.json()["field"] == "state"
                assert admin.post("/api/v1/outbox/999999/retry").status_code == 404
        finally:
            server.close()

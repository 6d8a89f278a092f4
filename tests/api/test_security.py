"""Security over real HTTP on both stores: 401 challenge, key use and revocation, deny by
default (structurally, for every route), and the admin's audit listing."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import httpx
from fastapi import Request

from api.app import create_app
from api.audit import audit
from api.auth import AllowedRoles, Principal, allow, route_is_signed, route_roles
from api.settings import Settings
from fastapi.routing import iter_route_contexts
from gis.api_keys import list_keys, revoke_key
from gis.audit import record_event
from gis.db import make_engine
from tests.api.conftest import serve

#: Routes outside /api/v1 that are open on purpose: probes, the API description, the map.
OPEN_ROUTES = {"/health", "/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/",
               # the customer's consultation page: its signed, expiring link is the credential (issue 16b)
               "/c/{token}", "/c/{token}/plan", "/c/{token}/reply"}


def _api_routes():
    app = create_app(Settings(database_url="sqlite:///unused-not-opened.sqlite"))
    return [r for r in iter_route_contexts(app.routes) if getattr(r, "methods", None)]


def test_every_api_route_declares_its_roles():
    """Deny by default, structurally: a route under /api/v1 without an ``allow(...)`` fails here."""
    routes = _api_routes()
    api = [r for r in routes if r.path.startswith("/api/")]
    assert len(api) >= 9
    # a platform callback authenticates by the platform's signature instead of an API key
    signed = {r.path for r in api if route_is_signed(r)}
    assert signed == {"/api/v1/wechat/callback"}
    assert all(route_roles(r) is None for r in api if r.path in signed)
    api = [r for r in api if r.path not in signed]
    missing = [f"{sorted(r.methods)} {r.path}" for r in api if route_roles(r) is None]
    assert not missing, f"routes without api.auth.allow(...): {missing}"
    for route in api:
        assert "admin" in route_roles(route)
        found = [d.call for d in route.dependant.dependencies if isinstance(d.call, AllowedRoles)]
        found += [d.call for dep in route.dependant.dependencies for d in dep.dependencies if isinstance(d.call, AllowedRoles)]
        assert found, route.path
    others = {r.path for r in routes if not r.path.startswith("/api/")}
    assert others <= OPEN_ROUTES, f"unexpected routes outside /api/v1: {others - OPEN_ROUTES}"


def test_roles_are_stated_in_the_openapi_document():
    app = create_app(Settings(database_url="sqlite:///unused-not-opened.sqlite"))
    doc = app.openapi()
    isolation = doc["paths"]["/api/v1/isolation"]["post"]
    assert isolation["x-roles"] == ["admin", "dispatcher", "planner"]
    assert isolation["description"].endswith("Roles: admin, dispatcher, planner.")
    assert doc["paths"]["/api/v1/audit"]["get"]["x-roles"] == ["admin"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/"):
                responses = operation["responses"]
                assert {"401", "403", "404", "413", "422", "429"} <= set(responses), (method, path)
                assert "application/problem+json" in responses["422"]["content"]
                assert "WWW-Authenticate" in responses["401"]["headers"]
                assert "Retry-After" in responses["429"]["headers"]
    layer = doc["paths"]["/api/v1/layers/{layer}"]["get"]
    assert list(layer["responses"]["200"]["content"]) == ["application/geo+json"]
    limit = next(p for p in layer["parameters"] if p["name"] == "limit")
    assert limit["schema"]["anyOf"][0]["maximum"] == 5000
    assert "Authentication" in doc["info"]["description"]


def test_a_401_challenges_for_a_bearer_token(anonymous):
    for headers in ({}, {"Authorization": "Bearer ga_00000000_forged"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        r = anonymous.get("/api/v1/layers", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.headers["content-type"] == "application/problem+json"


def test_last_use_is_recorded_at_most_once_per_interval(city_store_url):
    server = serve(city_store_url, Settings(database_url=city_store_url, rate_limit_per_s=0, key_touch_interval_s=1.0))
    base = next(server)
    engine = make_engine(city_store_url)
    try:
        def last_used() -> dt.datetime | None:
            with engine.connect() as conn:
                return next(k.last_used_at for k in list_keys(conn) if k.name == "test-analyst")

        assert last_used() is None
        headers = base.headers("analyst")
        assert httpx.get(base + "/api/v1/layers", headers=headers).status_code == 200
        first = last_used()
        assert first is not None
        for _ in range(5):
            assert httpx.get(base + "/api/v1/layers", headers=headers).status_code == 200
        assert last_used() == first  # within the interval: no write per request
        time.sleep(1.1)
        assert httpx.get(base + "/api/v1/layers", headers=headers).status_code == 200
        assert last_used() > first
    finally:
        server.close()
        engine.dispose()


def test_a_revoked_key_stops_working_after_the_cache_ttl(city_store_url):
    server = serve(city_store_url, Settings(database_url=city_store_url, rate_limit_per_s=0, auth_cache_ttl_s=1.0))
    base = next(server)
    engine = make_engine(city_store_url)
    try:
        headers = base.headers("planner")
        assert httpx.get(base + "/api/v1/layers", headers=headers).status_code == 200
        prefix = base.keys["planner"].split("_")[1]
        revoke_key(engine, prefix)
        assert httpx.get(base + "/api/v1/layers", headers=headers).status_code == 200  # still cached
        deadline = time.monotonic() + 5
        while (r := httpx.get(base + "/api/v1/layers", headers=headers)).status_code == 200:
            assert time.monotonic() < deadline, "the revoked key kept working past the TTL"
            time.sleep(0.1)
        assert r.status_code == 401 and r.json()["detail"] == "the API key is unknown or has been revoked"
        assert httpx.get(base + "/api/v1/layers", headers=base.headers("analyst")).status_code == 200
    finally:
        server.close()
        engine.dispose()


def test_the_audit_trail_is_listed_for_admins_only(api_url, client_as):
    engine = make_engine(api_url.database_url)
    try:
        with engine.begin() as conn:
            for i in range(5):
                record_event(conn, actor="test-agent (aaaa0000)", role="agent", action="customer.pii_read",
                             object_kind="customer", object_id=f"C{i}", details={"unmasked": ["phone"]})
            record_event(conn, actor="test-planner (bbbb0000)", role="planner", action="plan.create",
                         object_kind="plan", object_id="42")
    finally:
        engine.dispose()
    for role in ("dispatcher", "planner", "agent", "analyst"):
        assert client_as(role).get("/api/v1/audit").status_code == 403
    admin = client_as("admin")
    page = admin.get("/api/v1/audit", params={"action": "customer.pii_read", "limit": 2}).json()
    assert page["count"] == 2 and [e["object_id"] for e in page["data"]] == ["C4", "C3"]
    assert page["data"][0]["details"] == {"unmasked": ["phone"]} and page["data"][0]["role"] == "agent"
    seen = [e["object_id"] for e in page["data"]]
    while nxt := next((link["href"] for link in page["links"] if link["rel"] == "next"), None):
        page = admin.get(nxt).json()
        seen += [e["object_id"] for e in page["data"]]
    assert seen == ["C4", "C3", "C2", "C1", "C0"]
    plans = admin.get("/api/v1/audit", params={"object_kind": "plan", "object_id": "42"}).json()["data"]
    assert [(e["actor"], e["action"]) for e in plans] == [("test-planner (bbbb0000)", "plan.create")]
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    assert admin.get("/api/v1/audit", params={"since": future}).json()["data"] == []
    r = admin.get("/api/v1/audit", params={"limit": 999999})
    assert r.status_code == 422 and r.json()["field"] == "limit"


def test_key_changes_on_the_command_line_are_audited(empty_store_url):
    from typer.testing import CliRunner

    from api.cli import app as cli

    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--role", "agent", "--name", "crm", "--database-url", empty_store_url])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    prefix = token.split("_")[1]
    assert runner.invoke(cli, ["keys", "revoke", prefix, "--database-url", empty_store_url]).exit_code == 0
    listed = runner.invoke(cli, ["keys", "list", "--database-url", empty_store_url])
    assert "revoked" in listed.stdout and "never used" in listed.stdout
    engine = make_engine(empty_store_url)
    try:
        from gis.audit import query_events

        with engine.connect() as conn:
            events = query_events(conn, object_kind="api_key", limit=10)
    finally:
        engine.dispose()
    assert [(e["action"], e["object_id"]) for e in events] == [("key.revoke", prefix), ("key.create", prefix)]
    assert all(token not in str(e) for e in events)
    assert events[1]["details"] == {"name": "crm", "role": "agent"} and events[1]["actor"].startswith("cli:")


def test_a_route_records_an_audit_event_for_its_caller(city_store_url):
    """The interface routes use: ``api.audit.audit`` records the caller's actor and role,
    never the token, in its own transaction; the event is listed for admins."""
    app = create_app(Settings(database_url=city_store_url, rate_limit_per_s=0))

    @app.get("/api/v1/test-pii/{account_no}")
    def read_pii(request: Request, account_no: str, principal: Annotated[Principal, allow("agent")]) -> dict:
        audit(request, principal, "customer.pii_read", "customer", account_no, {"unmasked": ["phone"]})
        return {"account_no": account_no}

    server = serve(city_store_url, app=app)
    base = next(server)
    try:
        assert httpx.get(base + "/api/v1/test-pii/0300000007", headers=base.headers("agent")).status_code == 200
        assert httpx.get(base + "/api/v1/test-pii/0300000008", headers=base.headers("analyst")).status_code == 403
        events = httpx.get(base + "/api/v1/audit", params={"action": "customer.pii_read"},
                           headers=base.headers("admin")).json()["data"]
    finally:
        server.close()
    prefix = base.keys["agent"].split("_")[1]
    assert [(e["actor"], e["role"], e["object_id"], e["details"]) for e in events] == [
        (f"test-agent ({prefix})", "agent", "0300000007", {"unmasked": ["phone"]})]
    assert all(token not in str(events) for token in base.keys.values())


def test_the_key_cache_answers_from_memory_only_when_nothing_is_due(empty_store):
    from api.auth import MISS, KeyCache
    from gis.api_keys import create_key

    _record, token = create_key(empty_store, name="loop", role="agent")
    cache = KeyCache(empty_store, ttl_s=60, touch_interval_s=60)
    assert cache.cached(token) is MISS  # never seen: the store must be asked
    assert cache.principal(token).role == "agent"  # asks it, caches, records the use
    assert cache.cached(token).role == "agent"  # now memory alone answers
    assert cache.cached("ga_unknown_token") is MISS
    assert cache.principal("ga_unknown_token") is None
    assert cache.cached("ga_unknown_token") is None  # an unknown key is remembered as unknown
    due = KeyCache(empty_store, ttl_s=60, touch_interval_s=0)
    due.principal(token)
    assert due.cached(token) is MISS  # its last use is due to be written: the thread pool does that

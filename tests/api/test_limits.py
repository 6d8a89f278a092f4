"""Resource limits over real HTTP on both stores: each is a clear 4xx problem, never a slow 200."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.limits import max_bbox_area
from api.ratelimit import TokenBuckets
from api.settings import Settings
from tests.api.conftest import Served, serve

PROBLEM = "application/problem+json"
SMALL = {"max_body_bytes": 2048, "max_import_bytes": 4096, "max_plan_steps": 3, "max_page_size": 50,
         "default_page_size": 10, "max_bbox_area_deg2": 0.5, "bbox_max_tiles": 4}


@pytest.fixture(scope="module")
def small(api_url) -> Iterator[Served]:
    """A server with small limits (no rate limit) over the same store as ``api_url``."""
    server = serve(api_url.database_url, Settings(database_url=api_url.database_url, rate_limit_per_s=0, **SMALL))
    yield next(server)
    server.close()


@pytest.fixture
def planner(small) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=small, headers=small.headers("planner"), timeout=30) as c:
        yield c


def _problem(r: httpx.Response, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["detail"]
    if field is not None:
        assert body["field"] == field, body
    return body


def test_a_declared_body_above_the_limit_is_refused_before_it_is_read(planner):
    plan = {"title": "x" * 300, "open": ["SW000003"] * 3, "window_start": None}
    small_body = planner.post("/api/v1/impact", json={"open": ["SW000003"]})
    assert small_body.status_code == 200
    big = planner.post("/api/v1/impact", json={**plan, "pad": "y" * 3000})
    body = _problem(big, 413, "Content-Length")
    assert "2048" in body["detail"]


def test_a_streamed_body_above_the_limit_is_refused(planner):
    def chunks():
        yield b'{"open": ["SW000003"], "title": "'
        for _ in range(40):
            yield b"z" * 100
        yield b'"}'

    r = planner.post("/api/v1/impact", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}  # really chunked
    body = _problem(r, 413)
    assert "2048" in body["detail"]

    def small_chunks():
        yield b'{"open": '
        yield b'["SW000003"]}'

    ok = planner.post("/api/v1/impact", content=small_chunks(), headers={"content-type": "application/json"})
    assert ok.status_code == 200, ok.text


def test_imports_have_their_own_body_limit(small):
    """Under /api/v1/imports/ the larger max_import_bytes applies (the route itself is added by
    the imports branch; until then the path is a 404 — after the body check passed)."""
    headers = {**small.headers("admin"), "content-type": "text/csv"}
    r = httpx.post(small + "/api/v1/imports/customers", content=b"a" * 3000, headers=headers)
    assert r.status_code != 413
    r = httpx.post(small + "/api/v1/imports/customers", content=b"a" * 5000, headers=headers)
    _problem(r, 413, "Content-Length")


def test_a_plan_with_too_many_steps_is_refused(planner):
    _problem(planner.post("/api/v1/impact", json={"open": ["SW000003", "SW000004"], "close": ["SW000010", "SW000011"]}),
             422, "steps")
    steps = [{"action": "open", "element": f"SW00000{i}"} for i in range(1, 5)]
    body = _problem(planner.post("/api/v1/impact", json={"steps": steps}), 422, "steps")
    assert "at most 3" in body["detail"] and body["value"] == 4
    _problem(planner.post("/api/v1/impact", json={"open": []}), 422, "open")


def test_page_size_is_bounded(planner):
    assert len(planner.get("/api/v1/layers/transformers").json()["features"]) == 10
    assert planner.get("/api/v1/layers/transformers", params={"limit": 50}).status_code == 200
    _problem(planner.get("/api/v1/layers/transformers", params={"limit": 51}), 422, "limit")


def test_bbox_area_is_bounded_per_zoom(planner):
    small_box = "113.10,23.00,113.15,23.05"  # 0.0025 square degrees
    assert max_bbox_area(10, Settings(**SMALL)) == pytest.approx(4 * (360 / 1024) ** 2)
    assert planner.get("/api/v1/layers/customers", params={"bbox": small_box, "zoom": 10}).status_code == 200
    assert planner.get("/api/v1/layers/customers", params={"bbox": small_box}).status_code == 200
    body = _problem(planner.get("/api/v1/layers/customers", params={"bbox": small_box, "zoom": 15}), 422, "bbox")
    assert "zoom 15" in body["detail"] and "zoom in" in body["detail"]
    _problem(planner.get("/api/v1/layers/customers", params={"bbox": "112.5,22.5,113.6,23.6"}), 422, "bbox")
    _problem(planner.get("/api/v1/layers/customers", params={"bbox": "113.2,23,113.1,23.1"}), 422, "bbox")


def test_unknown_paths_and_methods_are_problems(planner):
    _problem(planner.get("/api/v1/no-such-thing"), 404)
    r = planner.delete("/api/v1/layers")
    _problem(r, 405)
    assert "GET" in r.headers["allow"]


def test_the_rate_limit_per_key(api_url):
    server = serve(api_url.database_url, Settings(database_url=api_url.database_url, rate_limit_per_s=2, rate_limit_burst=3))
    base = next(server)
    try:
        analyst, planner = base.headers("analyst"), base.headers("planner")
        assert [httpx.get(base + "/api/v1/layers", headers=analyst).status_code for _ in range(3)] == [200] * 3
        r = httpx.get(base + "/api/v1/layers", headers=analyst)
        body = _problem(r, 429, "Authorization")
        assert int(r.headers["retry-after"]) >= 1
        assert body["value"] == base.keys["analyst"].split("_")[1]  # the key's prefix, never the key
        assert base.keys["analyst"] not in r.text
        assert httpx.get(base + "/api/v1/layers", headers=planner).status_code == 200  # per key
        assert httpx.get(base + "/health").status_code == 200  # probes are not limited
        time.sleep(0.6)  # two tokens a second: one is back
        assert httpx.get(base + "/api/v1/layers", headers=analyst).status_code == 200
    finally:
        server.close()


def test_map_tiles_have_their_own_bucket(api_url):
    """A panning map asks for many tiles at once: they draw on the tile bucket, not on the key's, and that
    bucket limits too (a runaway scraper still gets 429 naming the key's prefix)."""
    server = serve(api_url.database_url, Settings(database_url=api_url.database_url, rate_limit_per_s=2, rate_limit_burst=3,
                                                  tile_rate_limit_per_s=0.01, tile_rate_limit_burst=12))
    base = next(server)
    try:
        h = base.headers("dispatcher")
        info = httpx.get(base + "/api/v1/tiles/grid", headers=h)                 # 1 of the key's 3
        assert info.status_code == 200
        west, _, east, _ = info.json()["bounds"]
        z = 13
        x = int(((west + east) / 2 + 180) / 360 * (1 << z))
        assert [httpx.get(base + "/api/v1/layers", headers=h).status_code for _ in range(3)] == [200, 200, 429]
        # the key's bucket is empty; its tiles still come
        codes = [httpx.get(base + f"/api/v1/tiles/grid512/{z}/{x}/{y}", headers=h).status_code for y in range(3400, 3412)]
        assert codes == [200] * 12
        r = httpx.get(base + f"/api/v1/tiles/grid/{z}/{x}/3400", headers=h)       # the 13th tile: the tile bucket is empty
        body = _problem(r, 429, "Authorization")
        assert body["value"] == base.keys["dispatcher"].split("_")[1]
    finally:
        server.close()


def test_token_bucket_arithmetic():
    buckets = TokenBuckets(rate=10, burst=2)
    assert buckets.wait_time("k", now=0.0) == 0.0
    assert buckets.wait_time("k", now=0.0) == 0.0
    assert buckets.wait_time("k", now=0.0) == pytest.approx(0.1)
    assert buckets.wait_time("k", now=0.05) == pytest.approx(0.05)  # half a token refilled
    assert buckets.wait_time("k", now=0.2) == 0.0
    assert buckets.wait_time("other", now=0.2) == 0.0
    assert TokenBuckets(rate=0, burst=1).wait_time("k", now=0.0) == 0.0  # 0 turns limiting off


@given(rate=st.floats(0.5, 100), burst=st.integers(1, 20),
       gaps=st.lists(st.floats(0, 0.5), min_size=1, max_size=200))
@settings(max_examples=200, deadline=None)
def test_token_bucket_never_grants_more_than_burst_plus_rate_times_time(rate, burst, gaps):
    """In every window [t_i, t_j] a key gets at most burst + rate·(t_j − t_i) requests, and a
    refused request is told a positive wait; a request after that wait is granted."""
    buckets = TokenBuckets(rate=rate, burst=burst)
    times, granted = [], []
    now = 0.0
    for gap in gaps:
        now += gap
        wait = buckets.wait_time("k", now=now)
        times.append(now)
        granted.append(wait == 0.0)
        assert wait >= 0.0
    ok = [t for t, g in zip(times, granted) if g]
    for i in range(len(ok)):
        for j in range(i, len(ok)):
            assert j - i + 1 <= burst + rate * (ok[j] - ok[i]) + 1e-9
    retry = buckets.wait_time("k", now=now)
    if retry > 0:
        assert buckets.wait_time("k", now=now + retry + 1e-9) == 0.0


@pytest.mark.parametrize(("field", "value"), [
    ("max_plan_steps", 1001), ("max_bbox_area_deg2", 0), ("rate_limit_per_s", -1), ("max_body_bytes", 10),
    ("log_format", "xml"),
])
def test_limit_settings_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        Settings(**{field: value})
    with pytest.raises(ValueError, match="max_body_bytes must not exceed max_import_bytes"):
        Settings(max_body_bytes=10_000, max_import_bytes=5_000)


def test_an_unknown_query_parameter_is_named_not_ignored(client):
    r = client.get("/api/v1/layers/transformers", params={"limt": 5})
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "limt" and body["value"] == "5" and "limit" in body["detail"]
    assert client.get("/api/v1/layers/transformers", params={"limit": 5}).status_code == 200

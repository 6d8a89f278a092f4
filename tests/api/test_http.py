"""The HTTP API over real HTTP on both stores: health, layers, traces, validation, errors."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from tests.conftest import SAMPLE_DIR

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
FIRST = CUSTOMERS.iloc[0]


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "topology": "ok", "data_version": 1, "heat": "ok"}


def test_layer_is_geojson_with_paging_links(client):
    r = client.get("/api/v1/layers/transformers", params={"limit": 20})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == 58 and body["numberReturned"] == 20
    ids = [f["id"] for f in body["features"]]
    while nxt := next((link["href"] for link in body["links"] if link["rel"] == "next"), None):
        body = client.get(nxt).json()
        ids += [f["id"] for f in body["features"]]
    assert len(ids) == len(set(ids)) == 58
    geom = r.json()["features"][0]["geometry"]
    assert geom["type"] == "Point" and 112 < geom["coordinates"][0] < 114 and 22 < geom["coordinates"][1] < 24


def test_bbox_filters_customers(client):
    lon, lat = float(FIRST.lon), float(FIRST.lat)
    bbox = f"{lon - 1e-4},{lat - 1e-4},{lon + 1e-4},{lat + 1e-4}"
    body = client.get("/api/v1/layers/customers", params={"bbox": bbox}).json()
    assert FIRST.account_no in {f["id"] for f in body["features"]}
    assert all("phone" not in f["properties"] for f in body["features"])


def test_errors_are_problem_json_naming_field_and_value(client):
    r = client.get("/api/v1/layers/customers", params={"bbox": "113,23,oops"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "bbox" and r.json()["value"] == "113,23,oops"
    r = client.get("/api/v1/layers/customers", params={"limit": 999999})
    assert r.status_code == 422 and r.json()["field"] == "limit"
    r = client.get("/api/v1/layers/customers", params={"limit": 0})
    assert r.status_code == 422 and r.json()["field"] == "limit"
    r = client.get("/api/v1/layers/poles")
    assert r.status_code == 404 and r.json()["value"] == "poles"
    r = client.get("/api/v1/trace/customer/NOPE/upstream")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "NOPE" in r.json()["detail"]


def test_customer_supply_path_runs_to_the_substation(client):
    body = client.get(f"/api/v1/trace/customer/{FIRST.account_no}/upstream").json()
    kinds = [step["kind"] for step in body["path"]]
    assert body["path"][0] == {"kind": "customer", "id": FIRST.account_no}
    assert body["path"][1] == {"kind": "meter_box", "id": FIRST.meter_box_id}
    assert {"kind": "transformer", "id": FIRST.transformer_id} in body["path"]
    assert kinds[-1] == "substation"
    area = client.get(f"/api/v1/customers/{FIRST.account_no}/supply-area").json()
    assert area["transformer_id"] == FIRST.transformer_id and area["feeder_id"].startswith("F")


def test_validation_report_of_the_sample_is_clean(client):
    report = client.get("/api/v1/validation").json()
    assert report["data_version"] == 1
    assert not [f for f in report["findings"] if f["severity"] == "error"]


def test_map_and_vendor_assets_are_served_locally(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/map/"
    assert "leaflet" in client.get("/map/").text
    assert client.get("/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/vendor/leaflet.markercluster/leaflet.markercluster.js").status_code == 200
    heat = client.get("/vendor/leaflet.heat/leaflet-heat-global.js")   # npm ci (scripts/setup.sh), not a copy
    assert heat.status_code == 200 and "Leaflet.heat" in heat.text and "heatLayer" in heat.text


def test_a_missing_npm_package_is_a_clear_error_at_start_up(tmp_path, monkeypatch):
    """No map_ui/node_modules (setup.sh not run): the app and `gridatlas serve` refuse to start and say what
    to run, instead of serving a map whose heat layer 404s."""
    from typer.testing import CliRunner

    import map_ui.assets
    from api.app import create_app
    from api.cli import app as cli
    from api.settings import Settings
    from map_ui.assets import MissingVendorFiles, vendor_dirs

    with pytest.raises(MissingVendorFiles, match=r"leaflet\.heat.*does not exist; run scripts/setup\.sh"):
        vendor_dirs(tmp_path / "node_modules")
    monkeypatch.setattr(map_ui.assets, "NODE_MODULES", tmp_path / "node_modules")
    with pytest.raises(MissingVendorFiles, match="scripts/setup.sh"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.sqlite'}", environment="test"))
    result = CliRunner().invoke(cli, ["serve", "--database-url", f"sqlite:///{tmp_path / 'x.sqlite'}"])
    assert result.exit_code == 2
    assert "cannot serve the map" in result.output and "scripts/setup.sh" in result.output


def test_openapi_documents_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/ready", "/api/v1/layers/{layer}", "/api/v1/trace/{kind}/{element_id}/upstream"} <= set(paths)


def _tie(client):
    switches = client.get("/api/v1/layers/switches", params={"limit": 5000}).json()["features"]
    return next(f["properties"] for f in switches if f["properties"]["kind"] == "tie" and f["properties"]["normal_open"])


def test_impact_of_opening_a_feeder_head_equals_its_downstream_customers(client):
    feeders = client.get("/api/v1/layers/switches", params={"limit": 5000}).json()["features"]
    breaker = next(f["properties"]["id"] for f in feeders if f["properties"]["kind"] == "breaker")
    plan = {"open": [breaker], "window_start": "2026-12-01T09:00:00+08:00", "window_end": "2026-12-01T15:00:00+08:00"}
    r = client.post("/api/v1/impact", json=plan)
    assert r.status_code == 200, r.text
    body = r.json()
    down = client.get(f"/api/v1/trace/switch/{breaker}/downstream").json()
    assert body["customers"] == sorted(down["customers"]) and body["count"] == len(down["customers"]) > 0
    assert body["customer_minutes"] == body["count"] * 360
    assert sum(body["by_transformer"].values()) == body["count"]
    assert body["data_version"] == 1
    assert body["area"]["type"] in ("Polygon", "MultiPolygon")
    page = client.post("/api/v1/impact", params={"limit": 10, "area": "false"}, json=plan).json()
    assert "area" not in page and page["customers"] == body["customers"][:10] and page["count"] == body["count"]


def test_closing_a_tie_between_two_energized_feeders_is_refused(client):
    tie = _tie(client)
    r = client.post("/api/v1/impact", json={"close": [tie["id"]]})
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"


def test_impact_rejects_unknown_fields_and_ids(client):
    r = client.post("/api/v1/impact", json={"open": ["SW000001"], "colour": "red"})
    assert r.status_code == 422 and r.json()["field"] == "colour"
    r = client.post("/api/v1/impact", json={"open": ["SW999999"]})
    assert r.status_code == 404 and "SW999999" in r.json()["detail"]
    r = client.post("/api/v1/impact", json={"close": ["SW000001"]})
    assert r.status_code == 422 and "closed" in r.json()["detail"]


def test_isolation_offers_ranked_alternatives(client):
    segments = client.get("/api/v1/layers/segments", params={"limit": 5000}).json()["features"]
    seg = next(f["properties"]["id"] for f in segments if f["properties"]["kind"] != "lv_cable")
    r = client.post("/api/v1/isolation", json={"element": seg})
    assert r.status_code == 200, r.text
    assert r.json()["alternatives"]


def test_a_new_data_version_is_served_without_a_restart(city_store_url, tmp_path):
    """A load while the server runs: the topology is recompiled and swapped, requests keep working."""
    import time

    import httpx

    from api.settings import Settings
    from gis.db import make_engine
    from loaders.city import import_city
    from loaders.sample_city import generate_city
    from tests.api.conftest import serve
    from tests.conftest import SERVICE_AREA

    url = city_store_url
    server = serve(url, Settings(database_url=url, reload_interval_s=0.2))
    base = next(server)
    try:
        auth = base.headers("dispatcher")
        assert httpx.get(base + "/ready").json()["checks"]["data_version"] == 1
        before = httpx.get(base + "/api/v1/layers/customers", params={"limit": 1}, headers=auth).json()["numberMatched"]
        city = tmp_path / "more"
        generate_city(city, customers=300, seed=99)
        engine = make_engine(url)
        import_city(engine, city, service_area=SERVICE_AREA)
        engine.dispose()
        deadline = time.monotonic() + 30
        while httpx.get(base + "/ready").json()["checks"]["data_version"] != 2:
            assert time.monotonic() < deadline, "the server never picked up data version 2"
            assert httpx.get(base + "/health").status_code == 200
            time.sleep(0.1)
        new_customer = (city / "customers.csv").read_text(encoding="utf-8").splitlines()[1].split(",")[0]
        assert httpx.get(base + f"/api/v1/customers/{new_customer}/supply-area", headers=auth).status_code == 200
        assert httpx.get(base + "/api/v1/layers/customers", params={"limit": 1}, headers=auth).json()["numberMatched"] > before
    finally:
        server.close()


def test_the_api_denies_by_default(anonymous, client_as):
    r = anonymous.get("/api/v1/layers/transformers")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "Authorization"
    r = anonymous.get("/api/v1/layers", headers={"Authorization": "Bearer ga_00000000_forged"})
    assert r.status_code == 401
    assert anonymous.get("/health").status_code == 200  # liveness and readiness stay open to probes
    r = client_as("agent").post("/api/v1/isolation", json={"element": "SEG000001"})
    assert r.status_code == 403 and r.json()["value"] == "agent"
    assert client_as("admin").get("/api/v1/layers").status_code == 200


def test_large_json_is_gzipped_for_clients_that_accept_it_and_small_is_not(api_url):
    import gzip
    import json

    h = api_url.headers("dispatcher")
    with httpx.Client(base_url=api_url, timeout=30) as c:
        big = c.get("/api/v1/layers/segments", params={"limit": 2000}, headers={**h, "Accept-Encoding": "gzip"})
        assert big.status_code == 200 and big.headers.get("content-encoding") == "gzip"
        raw = c.build_request("GET", "/api/v1/layers/segments", params={"limit": 2000},
                              headers={**h, "Accept-Encoding": "gzip"})
        body = c.send(raw, stream=True)
        compressed = b"".join(body.iter_raw())
        assert len(compressed) * 3 < len(big.content)          # it really is smaller on the wire
        assert json.loads(gzip.decompress(compressed)) == big.json()
        plain = c.get("/api/v1/layers/segments", params={"limit": 2000}, headers={**h, "Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.json() == big.json()
        small = c.get("/api/v1/me", headers={**h, "Accept-Encoding": "gzip"})
        assert "content-encoding" not in small.headers

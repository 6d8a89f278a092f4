"""Interactions in, heat and hotspots out, over real HTTP on both stores; texts and phones masked per role."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd

from tests.conftest import SAMPLE_DIR

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
A = CUSTOMERS.iloc[0]
GRIDATLAS = str(Path(sys.executable).with_name("gridatlas"))
YEAR = {"from": "2031-01-01", "to": "2031-12-31"}


def _rec(i: str, **kw) -> dict:
    return {"id": i, "channel": "95598电话", "kind": "投诉", "occurred_at": "2031-05-01T10:00:00+08:00",
            "text": "投诉：又停电了", **kw}


def test_post_one_and_a_batch_idempotent_all_or_nothing(api_url, client_as):
    agent = client_as("agent")
    r = agent.post("/api/v1/interactions", json=_rec("HTTP1", account_no=A.account_no, caller_phone=A.phone))
    assert r.status_code == 200, r.text
    assert r.json() | {"matched": None} == {"received": 1, "inserted": 1, "updated": 0, "unchanged": 0,
                                             "rejected_rows": 0, "matched": None}
    batch = [_rec("HTTP1", account_no=A.account_no, caller_phone=A.phone), _rec("HTTP2", account_no=A.account_no)]
    assert agent.post("/api/v1/interactions", json=batch).json()["unchanged"] == 1
    bad = [_rec("HTTP3"), _rec("HTTP4", occurred_at="yesterday"), _rec("HTTP5", lon=100.0, lat=30.0)]
    r = agent.post("/api/v1/interactions", json=bad)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (body["field"], body["value"], body["row"]) == ("occurred_at", "yesterday", 2)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "occurred_at"), (3, "lon,lat")]
    r = agent.post("/api/v1/interactions", json=_rec("HTTP7", channel="抖音"))  # the schema knows the channels
    assert r.status_code == 422 and r.json()["field"].endswith("channel")
    assert client_as("admin").get("/api/v1/heat/areas/transformer/" + A.transformer_id + "/interactions",
                                  params=YEAR).json()["count"] == 2  # HTTP3 was not stored
    assert client_as("analyst").post("/api/v1/interactions", json=_rec("HTTP6")).status_code == 403


def test_upload_gbk_csv_and_xlsx_with_rejects(api_url, client_as):
    admin = client_as("admin")
    csv = ("工单编号,户号,渠道,类型,受理时间,受理内容,来电号码,经度,纬度\n"
           f"UP1,{A.account_no},微信,投诉,2031-06-01 08:00:00,电压低,,,\n"
           "UP2,,掌厅,报修,2031-06-02T08:00:00+08:00,停电,,113.1,23.0\n"
           "UP3,,微信,催费,2031-06-03T08:00:00+08:00,,,,\n").encode("gbk")
    r = admin.post("/api/v1/imports/interactions", files={"file": ("工单.csv", csv, "text/csv")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["inserted"], body["rejected_rows"], body["encoding"]) == (2, 1, "gb18030")
    assert body["rejects"] == [{"source_file": "工单.csv", "layer": "", "row": 4, "id": "UP3", "field": "类型 (kind)",
                                "value": "催费", "reason": body["rejects"][0]["reason"]}]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "account_no", "channel", "kind", "occurred_at", "text"])
    ws.append(["XL1", A.account_no, "营业厅", "意见", "2031-07-01 09:00:00", "好"])
    buf = io.BytesIO()
    wb.save(buf)
    r = admin.post("/api/v1/imports/interactions", files={"file": ("a.xlsx", buf.getvalue(), "application/octet-stream")})
    assert r.status_code == 200 and r.json()["inserted"] == 1, r.text
    r = admin.post("/api/v1/imports/interactions", files={"file": ("a.csv", "名字\n张三\n".encode(), "text/csv")})
    assert r.status_code == 422 and "no column for id" in r.json()["detail"]
    assert client_as("agent").post("/api/v1/imports/interactions", files={"file": ("a.csv", csv, "text/csv")}).status_code == 403


def test_heat_json_geojson_and_hotspots(api_url, client_as):
    analyst = client_as("analyst")
    client_as("agent").post("/api/v1/interactions", json=[_rec(f"HEAT{i}", account_no=A.account_no) for i in range(3)])
    r = analyst.get("/api/v1/heat", params={**YEAR, "by": "transformer", "kinds": "投诉"})
    assert r.status_code == 200, r.text
    body = r.json()
    areas = {a["id"]: a for a in body["areas"]}
    assert len(areas) == CUSTOMERS["transformer_id"].nunique()
    assert areas[A.transformer_id]["count"] >= 3
    assert areas[A.transformer_id]["customers"] == (CUSTOMERS["transformer_id"] == A.transformer_id).sum()
    geo = analyst.get("/api/v1/heat", params={**YEAR, "by": "cell", "zoom": 13}, headers={"Accept": "application/geo+json"})
    assert geo.headers["content-type"] == "application/geo+json"
    feature = geo.json()["features"][0]
    assert feature["geometry"]["type"] == "Polygon" and len(feature["geometry"]["coordinates"][0]) == 7
    assert geo.json()["res"] == 8
    same = analyst.get("/api/v1/heat", params={**YEAR, "by": "feeder", "format": "geojson"})
    assert same.headers["content-type"] == "application/geo+json"
    # the choropleth's breaks are the city's, in JSON and GeoJSON, whatever the bbox
    mine = areas[A.transformer_id]
    assert body["breaks"] and mine["rate"] <= body["breaks"][-1]
    box = f"{mine['lon'] - 0.001},{mine['lat'] - 0.001},{mine['lon'] + 0.001},{mine['lat'] + 0.001}"
    view = analyst.get("/api/v1/heat", params={**YEAR, "by": "transformer", "kinds": "投诉", "bbox": box}).json()
    assert len(view["areas"]) < len(areas) and view["breaks"] == body["breaks"]
    view_geo = analyst.get("/api/v1/heat", params={**YEAR, "by": "transformer", "kinds": "投诉", "bbox": box, "format": "geojson"})
    assert view_geo.json()["breaks"] == body["breaks"]
    r = analyst.get("/api/v1/heat", params={**YEAR, "by": "transformer", "kinds": "催费"})
    assert r.status_code == 422 and r.json()["field"] == "kinds"
    r = analyst.get("/api/v1/hotspots", params={**YEAR, "by": "transformer", "all": "true"})
    assert r.status_code == 200, r.text
    hot = r.json()
    assert hot["inputs"]["areas"] == len(areas) and {"id", "z", "p", "count", "customers", "hot"} <= set(hot["areas"][0])
    assert client_as("agent").get("/api/v1/heat", params={**YEAR, "by": "transformer"}).status_code == 403


def test_vocabulary_and_hotspot_outlines_for_the_map(api_url, client_as):
    """The map's filters come from /heat/vocabulary; /hotspots as GeoJSON outlines each area with the same
    shape /heat draws it with, and lists the same areas as the JSON answer."""
    from gis.models import CHANNELS, INTERACTION_KINDS

    analyst = client_as("analyst")
    vocab = analyst.get("/api/v1/heat/vocabulary").json()
    assert (vocab["channels"], vocab["kinds"], vocab["by"]) == (list(CHANNELS), list(INTERACTION_KINDS), ["cell", "transformer", "feeder"])
    assert vocab["timezone"] == "Asia/Shanghai" and vocab["hotspot_alpha"] == 0.05 and 9 in vocab["resolutions"]
    assert client_as("agent").get("/api/v1/heat/vocabulary").status_code == 403
    period = {"from": "2025-11-01", "to": "2026-10-31", "all": "true"}
    for by, extra in (("transformer", {}), ("cell", {"zoom": 13})):
        plain = analyst.get("/api/v1/hotspots", params={**period, "by": by, **extra}).json()
        geo = analyst.get("/api/v1/hotspots", params={**period, "by": by, **extra, "format": "geojson"})
        assert geo.status_code == 200 and geo.headers["content-type"] == "application/geo+json"
        body = geo.json()
        assert body["type"] == "FeatureCollection" and body["inputs"] == plain["inputs"]
        assert [f["properties"] | {"by": None} for f in body["features"]] == [a | {"by": None} for a in plain["areas"]]
        shapes = {f["id"]: f["geometry"] for f in analyst.get(
            "/api/v1/heat", params={"from": period["from"], "to": period["to"], "by": by, **extra, "format": "geojson"}).json()["features"]}
        assert body["features"] and all(f["geometry"] == shapes[f["id"]] and f["geometry"]["type"] == "Polygon" for f in body["features"])
    exact = analyst.get("/api/v1/heat", params={"from": period["from"], "to": period["to"], "by": "transformer", "format": "geojson"}).json()
    coarse = analyst.get("/api/v1/heat", params={"from": period["from"], "to": period["to"], "by": "transformer", "format": "geojson",
                                                 "simplify": 0.0005}).json()
    assert [f["properties"] for f in coarse["features"]] == [f["properties"] for f in exact["features"]]   # same numbers
    vertices = [sum(len(f["geometry"]["coordinates"][0]) for f in b["features"]) for b in (exact, coarse)]
    assert vertices[1] < vertices[0], vertices
    assert all(f["geometry"]["type"] == "Polygon" for f in coarse["features"])
    r = analyst.get("/api/v1/heat", params={"from": period["from"], "to": period["to"], "by": "transformer", "simplify": 1})
    assert r.status_code == 422 and "simplify" in r.text


def test_area_interactions_are_masked_per_role(api_url, client_as):
    client_as("agent").post("/api/v1/interactions", json=_rec("MASK1", account_no=A.account_no, caller_phone="13812345678"))
    path = f"/api/v1/heat/areas/transformer/{A.transformer_id}/interactions"
    seen = {}
    for role in ("analyst", "planner", "dispatcher", "admin"):
        r = client_as(role).get(path, params={**YEAR, "limit": 50})
        assert r.status_code == 200, r.text
        seen[role] = {d["id"]: d for d in r.json()["data"]}["MASK1"]
    assert seen["analyst"]["caller_phone"] == "138****5678" and "text" not in seen["analyst"]
    assert "text" not in seen["planner"]
    assert seen["dispatcher"]["caller_phone"] == "13812345678" and seen["dispatcher"]["text"] == "投诉：又停电了"
    page = client_as("analyst").get(path, params={**YEAR, "limit": 1}).json()
    assert page["count"] > 1 and "offset=1" in page["next"]
    assert client_as("analyst").get("/api/v1/heat/areas/cell/nope/interactions", params=YEAR).status_code == 422


def _run(*args: str, db: str) -> subprocess.CompletedProcess:
    return subprocess.run([GRIDATLAS, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GRIDATLAS_DATABASE_URL": db})


def test_cli_import_exit_codes_heat_and_hotspots(tmp_path, city_store_url):
    good = tmp_path / "in.csv"
    good.write_text("id,account_no,channel,kind,occurred_at,text,caller_phone,lon,lat\n"
                    f"C1,{A.account_no},微信,投诉,2031-02-01T08:00:00+08:00,停电,,,\n", encoding="utf-8")
    r = _run("interactions", "import", str(good), db=city_store_url)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text(encoding="utf-8") + "C2,,微信,投诉,yesterday,,,,\n", encoding="utf-8")
    r = _run("interactions", "import", str(bad), "--rejects", str(tmp_path / "rej.csv"), db=city_store_url)
    assert r.returncode == 3, r.stderr
    report = (tmp_path / "rej.csv").read_text(encoding="utf-8-sig")
    assert "C2" in report and "occurred_at" in report and "yesterday" in report
    nonsense = tmp_path / "x.csv"
    nonsense.write_text("a,b\n1,2\n", encoding="utf-8")
    assert _run("interactions", "import", str(nonsense), db=city_store_url).returncode == 2
    r = _run("heat", "--from", "2031-01-01", "--to", "2031-12-31", "--by", "transformer", "--kinds", "投诉", "--json",
             db=city_store_url)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert {a["id"]: a["count"] for a in body["areas"]}[A.transformer_id] == 1
    r = _run("hotspots", "--from", "2025-11-01", "--to", "2026-11-01", "--by", "transformer", "--json", db=city_store_url)
    assert r.returncode == 0, r.stderr
    assert "inputs" in json.loads(r.stdout)
    r = _run("interactions", "rebuild-rollups", "--place", db=city_store_url)
    assert r.returncode == 0 and "rollups rebuilt" in r.stderr, r.stderr
    r2 = _run("heat", "--from", "2031-01-01", "--to", "2031-12-31", "--by", "transformer", "--kinds", "投诉", "--json",
              db=city_store_url)
    assert json.loads(r2.stdout)["areas"] == body["areas"]


def test_a_new_data_version_warms_the_heat_data_in_the_background(api_url):
    """Every rollup (台区, feeders, the cells of each resolution) and the heat areas are read before anyone
    asks (Settings.heat_prewarm), so the map's first heat view at any zoom does not wait for them; with the
    setting off nothing is read."""
    import time

    from api.app import create_app
    from api.settings import Settings
    from tests.api.conftest import serve

    for prewarm in (True, False):
        app = create_app(Settings(database_url=api_url.database_url, heat_prewarm=prewarm, rate_limit_per_s=0,
                                  outbox_worker_in_serve=False))
        server = serve(api_url.database_url, app=app)
        next(server)
        try:
            deadline = time.monotonic() + 20
            every = {("transformer", None), ("feeder", None), ("cell", 6), ("cell", 7), ("cell", 8), ("cell", 9)}
            warmed = lambda: every <= set(app.state.heat_cubes._cubes)  # noqa: E731
            while prewarm and not warmed() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            assert warmed() is prewarm
            assert (app.state.topology.snapshot.heat_areas._value is not None) is prewarm
            assert app.state.heat_cubes.stats["full_reads"] == (1 if prewarm else 0)  # the rollup's rows, once
            assert app.state.heat_cubes.stats["derived"] == (6 if prewarm else 0)  # every view summed from them
        finally:
            server.close()
